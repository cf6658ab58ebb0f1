/*
 * fuzz_text: text_check (what a name or label may hold) against an
 * independent reading of the rule: accepted exactly when the bytes are
 * UTF-8 that iconv takes without change and hold no C0, DEL or C1 code
 * point.
 */
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* The rule, the other way: iconv validates, then code points are checked. */
static bool reference(const char *s, size_t len)
{
	iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
	if (cd == (iconv_t)-1)
		abort();
	uint32_t *out = malloc((len + 1) * 4);
	char *in = (char *)s, *op = (char *)out;
	size_t il = len, ol = (len + 1) * 4;
	bool ok = iconv(cd, &in, &il, &op, &ol) != (size_t)-1 && il == 0;
	size_t n = (size_t)(op - (char *)out) / 4;
	for (size_t i = 0; ok && i < n; i++)
		if (out[i] < 0x20 || (out[i] >= 0x7f && out[i] <= 0x9f) ||
		    (out[i] >= 0xd800 && out[i] <= 0xdfff))
			ok = false;
	free(out);
	iconv_close(cd);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	size_t len = strlen(s); /* text_check reads to the first NUL */
	bool ours = text_check(s, 4096) == NULL;
	if (len <= 4096 && ours != reference(s, len))
		abort();
	free(s);
	return 0;
}
