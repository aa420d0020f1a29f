/* fuzz_httpreq.c - fuzz target: osd metrics' HTTP request-head parser on any octets, whole and in every split a slow client could send. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpreq r, whole;
	int rc;

	rc = httpreq_parse((const char *)data, size, &whole);
	if (rc != 0 && rc != 1)
		abort();
	if (rc == 1 && whole.status == 0 &&
	    (whole.target[0] != '/' || whole.method == HTTPREQ_OTHER || whole.minor > 1 ||
	     strlen(whole.target) > HTTPREQ_TARGET_MAX))
		abort();
	if (rc == 0 && size >= HTTPREQ_HEAD_MAX)
		abort();        /* the cap must end every read loop */
	/* Fed in growing pieces (as reads arrive), the first "done" must be final and agree. */
	for (size_t n = 0; n <= size && n < 512; n++) {
		if (httpreq_parse((const char *)data, n, &r) == 1) {
			if (rc != 1 || r.status != whole.status)
				abort();
			break;
		}
	}
	return 0;
}
