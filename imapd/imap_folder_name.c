/* imap_folder_name.c - IMAP mailbox names (modified UTF-7, Maildir++ '.' hierarchy) checked and mapped to folder paths. */
#include "imap_folder_name.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "path.h"

/* One "&...-" run of modified UTF-7 at p (after '&'): its length up to and with '-', 0 when invalid. */
static size_t
mutf7_run(const char *p)
{
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0;
	size_t i, units = 0;

	for (i = 0; p[i] != '-'; i++) {
		int v = base64_value((unsigned char)p[i], ','); /* modified BASE64 (RFC 3501 section 5.1.3) */

		if (v < 0)
			return 0;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits >= 16) {
			uint32_t u = (bits >> (nbits - 16)) & 0xffff;

			nbits -= 16;
			bits &= (1u << nbits) - 1;
			units++;
			/* UTF-16: a high surrogate then a low one; printable ASCII is never encoded. */
			if (high != 0) {
				if (u < 0xdc00 || u > 0xdfff)
					return 0;
				high = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				high = u;
			} else if ((u >= 0xdc00 && u <= 0xdfff) || (u >= 0x20 && u <= 0x7e)) {
				return 0;
			}
		}
	}
	/* Not empty ("&-" is '&' itself), no half character, padding bits zero. */
	if (units == 0 || high != 0 || nbits >= 6 || bits != 0)
		return 0;
	return i + 1;
}

bool
imap_folder_name_ok(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > IMAP_FOLDER_NAME_MAX)
		return false;
	if (name[0] == '.' || name[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c >= 0x7f || c == '/')
			return false;
		if (c == '.' && name[i + 1] == '.')
			return false;
		if (c == '&') {
			size_t run;

			if (name[i + 1] == '-') {
				i++;
				continue;
			}
			run = mutf7_run(name + i + 1);
			if (run == 0)
				return false;
			i += run;
		}
	}
	return true;
}

int
imap_folder_dir(const char *root, const char *name, char *out, size_t size)
{
	if (!imap_folder_name_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	if (strcasecmp(name, "INBOX") == 0)
		return path_fmt(out, size, "%s", root);
	return path_fmt(out, size, "%s/.%s", root, name);
}
