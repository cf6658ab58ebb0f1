/* A job's config: validation and per-instance configs; see config.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "proto_codec.h"
#include "text.h"

/* ---- validation (the limits are listed in docs/LIMITS.md) ---- */

enum {
	MAX_NAME = 1024, /* job, task, owning team, LDAP group */
	MAX_PORT_NAME = 255,
	MAX_LABELS = 256, /* per job and per task config */
	MAX_LABEL_KEY = 1024,
	MAX_LABEL_VALUE = 4096,
};

static int check_constraint(const Peloton__Api__Task__Constraint *c, char *err, size_t len,
                            int depth)
{
	if (depth > 16)
		return snprintf(err, len, "constraint nested deeper than 16"), -1;
	switch (c->type) {
	case PELOTON__API__TASK__CONSTRAINT__TYPE__LABEL_CONSTRAINT:
		if (!c->labelconstraint || !c->labelconstraint->label ||
		    !c->labelconstraint->label->key || !c->labelconstraint->label->key[0])
			return snprintf(err, len, "label constraint without a label key"), -1;
		return 0;
	case PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT:
	case PELOTON__API__TASK__CONSTRAINT__TYPE__OR_CONSTRAINT: {
		bool is_and = c->type == PELOTON__API__TASK__CONSTRAINT__TYPE__AND_CONSTRAINT;
		size_t n = is_and ? (c->andconstraint ? c->andconstraint->n_constraints : 0)
		                  : (c->orconstraint ? c->orconstraint->n_constraints : 0);
		Peloton__Api__Task__Constraint **v =
		    is_and ? (c->andconstraint ? c->andconstraint->constraints : NULL)
		           : (c->orconstraint ? c->orconstraint->constraints : NULL);
		if (!n)
			return snprintf(err, len, "%s constraint without children",
			                is_and ? "AND" : "OR"),
			       -1;
		for (size_t i = 0; i < n; i++)
			if (check_constraint(v[i], err, len, depth + 1) != 0)
				return -1;
		return 0;
	}
	default:
		return snprintf(err, len, "constraint of unknown type %d", (int)c->type), -1;
	}
}

/* A name or label text (text.h) of at most max bytes; `what` names it in the error. */
static int check_text(const char *s, size_t max, const char *where, const char *what, char *err,
                      size_t len)
{
	const char *why = text_check(s, max);
	if (why == NULL)
		return 0;
	if (strcmp(why, "too long") == 0)
		return snprintf(err, len, "%s%s%s is longer than %zu bytes", where,
		                where[0] ? ": " : "", what, max),
		       -1;
	return snprintf(err, len, "%s%s%s %s", where, where[0] ? ": " : "", what, why), -1;
}

static int check_labels(Peloton__Api__Peloton__Label *const *v, size_t n, const char *where,
                        char *err, size_t len)
{
	if (n > MAX_LABELS)
		return snprintf(err, len, "%s%sat most %d labels", where, where[0] ? ": " : "",
		                MAX_LABELS),
		       -1;
	for (size_t i = 0; i < n; i++)
		if (check_text(v[i]->key, MAX_LABEL_KEY, where, "a label key", err, len) != 0 ||
		    check_text(v[i]->value, MAX_LABEL_VALUE, where, "a label value", err, len) != 0)
			return -1;
	return 0;
}

/* One resource limit: finite, >= 0 (> 0 when required), at most max. */
static int check_limit(double v, bool required, double max, const char *where, const char *what,
                       char *err, size_t len)
{
	if (!isfinite(v))
		return snprintf(err, len, "%s: resource.%s must be a finite number", where, what),
		       -1;
	if (required ? !(v > 0) : v < 0)
		return snprintf(err, len, "%s: resource.%s must be %s, got %g", where, what,
		                required ? "> 0" : ">= 0", v),
		       -1;
	if (v > max)
		return snprintf(err, len, "%s: resource.%s %g above the maximum %g", where, what, v,
		                max),
		       -1;
	return 0;
}

/* An enabled health check must be one Mesos can run: COMMAND with a command
 * (the reference's HTTP type names no port or path). */
static int check_health(const Peloton__Api__Task__HealthCheckConfig *h, const char *where,
                        char *err, size_t len)
{
	if (!h || !h->enabled)
		return 0;
	if (h->type != PELOTON__API__TASK__HEALTH_CHECK_CONFIG__TYPE__COMMAND)
		return snprintf(err, len,
		                "%s: healthCheck.type must be COMMAND (HTTP names no port or "
		                "path in this API)",
		                where),
		       -1;
	const char *cmd = h->commandcheck ? h->commandcheck->command : NULL;
	if (!cmd || !cmd[0])
		return snprintf(err, len, "%s: healthCheck.commandCheck.command is required",
		                where),
		       -1;
	if (strlen(cmd) > 65536) /* a script, as a task's command may be */
		return snprintf(err, len, "%s: healthCheck.commandCheck.command above 64 KiB",
		                where),
		       -1;
	if (h->initialintervalsecs > 86400 || h->intervalsecs > 86400 || h->timeoutsecs > 86400 ||
	    h->maxconsecutivefailures > 1000)
		return snprintf(err, len,
		                "%s: healthCheck intervals at most 86400 s, "
		                "maxConsecutiveFailures at most 1000",
		                where),
		       -1;
	return 0;
}

static int check_task(const Peloton__Api__Task__TaskConfig *tc, const char *where, char *err,
                      size_t len)
{
	const Peloton__Api__Task__ResourceConfig *r = tc->resource;
	if (!r)
		return snprintf(err, len,
		                "%s: resource.cpuLimit and resource.memLimitMb must be > 0", where),
		       -1;
	if (check_limit(r->cpulimit, true, 1e6, where, "cpuLimit", err, len) != 0 ||
	    check_limit(r->memlimitmb, true, 1e12, where, "memLimitMb", err, len) != 0 ||
	    check_limit(r->disklimitmb, false, 1e12, where, "diskLimitMb", err, len) != 0 ||
	    check_limit(r->gpulimit, false, 1e6, where, "gpuLimit", err, len) != 0)
		return -1;
	if (check_text(tc->name, MAX_NAME, where, "name", err, len) != 0 ||
	    check_labels(tc->labels, tc->n_labels, where, err, len) != 0)
		return -1;
	for (size_t i = 0; i < tc->n_ports; i++) {
		const char *n = tc->ports[i]->name;
		if (!n || !n[0])
			return snprintf(err, len, "%s: port %zu has no name", where, i), -1;
		if (check_text(n, MAX_PORT_NAME, where, "a port name", err, len) != 0)
			return -1;
		for (size_t k = 0; k < i; k++)
			if (strcmp(tc->ports[k]->name, n) == 0)
				return snprintf(err, len, "%s: port name '%s' used twice", where,
				                n),
				       -1;
		if (tc->ports[i]->value > 65535)
			return snprintf(err, len, "%s: port %s value above 65535", where, n), -1;
	}
	if (tc->n_ports > 16)
		return snprintf(err, len, "%s: at most 16 ports per task", where), -1;
	if (tc->constraint) {
		char sub[200];
		if (check_constraint(tc->constraint, sub, sizeof(sub), 0) != 0)
			return snprintf(err, len, "%s: %s", where, sub), -1;
	}
	const Peloton__Api__Task__PersistentVolumeConfig *v = tc->volume;
	if (v && (v->sizemb == 0 || !v->containerpath || !v->containerpath[0] ||
	          v->containerpath[0] == '/' || strstr(v->containerpath, "..") ||
	          strlen(v->containerpath) > 255))
		return snprintf(err, len,
		                "%s: volume needs sizeMB > 0 and a containerPath relative to the "
		                "sandbox (no '/' first, no '..', at most 255 characters)",
		                where),
		       -1;
	return check_health(tc->healthcheck, where, err, len);
}

int jobmgr_validate(struct jobmgr *jm, const Peloton__Api__Job__JobConfig *c, char *err, size_t len)
{
	/* instanceCount 0 is a job with no instances yet, as upstream has it
	 * (an update adds them) */
	if (c->instancecount > jm->cfg.max_instances)
		return snprintf(err, len, "instanceCount %u above the maximum %u", c->instancecount,
		                jm->cfg.max_instances),
		       -1;
	if (check_text(c->name, MAX_NAME, "", "name", err, len) != 0 ||
	    check_text(c->owningteam, MAX_NAME, "", "owningTeam", err, len) != 0 ||
	    check_labels(c->labels, c->n_labels, "", err, len) != 0)
		return -1;
	for (size_t i = 0; i < c->n_ldapgroups; i++)
		if (check_text(c->ldapgroups[i], MAX_NAME, "", "an ldapGroups entry", err, len) !=
		    0)
			return -1;
	if (!c->respoolid || !c->respoolid->value || !c->respoolid->value[0])
		return snprintf(err, len, "respoolID is required"), -1;
	if (!jm->cfg.rm.pool_is_leaf(jm->cfg.rm.arg, c->respoolid->value))
		return snprintf(err, len, "resource pool %s does not exist or is not a leaf",
		                c->respoolid->value),
		       -1;
	if (c->sla) {
		uint32_t mn = c->sla->minimumrunninginstances, mx = c->sla->maximumrunninginstances;
		if (mx && mx > c->instancecount)
			return snprintf(err, len,
			                "sla.maximumRunningInstances %u above instanceCount %u", mx,
			                c->instancecount),
			       -1;
		if (mn && mx && mn > mx)
			return snprintf(err, len,
			                "sla.minimumRunningInstances %u above "
			                "maximumRunningInstances %u",
			                mn, mx),
			       -1;
		if (mn > c->instancecount)
			return snprintf(err, len,
			                "sla.minimumRunningInstances %u above instanceCount %u", mn,
			                c->instancecount),
			       -1;
	}
	if (!c->defaultconfig) {
		/* every instance then needs its own config */
		if (c->n_instanceconfig != c->instancecount)
			return snprintf(err, len,
			                "defaultConfig missing and not every instance has a "
			                "config"),
			       -1;
	} else if (check_task(c->defaultconfig, "defaultConfig", err, len) != 0) {
		return -1;
	}
	for (size_t i = 0; i < c->n_instanceconfig; i++) {
		const Peloton__Api__Job__JobConfig__InstanceConfigEntry *e = c->instanceconfig[i];
		char where[48];
		snprintf(where, sizeof(where), "instanceConfig[%u]", e->key);
		if (e->key >= c->instancecount)
			return snprintf(err, len, "%s: instance id not below instanceCount %u",
			                where, c->instancecount),
			       -1;
		if (!e->value)
			return snprintf(err, len, "%s: empty", where), -1;
		Peloton__Api__Task__TaskConfig *m = jm__merge(c->defaultconfig, e->value);
		int rc = m ? check_task(m, where, err, len) : -1;
		if (m)
			protobuf_c_message_free_unpacked(&m->base, NULL);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* ---- merge of instanceConfig over defaultConfig, field by field ---- */

static bool pb_field_set(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	const char *p = (const char *)m + f->offset;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)((const char *)m + f->quantifier_offset) != 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return s && s[0];
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)p != NULL;
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT32:
		return *(const uint32_t *)p != 0;
	default:
		return *(const uint64_t *)p != 0;
	}
}

Peloton__Api__Task__TaskConfig *jm__merge(const Peloton__Api__Task__TaskConfig *def,
                                          const Peloton__Api__Task__TaskConfig *inst)
{
	if (!def)
		return (Peloton__Api__Task__TaskConfig *)proto_clone(&inst->base);
	/* pack default, then the instance's set fields: protobuf merge semantics
	 * would concatenate repeated fields, so copy field by field instead */
	Peloton__Api__Task__TaskConfig tmp = *def;
	const ProtobufCMessageDescriptor *d = &peloton__api__task__task_config__descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!pb_field_set(f, &inst->base))
			continue;
		size_t sz =
		    f->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(void *)
		    : f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE
		        ? sizeof(void *)
		    : f->type == PROTOBUF_C_TYPE_DOUBLE ? 8
		                                        : 4;
		memcpy((char *)&tmp + f->offset, (const char *)inst + f->offset, sz);
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			memcpy((char *)&tmp + f->quantifier_offset,
			       (const char *)inst + f->quantifier_offset, sizeof(size_t));
	}
	return (Peloton__Api__Task__TaskConfig *)proto_clone(&tmp.base);
}

/* Builds j->merged (config per instance). 0 or -1. */
int jm__build_merged(struct jm_job *j)
{
	j->merged = calloc(j->n ? j->n : 1, sizeof(*j->merged));
	if (!j->merged)
		return -1;
	for (uint32_t i = 0; i < j->n; i++)
		j->merged[i] = j->cfg->defaultconfig;
	for (size_t k = 0; k < j->cfg->n_instanceconfig; k++) {
		const Peloton__Api__Job__JobConfig__InstanceConfigEntry *e =
		    j->cfg->instanceconfig[k];
		if (e->key >= j->n || !e->value)
			continue;
		if (j->merged[e->key] != j->cfg->defaultconfig)
			protobuf_c_message_free_unpacked(&j->merged[e->key]->base, NULL);
		j->merged[e->key] = jm__merge(j->cfg->defaultconfig, e->value);
		if (!j->merged[e->key])
			return -1;
	}
	return 0;
}
