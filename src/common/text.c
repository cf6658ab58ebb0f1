/* What a name or a label may hold, and timestamps as text; see text.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "text.h"

/* Length of the UTF-8 sequence starting with lead byte b, 0 for an invalid lead. */
static unsigned seq_len(uint8_t b)
{
	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		return 2;
	if (b >= 0xe0 && b <= 0xef)
		return 3;
	if (b >= 0xf0 && b <= 0xf4)
		return 4;
	return 0;
}

const char *text_check(const char *s, size_t max)
{
	const uint8_t *p = (const uint8_t *)(s ? s : "");
	size_t len = strlen((const char *)p);

	if (len > max)
		return "too long";
	for (size_t i = 0; i < len;) {
		unsigned n = seq_len(p[i]);
		if (n == 0 || n > len - i)
			return "not valid UTF-8";
		uint32_t cp = n == 1 ? p[i] : p[i] & (0x7f >> n);
		for (unsigned k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return "not valid UTF-8";
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		/* overlong forms, surrogates and code points past U+10FFFF */
		if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return "not valid UTF-8";
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return "holds a control character";
		i += n;
	}
	return NULL;
}

void text_rfc3339(uint64_t ns, char *buf, size_t len)
{
	if (!ns) {
		buf[0] = 0;
		return;
	}
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ns / 1000000ull % 1000));
}
