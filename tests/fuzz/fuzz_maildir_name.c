/* fuzz_maildir_name.c - fuzz target: Maildir file names (lib/util/maildir_name.c): the unique part, the ,S= size, the seen name, and imapd's info letters. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_uidlist.h"
#include "maildir_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A name longer than NAME_MAX cannot be in a folder. */
#define NAME_LEN_MAX 255

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[NAME_LEN_MAX + 1], seen[NAME_LEN_MAX + 8];
	size_t len = size > NAME_LEN_MAX ? NAME_LEN_MAX : size, blen;
	uint64_t whole, base;
	int r;

	memcpy(name, data, len);
	name[len] = '\0';
	len = strlen(name);
	blen = maildir_name_base_len(name);
	if (blen > len || (blen < len && name[blen] != ':'))
		abort();
	/* A size in the unique part is the size of the whole name, as the readers differ in what they pass. */
	if (maildir_name_size(name, blen, &base) &&
	    (!maildir_name_size(name, len, &whole) || whole != base))
		abort();
	r = maildir_name_seen(name, size > 0 && (data[size - 1] & 1) != 0, seen,
			      sizeof(seen));
	if (r == 0) {
		/* The unique part is kept; the info is "2," with S among ordered flags. */
		size_t sblen = maildir_name_base_len(seen);

		if (sblen != blen || memcmp(seen, name, blen) != 0 ||
		    strncmp(seen + sblen, ":2,", 3) != 0 || strchr(seen + sblen + 3, 'S') == NULL)
			abort();
	} else if (r != 1 && r != -1) {
		abort();
	}
	if (blen < len)
		(void)imap_uidlist_letters_bits(name + blen + 1, len - blen - 1);
	return 0;
}
