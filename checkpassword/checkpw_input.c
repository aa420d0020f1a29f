/* checkpw_input.c - the checkpassword interface's input on descriptor 3: read through end of file, split into login, password and timestamp. */
#include "checkpw_input.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

enum checkpw_input_result
checkpw_input_read(int fd, char *buf, size_t *len_r)
{
	enum checkpw_input_result r = CHECKPW_INPUT_OK;
	size_t len = 0;
	ssize_t n;
	int saved;

	*len_r = 0;
	/*
	 * One octet past the limit is room enough to tell "too long"; the
	 * rest is left unread (the writer sees its pipe closed).
	 */
	for (;;) {
		n = read(fd, buf + len, CHECKPW_INPUT_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = errno == EBADF ? CHECKPW_INPUT_NOT_OPEN : CHECKPW_INPUT_READ_ERROR;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CHECKPW_INPUT_MAX) {
			r = CHECKPW_INPUT_TOO_LONG;
			break;
		}
	}
	saved = errno;
	if (r != CHECKPW_INPUT_NOT_OPEN)
		close(fd);
	errno = saved;
	if (r == CHECKPW_INPUT_OK)
		*len_r = len;
	return r;
}

enum checkpw_input_result
checkpw_input_parse(char *buf, size_t len, struct checkpw_input *in_r)
{
	const char *login_end, *password_end;

	*in_r = (struct checkpw_input){ .login = "", .password = "", .timestamp = "" };
	if (len > CHECKPW_INPUT_MAX)
		return CHECKPW_INPUT_TOO_LONG;
	if ((login_end = memchr(buf, '\0', len)) == NULL)
		return CHECKPW_INPUT_NO_LOGIN_END;
	password_end = memchr(login_end + 1, '\0', len - (size_t)(login_end + 1 - buf));
	if (password_end == NULL)
		return CHECKPW_INPUT_NO_PASSWORD_END;
	/*
	 * The timestamp need not end with \0 (the reference checkpassword
	 * reads no further than the password's end): end it here.
	 */
	buf[len] = '\0';
	*in_r = (struct checkpw_input){ .login = buf, .password = login_end + 1,
					.timestamp = password_end + 1 };
	return CHECKPW_INPUT_OK;
}

int
checkpw_input_exit(enum checkpw_input_result r)
{
	switch (r) {
	case CHECKPW_INPUT_OK:
		return 0;
	case CHECKPW_INPUT_READ_ERROR:
		return CHECKPW_EXIT_TEMP;
	case CHECKPW_INPUT_NOT_OPEN:
	case CHECKPW_INPUT_TOO_LONG:
	case CHECKPW_INPUT_NO_LOGIN_END:
	case CHECKPW_INPUT_NO_PASSWORD_END:
		break;
	}
	return CHECKPW_EXIT_MISUSE;
}

const char *
checkpw_input_why(enum checkpw_input_result r)
{
	switch (r) {
	case CHECKPW_INPUT_OK:
		return "ok";
	case CHECKPW_INPUT_NOT_OPEN:
		return "descriptor 3 is not open (checkpassword is run by qmail-popup, not by hand)";
	case CHECKPW_INPUT_READ_ERROR:
		return "cannot read descriptor 3";
	case CHECKPW_INPUT_TOO_LONG:
		return "more than 512 bytes on descriptor 3";
	case CHECKPW_INPUT_NO_LOGIN_END:
		return "no \\0 after the login name on descriptor 3";
	case CHECKPW_INPUT_NO_PASSWORD_END:
		return "no \\0 after the password on descriptor 3";
	}
	return "?";
}
