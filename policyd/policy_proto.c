/* policy_proto.c - the Postfix policy delegation protocol: the request's framing and attributes, and the reply. */
#include "policy_proto.h"

#include <string.h>

int
policy_scan(struct policy_scan *scan, const char *data, size_t len, size_t *end_r,
	    const char **error_r)
{
	size_t i;

	for (i = scan->pos; i < len; i++) {
		if (data[i] == '\0') {
			*error_r = "NUL octet in request";
			return -1;
		}
		if (data[i] != '\n') {
			if (i - scan->line_start >= POLICY_LINE_MAX) {
				*error_r = "line too long";
				return -1;
			}
			continue;
		}
		/* "\n" where a line starts: the empty line that ends the request. */
		if (i == scan->line_start) {
			*end_r = i + 1;
			scan->pos = scan->line_start = 0;
			return 1;
		}
		/* Found here already, so that a client speaking something else (CRLF lines: its
		 * "\r\n" never makes an empty line) is refused now, not at the timeout. */
		if (memchr(data + scan->line_start, '=', i - scan->line_start) == NULL) {
			*error_r = "line without '='";
			return -1;
		}
		scan->line_start = i + 1;
		if (i + 1 >= POLICY_REQUEST_MAX) {
			*error_r = "request too long";
			return -1;
		}
	}
	scan->pos = len;
	if (len >= POLICY_REQUEST_MAX) {
		*error_r = "request too long";
		return -1;
	}
	return 0;
}

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* Copy value into out (size > 0) for a log line: printable ASCII, the rest '?', cut to fit. */
static void
copy_printable(char *out, size_t size, const char *value, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < size; i++)
		out[i] = (unsigned char)value[i] >= 0x20 && (unsigned char)value[i] < 0x7f ? value[i] : '?';
	out[i] = '\0';
}

static bool
attr_is(const char *name, size_t namelen, const char *want)
{
	return namelen == strlen(want) && memcmp(name, want, namelen) == 0;
}

/* One name=value line (without its "\n"); 0, or -1 with *error_r. */
static int
parse_attr(const char *line, size_t len, struct policy_request *req, const char **error_r)
{
	const char *eq = memchr(line, '=', len), *value;
	size_t namelen, valuelen, i;
	char text[IPADDR_TEXT_MAX];

	if (eq == NULL) {
		*error_r = "line without '='";
		return -1;
	}
	namelen = (size_t)(eq - line);
	if (namelen == 0 || namelen > POLICY_NAME_MAX) {
		*error_r = namelen == 0 ? "empty attribute name" : "attribute name too long";
		return -1;
	}
	for (i = 0; i < namelen; i++)
		if (!name_char(line[i])) {
			*error_r = "bad character in attribute name";
			return -1;
		}
	value = eq + 1;
	valuelen = len - namelen - 1;
	if (attr_is(line, namelen, "request")) {
		if (req->has_request) {
			*error_r = "request given twice";
			return -1;
		}
		req->has_request = true;
		req->access_policy = valuelen == 19 && memcmp(value, "smtpd_access_policy", 19) == 0;
	} else if (attr_is(line, namelen, "client_address")) {
		if (req->has_client) {
			*error_r = "client_address given twice";
			return -1;
		}
		req->has_client = true;
		copy_printable(req->client_text, sizeof req->client_text, value, valuelen);
		/* Only the address itself: no brackets, no port, no zone (ipaddr_parse). */
		if (valuelen > 0 && valuelen < sizeof text) {
			memcpy(text, value, valuelen);
			text[valuelen] = '\0';
			req->client_ok = ipaddr_parse(text, &req->client) == 0;
		}
	} else if (attr_is(line, namelen, "protocol_state")) {
		copy_printable(req->protocol_state, sizeof req->protocol_state, value, valuelen);
	}
	return 0;
}

int
policy_parse(const char *data, size_t len, struct policy_request *req, const char **error_r)
{
	size_t pos = 0;

	memset(req, 0, sizeof *req);
	if (len == 0 || data[len - 1] != '\n') {
		*error_r = "request not ended by an empty line";
		return -1;
	}
	len--;  /* the empty line */
	if (len == 0) {
		*error_r = "empty request";
		return -1;
	}
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t linelen;

		if (nl == NULL) {
			*error_r = "request not ended by an empty line";
			return -1;
		}
		linelen = (size_t)(nl - (data + pos));
		if (linelen == 0) {
			*error_r = "empty line inside the request";
			return -1;
		}
		if (linelen > POLICY_LINE_MAX) {
			*error_r = "line too long";
			return -1;
		}
		if (memchr(data + pos, '\0', linelen) != NULL) {
			*error_r = "NUL octet in request";
			return -1;
		}
		if (++req->nattrs > POLICY_ATTRS_MAX) {
			*error_r = "too many attributes";
			return -1;
		}
		if (parse_attr(data + pos, linelen, req, error_r) == -1)
			return -1;
		pos += linelen + 1;
	}
	return 0;
}

int
policy_reply(struct buf *out, const char *action)
{
	/* SMTPD_POLICY_README: one name=value attribute, ended by an empty line. */
	if (buf_append(out, "action=", 7) == -1 || buf_append_str(out, action) == -1 ||
	    buf_append(out, "\n\n", 2) == -1)
		return -1;
	return 0;
}
