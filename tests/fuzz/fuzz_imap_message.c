/* fuzz_imap_message.c - fuzz target: any octets make a message whose ENVELOPE, BODYSTRUCTURE, sections and search neither crash nor disagree. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const sections[] = {
	"HEADER", "TEXT", "1", "1.MIME", "1.HEADER", "1.TEXT", "2", "2.1", "2.MIME", "1.1.1",
	"2.HEADER.FIELDS (SUBJECT FROM)", "HEADER.FIELDS (CONTENT-TYPE)",
	"HEADER.FIELDS.NOT (SUBJECT)", "3.2.1.TEXT",
};

/* The sections must stay inside the message: a part is never longer than the whole. */
static void
check_sections(struct imap_message *m, size_t whole)
{
	struct buf out, head, text;
	const char *error;

	buf_init(&head, 0);
	buf_init(&text, 0);
	if (imap_message_section(m, "HEADER", &head, &error) < 0 ||
	    imap_message_section(m, "TEXT", &text, &error) < 0 || head.len + text.len != whole)
		abort();
	buf_free(&head);
	buf_free(&text);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		buf_init(&out, 0);
		if (imap_message_section(m, sections[i], &out, &error) < 0)
			abort();
		/* HEADER.FIELDS adds the empty line */
		if (out.len > whole + 2)
			abort();
		buf_free(&out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialized;
	struct imap_message *m;
	struct buf out;
	size_t len;
	time_t when;
	int tz;

	if (!initialized) {
		imap_message_init();
		atexit(imap_message_shutdown);
		initialized = true;
	}
	m = imap_message_new((const char *)data, size);
	if (m == NULL)
		abort();
	imap_message_data(m, &len);
	if (len != imap_message_crlf_size((const char *)data, size))
		abort();
	buf_init(&out, 0);
	imap_message_envelope(m, &out);
	buf_reset(&out);
	check_sections(m, len);
	imap_message_bodystructure(m, true, &out);
	buf_reset(&out);
	imap_message_bodystructure(m, false, &out);
	buf_free(&out);
	(void)imap_message_header_has(m, "subject", "a");
	(void)imap_message_text_has(m, "\xc3\xa9t", true);
	(void)imap_message_sent_date(m, &when, &tz);
	imap_message_free(m);
	return 0;
}
