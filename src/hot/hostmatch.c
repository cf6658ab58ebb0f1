/* Filter matching; see hostmatch.h. */
#include <math.h>
#include <string.h>

#include "hash.h"
#include "hostmatch.h"

static const char *const result_names[HOSTMATCH_N_RESULTS] = {
    [HOSTMATCH_UNKNOWN] = "UNKNOWN",
    [HOSTMATCH_MATCH] = "MATCH",
    [HOSTMATCH_INSUFFICIENT_RESOURCES] = "INSUFFICIENT_OFFER_RESOURCES",
    [HOSTMATCH_MISMATCH_CONSTRAINTS] = "MISMATCH_CONSTRAINTS",
    [HOSTMATCH_MISMATCH_GPU] = "MISMATCH_GPU",
    [HOSTMATCH_MISMATCH_STATUS] = "MISMATCH_STATUS",
    [HOSTMATCH_MISMATCH_MAX_HOST_LIMIT] = "MISMATCH_MAX_HOST_LIMIT",
    [HOSTMATCH_NO_OFFER] = "NO_OFFER",
};

const char *hostmatch_result_name(enum hostmatch_result r)
{
	if ((unsigned)r >= HOSTMATCH_N_RESULTS)
		return "UNKNOWN";
	return result_names[r];
}

uint64_t hostmatch_label_hash(const char *text)
{
	return pel_fnv1a_str(text);
}

static uint32_t label_count(const struct hostmatch_label *want,
                            const struct hostmatch_label *labels, uint32_t n)
{
	uint32_t count = 0;

	for (uint32_t i = 0; i < n; i++)
		if (labels[i].hash == want->hash && strcmp(labels[i].text, want->text) == 0)
			count++;
	return count;
}

static bool compare(enum hostmatch_condition c, uint32_t count, uint32_t req)
{
	if (c == HOSTMATCH_LESS_THAN)
		return count < req;
	if (c == HOSTMATCH_EQUAL)
		return count == req;
	return count > req;
}

bool hostmatch_constraint_eval(const struct hostmatch_node *n, const struct hostmatch_label *labels,
                               uint32_t n_labels, hostmatch_task_count_f task_count, void *arg)
{
	if (n == NULL)
		return true;
	switch (n->kind) {
	case HOSTMATCH_NODE_LABEL:
		if (!n->host_kind)
			return task_count == NULL ||
			       compare(n->condition, task_count(arg, &n->label), n->requirement);
		return compare(n->condition, label_count(&n->label, labels, n_labels),
		               n->requirement);
	case HOSTMATCH_NODE_AND:
		for (uint32_t i = 0; i < n->n_children; i++)
			if (!hostmatch_constraint_eval(&n->children[i], labels, n_labels,
			                               task_count, arg))
				return false;
		return true;
	case HOSTMATCH_NODE_OR:
		for (uint32_t i = 0; i < n->n_children; i++)
			if (hostmatch_constraint_eval(&n->children[i], labels, n_labels, task_count,
			                              arg))
				return true;
		return false;
	}
	return false;
}

bool hostmatch_constraint_ok(const struct hostmatch_node *n, const struct hostmatch_label *labels,
                             uint32_t n_labels)
{
	return hostmatch_constraint_eval(n, labels, n_labels, NULL, NULL);
}

enum hostmatch_result hostmatch_check(const struct hostmatch_filter *f,
                                      const struct hostmatch_host *h)
{
	const struct hostmatch_res *a = &h->free, *m = &f->min;

	if (m->gpus == 0 && a->gpus > 0)
		return HOSTMATCH_MISMATCH_GPU;
	if (a->cpus < m->cpus || a->mem_mb < m->mem_mb || a->disk_mb < m->disk_mb ||
	    a->gpus < m->gpus || h->n_ports < f->num_ports)
		return HOSTMATCH_INSUFFICIENT_RESOURCES;
	if (!hostmatch_constraint_ok(f->constraint, h->labels, h->n_labels))
		return HOSTMATCH_MISMATCH_CONSTRAINTS;
	return HOSTMATCH_MATCH;
}

static bool res_valid(double v)
{
	return isfinite(v) && v >= 0;
}

static bool node_valid(const struct hostmatch_node *n, unsigned depth, const char **why)
{
	if (depth > 32) {
		*why = "constraint tree deeper than 32 levels";
		return false;
	}
	switch (n->kind) {
	case HOSTMATCH_NODE_LABEL:
		if (n->condition < HOSTMATCH_LESS_THAN || n->condition > HOSTMATCH_GREATER_THAN) {
			*why = "label constraint with an unknown condition";
			return false;
		}
		if (n->label.text == NULL || n->label.text[0] == '\0') {
			*why = "label constraint without a label";
			return false;
		}
		return true;
	case HOSTMATCH_NODE_AND:
	case HOSTMATCH_NODE_OR:
		if (n->n_children > 0 && n->children == NULL) {
			*why = "and/or constraint with missing children";
			return false;
		}
		for (uint32_t i = 0; i < n->n_children; i++)
			if (!node_valid(&n->children[i], depth + 1, why))
				return false;
		return true;
	}
	*why = "unknown constraint type";
	return false;
}

bool hostmatch_filter_valid(const struct hostmatch_filter *f, const char **why)
{
	const struct hostmatch_res *m = &f->min;

	if (!res_valid(m->cpus) || !res_valid(m->mem_mb) || !res_valid(m->disk_mb) ||
	    !res_valid(m->gpus)) {
		*why = "resource minimum is negative or not a number";
		return false;
	}
	return f->constraint == NULL || node_valid(f->constraint, 0, why);
}

bool hostmatch_has_task_leaves(const struct hostmatch_node *n)
{
	if (n == NULL)
		return false;
	if (n->kind == HOSTMATCH_NODE_LABEL)
		return !n->host_kind;
	for (uint32_t i = 0; i < n->n_children; i++)
		if (hostmatch_has_task_leaves(&n->children[i]))
			return true;
	return false;
}
