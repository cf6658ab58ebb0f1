/* HostFilter protobufs as hostmatch filters; see hostfilter.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostfilter.h"

#define MAX_NODES 4096 /* constraint nodes per filter */

typedef Peloton__Api__Task__Constraint constraint_pb;

static void errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static uint32_t count_nodes(const constraint_pb *c, unsigned depth)
{
	uint32_t n = 1;
	size_t nk = 0;
	constraint_pb **kids = NULL;

	if (depth > 32)
		return MAX_NODES + 1;
	if (c->type == PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT && c->andconstraint) {
		nk = c->andconstraint->n_constraints;
		kids = c->andconstraint->constraints;
	} else if (c->type == PELOTON__API__TASK__CONSTRAINT__TYPE__OR_CONSTRAINT &&
	           c->orconstraint) {
		nk = c->orconstraint->n_constraints;
		kids = c->orconstraint->constraints;
	}
	for (size_t i = 0; i < nk && n <= MAX_NODES; i++)
		n += count_nodes(kids[i], depth + 1);
	return n;
}

/*
 * Fills nodes[at] from c. Children of an AND/OR are allocated contiguously
 * at *next (so `children` is one array); labels' texts go to texts[at].
 */
static int build_node(struct hostfilter *out, uint32_t at, uint32_t *next, const constraint_pb *c,
                      char *err, size_t errlen)
{
	struct hostmatch_node *node = &out->nodes[at];

	switch (c->type) {
	case PELOTON__API__TASK__CONSTRAINT__TYPE__LABEL_CONSTRAINT: {
		const Peloton__Api__Task__LabelConstraint *lc = c->labelconstraint;
		if (lc == NULL || lc->label == NULL) {
			errf(err, errlen, "label constraint without a label");
			return -1;
		}
		size_t len = strlen(lc->label->key) + strlen(lc->label->value) + 2;
		char *t = malloc(len);
		if (t == NULL) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		snprintf(t, len, "%s=%s", lc->label->key, lc->label->value);
		out->texts[at] = t;
		*node = (struct hostmatch_node){
		    .kind = HOSTMATCH_NODE_LABEL,
		    /* only HOST-kind constraints apply to hosts (hostsvc.proto) */
		    .host_kind = lc->kind == PELOTON__API__TASK__LABEL_CONSTRAINT__KIND__HOST,
		    .condition = (enum hostmatch_condition)lc->condition,
		    .requirement = lc->requirement,
		    .label = {hostmatch_label_hash(t), t},
		};
		return 0;
	}
	case PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT:
	case PELOTON__API__TASK__CONSTRAINT__TYPE__OR_CONSTRAINT: {
		bool is_and = c->type == PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT;
		if (is_and ? c->andconstraint == NULL : c->orconstraint == NULL) {
			errf(err, errlen, "%s constraint without its operands",
			     is_and ? "and" : "or");
			return -1;
		}
		constraint_pb **kids =
		    is_and ? c->andconstraint->constraints : c->orconstraint->constraints;
		uint32_t first = *next;
		uint32_t nk = (uint32_t)(is_and ? c->andconstraint->n_constraints
		                                : c->orconstraint->n_constraints);
		*next += nk;
		*node = (struct hostmatch_node){
		    .kind = is_and ? HOSTMATCH_NODE_AND : HOSTMATCH_NODE_OR,
		    .n_children = nk,
		    .children = nk ? &out->nodes[first] : NULL,
		};
		for (uint32_t i = 0; i < nk; i++)
			if (build_node(out, first + i, next, kids[i], err, errlen) != 0)
				return -1;
		return 0;
	}
	default:
		errf(err, errlen, "unknown constraint type %d", (int)c->type);
		return -1;
	}
}

void hostfilter_fini(struct hostfilter *f)
{
	if (f == NULL)
		return;
	for (uint32_t i = 0; f->texts && i < f->n_nodes; i++)
		free(f->texts[i]);
	free(f->texts);
	free(f->nodes);
	memset(f, 0, sizeof(*f));
}

int hostfilter_from_pb(const hostfilter_pb *pb, struct hostfilter *out, char *err, size_t errlen)
{
	const char *why;

	memset(out, 0, sizeof(*out));
	out->max_hosts = 1;
	if (pb == NULL)
		return 0;
	if (pb->quantity)
		out->max_hosts = pb->quantity->maxhosts;
	if (pb->resourceconstraint) {
		const Peloton__Api__Task__ResourceConfig *m = pb->resourceconstraint->minimum;
		if (m)
			out->f.min = (struct hostmatch_res){m->cpulimit, m->memlimitmb,
			                                    m->disklimitmb, m->gpulimit};
		out->f.num_ports = pb->resourceconstraint->numports;
	}
	if (pb->schedulingconstraint) {
		uint32_t n = count_nodes(pb->schedulingconstraint, 0);
		if (n > MAX_NODES) {
			errf(err, errlen, "constraint tree too large or deeper than 32 levels");
			return -1;
		}
		out->nodes = calloc(n, sizeof(*out->nodes));
		out->texts = calloc(n, sizeof(*out->texts));
		if (out->nodes == NULL || out->texts == NULL) {
			hostfilter_fini(out);
			errf(err, errlen, "out of memory");
			return -1;
		}
		uint32_t next = 1;
		out->n_nodes = n;
		if (build_node(out, 0, &next, pb->schedulingconstraint, err, errlen) != 0) {
			hostfilter_fini(out);
			return -1;
		}
		out->f.constraint = &out->nodes[0];
	}
	if (!hostmatch_filter_valid(&out->f, &why)) {
		errf(err, errlen, "%s", why);
		hostfilter_fini(out);
		return -1;
	}
	return 0;
}
