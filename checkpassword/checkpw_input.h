/* checkpw_input.h - the checkpassword interface's input: descriptor 3 read to its end, "login\0password\0timestamp\0", and the exit statuses. */
#ifndef OSD_CHECKPW_INPUT_H
#define OSD_CHECKPW_INPUT_H

#include <stddef.h>

/*
 * The checkpassword interface (cr.yp.to/checkpwd/interface.html): the
 * caller (qmail-popup) writes a login name, a password and a timestamp,
 * each ended by \0, "and possibly more data", at most 512 bytes, on
 * descriptor 3; checkpassword reads it through end of file, closes it,
 * and runs the program named by its arguments when the password is
 * acceptable.
 */
#define CHECKPW_INPUT_MAX 512

/* The interface's exit statuses (0 is the next program's own). */
enum checkpw_exit {
	CHECKPW_EXIT_BAD = 1,           /* the login is refused */
	CHECKPW_EXIT_MISUSE = 2,        /* not called as the interface says */
	CHECKPW_EXIT_TEMP = 111         /* could not tell: try again later */
};

/* What reading and parsing descriptor 3 found. */
enum checkpw_input_result {
	CHECKPW_INPUT_OK = 0,
	CHECKPW_INPUT_NOT_OPEN,         /* descriptor 3 is not open: run by hand */
	CHECKPW_INPUT_READ_ERROR,       /* read(2) failed otherwise */
	CHECKPW_INPUT_TOO_LONG,         /* more than CHECKPW_INPUT_MAX bytes */
	CHECKPW_INPUT_NO_LOGIN_END,     /* no \0 after the login name (empty input too) */
	CHECKPW_INPUT_NO_PASSWORD_END   /* no \0 after the password */
};

/*
 * The three fields, pointing into the buffer checkpw_input_parse was
 * given.  The login and the password may be empty (the interface sets no
 * rule on their form; an empty one is a refused login, not a misuse).
 */
struct checkpw_input {
	const char *login;
	const char *password;
	const char *timestamp;          /* "" when the caller sent none */
};

/*
 * Read fd through end of file into buf (CHECKPW_INPUT_MAX + 1 octets),
 * then close fd (whatever the outcome, so that the next program never
 * inherits it).  EINTR is retried.  CHECKPW_INPUT_OK with *len_r the
 * octets read, else NOT_OPEN, READ_ERROR (errno kept) or TOO_LONG (the
 * rest is not read).
 */
enum checkpw_input_result checkpw_input_read(int fd, char *buf, size_t *len_r);

/*
 * Split the len octets of buf (len <= CHECKPW_INPUT_MAX; buf must have
 * room for len + 1 octets) into *in_r.  The login and the password must
 * each end with \0 within len; the timestamp is what follows, up to its
 * own \0 or the end (then buf[len] is set to \0), as the reference
 * checkpassword takes it; more data after it is ignored.  Pure: no I/O.
 */
enum checkpw_input_result checkpw_input_parse(char *buf, size_t len, struct checkpw_input *in_r);

/* The exit status a result stands for (CHECKPW_INPUT_OK: 0). */
int checkpw_input_exit(enum checkpw_input_result r);

/* A few words on a result, for the log line ("no \0 after the password"). */
const char *checkpw_input_why(enum checkpw_input_result r);

#endif
