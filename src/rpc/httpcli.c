#include "httpcli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

struct body {
	char *p;
	size_t n, max;
};

static size_t collect(char *p, size_t sz, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = sz * n;
	if (b->n + add > b->max)
		return 0; /* libcurl fails the transfer */
	char *np = realloc(b->p, b->n + add + 1);
	if (!np)
		return 0;
	memcpy(np + b->n, p, add);
	b->p = np;
	b->n += add;
	np[b->n] = 0;
	return add;
}

int httpcli_do(const char *url, const char *body, long timeout_ms, size_t max_bytes, char **out,
               size_t *out_len, long *status, char *err, size_t errlen)
{
	struct body b = {NULL, 0, max_bytes};
	*out = NULL;
	CURL *c = curl_easy_init();
	if (!c)
		return snprintf(err, errlen, "out of memory"), -1;
	struct curl_slist *h = NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	if (body) {
		h = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	CURLcode cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		free(b.p);
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		return -1;
	}
	*out = b.p ? b.p : strdup("");
	if (out_len)
		*out_len = b.n;
	return *out ? 0 : (snprintf(err, errlen, "out of memory"), -1);
}
