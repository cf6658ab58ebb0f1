/* Latency histograms for /metrics; see hist.h. */
#include "hist.h"

static const double bounds_s[HIST_N - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,   0.5,   1,      2.5,   5,    10,    30};

void hist_add_ns(struct hist *h, uint64_t ns)
{
	double s = (double)ns / 1e9;
	int k = 0;
	while (k < HIST_N - 1 && s > bounds_s[k])
		k++;
	atomic_fetch_add_explicit(&h->b[k], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void hist_write(struct hist *h, FILE *f, const char *name, const char *labels)
{
	const char *sep = labels[0] ? "," : "";
	uint64_t cum = 0;
	for (int k = 0; k < HIST_N; k++) {
		cum += atomic_load_explicit(&h->b[k], memory_order_relaxed);
		if (k < HIST_N - 1)
			fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
			        bounds_s[k], (unsigned long long)cum);
		else
			fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
			        (unsigned long long)cum);
	}
	const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
	fprintf(f, "%s_sum%s%s%s %.9g\n%s_count%s%s%s %llu\n", name, open, labels, close,
	        (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9, name, open,
	        labels, close, (unsigned long long)cum);
}
