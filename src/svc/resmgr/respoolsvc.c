/* v0 ResourceManager (resource pools) edge over the pool tree; see respoolsvc.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_codec.h"
#include "respoolsvc.h"
#include "store.h"
#include "log.h"

typedef Peloton__Api__Respool__ResourcePoolConfig config_pb;
typedef Peloton__Api__Respool__ResourcePoolInfo info_pb;
typedef Peloton__Api__Peloton__ResourcePoolID poolid_pb;
typedef Peloton__Api__Respool__ResourcePoolPath path_pb;

static poolid_pb *pool_id(const char *id)
{
	poolid_pb *p = PB_NEW(poolid_pb, peloton__api__peloton__resource_pool_id__descriptor);
	if (p != NULL && (p->value = strdup(id ? id : "")) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

static path_pb *pool_path(const char *path)
{
	path_pb *p = PB_NEW(path_pb, peloton__api__respool__resource_pool_path__descriptor);
	if (p != NULL && (p->value = strdup(path ? path : "")) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

/*
 * Every v0 error message here has the shape {id or path, message}; this sets
 * both on a freshly allocated one. `with_path` picks the first field's type.
 */
static ProtobufCMessage *err_msg(const ProtobufCMessageDescriptor *d, bool with_path,
                                 const char *key, const char *message)
{
	ProtobufCMessage *m = proto_new(d);
	if (m == NULL)
		return NULL;
	/* field 1 is the id / path message, field 2 the string */
	void **first = (void **)((char *)m + d->fields[0].offset);
	char **text = (char **)((char *)m + d->fields[1].offset);
	*first = with_path ? (void *)pool_path(key) : (void *)pool_id(key);
	*text = strdup(message);
	if (*first == NULL || *text == NULL) {
		PB_FREE(m);
		return NULL;
	}
	return m;
}

static void invalid_config(struct respool_error *err, const char *why)
{
	err->code = RESPOOL_INVALID_CONFIG;
	snprintf(err->msg, sizeof(err->msg), "%s", why);
}

/* ResourcePoolConfig -> respool_config; -1 with a message for a bad kind. */
static int config_of(const config_pb *c, struct respool_config *out, void **payload, char *why,
                     size_t len)
{
	size_t plen = 0;

	memset(out, 0, sizeof(*out));
	*payload = NULL;
	if (c == NULL) {
		snprintf(why, len, "missing resource pool config");
		return -1;
	}
	out->name = c->name;
	out->parent_id = c->parent ? c->parent->value : NULL;
	for (size_t i = 0; i < c->n_resources; i++) {
		enum respool_kind k;
		const Peloton__Api__Respool__ResourceConfig *r = c->resources[i];
		if (!respool_kind_parse(r->kind, &k)) {
			snprintf(why, len, "unknown resource kind '%s' (cpu, memory, disk, gpu)",
			         r->kind);
			return -1;
		}
		if (out->res_set[k]) {
			snprintf(why, len, "resource kind '%s' given twice", r->kind);
			return -1;
		}
		/* a share of 0 (left out) is 1, as upstream's pool validator makes it */
		out->res[k] =
		    (struct respool_res){r->reservation, r->limit, r->share == 0 ? 1 : r->share};
		out->res_set[k] = true;
	}
	if (c->controllerlimit) {
		double pct = c->controllerlimit->maxpercent;
		if (!(pct >= 0 && pct <= 100)) {
			snprintf(why, len, "controllerLimit.maxPercent %g: must be 0 to 100", pct);
			return -1;
		}
		out->controller_pct = pct;
	}
	*payload = proto_pack_alloc(&c->base, &plen);
	out->payload = *payload;
	out->payload_len = plen;
	return 0;
}

int respoolsvc_create_id(struct respool_tree *t, const char *id, const config_pb *c, char out[40],
                         struct respool_error *err)
{
	struct respool_config cfg;
	void *payload = NULL;
	char why[256];
	int rc = config_of(c, &cfg, &payload, why, sizeof(why));
	if (rc != 0)
		invalid_config(err, why);
	else if (id && id[0] && strlen(id) >= 40)
		rc = -1, invalid_config(err, "a resource pool id is at most 39 characters");
	else if (id && id[0] && (rc = respool_restore(t, id, &cfg, err)) == 0)
		snprintf(out, 40, "%s", id);
	else if (!id || !id[0])
		rc = respool_create(t, &cfg, out, 40, err);
	free(payload);
	return rc;
}

int respoolsvc_restore(struct respool_tree *t, const char *id, const void *bytes, size_t len,
                       char *why, size_t wlen)
{
	struct respool_config cfg;
	struct respool_error err;
	void *payload = NULL;
	const char *bad = NULL;
	config_pb *c =
	    (config_pb *)proto_decode(&peloton__api__respool__resource_pool_config__descriptor,
	                              (const uint8_t *)bytes, len, NULL, &bad);
	if (c == NULL) {
		snprintf(why, wlen, "not a ResourcePoolConfig: %s", bad ? bad : "undecodable");
		return -1;
	}
	int rc = config_of(c, &cfg, &payload, why, wlen);
	if (rc == 0 && (rc = respool_restore(t, id, &cfg, &err)) != 0)
		snprintf(why, wlen, "%s", err.msg);
	free(payload);
	protobuf_c_message_free_unpacked(&c->base, NULL);
	return rc;
}

struct stored_pool {
	char *id;
	void *cfg;
	size_t len;
	bool done;
	char why[256]; /* why its last restore was refused */
};

struct stored_pools {
	struct stored_pool *v;
	size_t n, cap;
};

static bool keep_pool(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                      uint64_t version)
{
	struct stored_pools *p = arg;
	(void)version;
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 16;
		struct stored_pool *nv = realloc(p->v, nc * sizeof(*nv));
		if (nv == NULL)
			return false;
		p->v = nv;
		p->cap = nc;
	}
	struct stored_pool *e = &p->v[p->n];
	/* keys are not NUL-terminated: copy exactly klen bytes (strndup may
	 * look one byte further, which ASan's strict string checks flag) */
	e->id = malloc(klen + 1);
	if (e->id) {
		memcpy(e->id, key, klen);
		e->id[klen] = 0;
	}
	e->cfg = malloc(vlen ? vlen : 1);
	if (e->id == NULL || e->cfg == NULL) {
		free(e->id);
		free(e->cfg);
		return false;
	}
	memcpy(e->cfg, val, vlen);
	e->len = vlen;
	e->done = false;
	e->why[0] = '\0';
	p->n++;
	return true;
}

size_t respoolsvc_recover(struct respool_tree *t, struct store *s, size_t *failed)
{
	struct stored_pools p = {0};
	size_t restored = 0;

	store_scan(s, STORE_POOLS, "", 0, false, keep_pool, &p);
	/* parents first: passes until nothing more can be placed */
	for (bool progress = true; progress;) {
		progress = false;
		for (size_t i = 0; i < p.n; i++) {
			if (p.v[i].done)
				continue;
			if (respoolsvc_restore(t, p.v[i].id, p.v[i].cfg, p.v[i].len, p.v[i].why,
			                       sizeof(p.v[i].why)) == 0) {
				p.v[i].done = true;
				restored++;
				progress = true;
			}
		}
	}
	*failed = 0;
	for (size_t i = 0; i < p.n; i++) {
		if (!p.v[i].done) {
			log_error("respool", "recovery: pool %s not restored: %s", p.v[i].id,
			          p.v[i].why);
			(*failed)++;
		}
		free(p.v[i].id);
		free(p.v[i].cfg);
	}
	free(p.v);
	log_info("respool", "recovery: %zu pools restored, %zu refused", restored, *failed);
	return restored;
}

Peloton__Api__Respool__CreateResponse *
respoolsvc_create(struct respool_tree *t, const Peloton__Api__Respool__CreateRequest *r)
{
	Peloton__Api__Respool__CreateResponse *resp =
	    PB_NEW(Peloton__Api__Respool__CreateResponse,
	           peloton__api__respool__create_response__descriptor);
	struct respool_config cfg;
	struct respool_error err = {0};
	char id[40], why[256];
	void *payload;

	if (resp == NULL)
		return NULL;
	int rc = config_of(r ? r->config : NULL, &cfg, &payload, why, sizeof(why));
	if (rc == 0)
		rc = respool_create(t, &cfg, id, sizeof(id), &err);
	else
		invalid_config(&err, why);
	free(payload);
	if (rc == 0) {
		if ((resp->result = pool_id(id)) == NULL)
			goto nomem;
		return resp;
	}
	resp->error = PB_NEW(Peloton__Api__Respool__CreateResponse__Error,
	                     peloton__api__respool__create_response__error__descriptor);
	if (resp->error == NULL)
		goto nomem;
	if (err.code == RESPOOL_ALREADY_EXISTS)
		resp->error->alreadyexists =
		    (Peloton__Api__Respool__ResourcePoolAlreadyExists *)err_msg(
		        &peloton__api__respool__resource_pool_already_exists__descriptor, false, "",
		        err.msg);
	else
		resp->error->invalidresourcepoolconfig =
		    (Peloton__Api__Respool__InvalidResourcePoolConfig *)err_msg(
		        &peloton__api__respool__invalid_resource_pool_config__descriptor, false, "",
		        err.msg);
	if (resp->error->alreadyexists == NULL && resp->error->invalidresourcepoolconfig == NULL)
		goto nomem;
	return resp;
nomem:
	PB_FREE(resp);
	return NULL;
}

static void add_usage(info_pb *info, const struct respool_usage *u)
{
	info->usage = calloc(RES_N, sizeof(*info->usage));
	for (int k = 0; info->usage && k < RES_N; k++) {
		Peloton__Api__Respool__ResourceUsage *x =
		    PB_NEW(Peloton__Api__Respool__ResourceUsage,
		           peloton__api__respool__resource_usage__descriptor);
		if (x == NULL || (x->kind = strdup(respool_kind_name(k))) == NULL) {
			free(x);
			return;
		}
		x->allocation = u->allocation[k];
		x->slack =
		    u->entitlement[k] > u->allocation[k] ? u->entitlement[k] - u->allocation[k] : 0;
		info->usage[info->n_usage++] = x;
	}
}

/* ResourcePoolInfo of one pool; NULL if unknown or ENOMEM. */
static info_pb *info_of(struct respool_tree *t, const char *id)
{
	struct respool_info ri;
	struct respool_usage u;
	info_pb *info;

	if (respool_info(t, id, &ri) != 0)
		return NULL;
	info = PB_NEW(info_pb, peloton__api__respool__resource_pool_info__descriptor);
	if (info == NULL)
		goto out;
	info->id = pool_id(ri.id);
	info->parent = ri.parent_id[0] ? pool_id(ri.parent_id) : NULL;
	if (ri.payload != NULL)
		info->config = (config_pb *)protobuf_c_message_unpack(
		    &peloton__api__respool__resource_pool_config__descriptor, NULL, ri.payload_len,
		    ri.payload);
	info->children = calloc(ri.n_children ? ri.n_children : 1, sizeof(*info->children));
	for (size_t i = 0; info->children && i < ri.n_children; i++)
		if ((info->children[info->n_children] = pool_id(ri.child_ids[i])) != NULL)
			info->n_children++;
	if (respool_usage(t, ri.id, &u) == 0)
		add_usage(info, &u);
	if (info->id == NULL || info->children == NULL) {
		PB_FREE(info);
		info = NULL;
	}
out:
	respool_info_fini(&ri);
	return info;
}

Peloton__Api__Respool__GetResponse *respoolsvc_get(struct respool_tree *t,
                                                   const Peloton__Api__Respool__GetRequest *r)
{
	Peloton__Api__Respool__GetResponse *resp = PB_NEW(
	    Peloton__Api__Respool__GetResponse, peloton__api__respool__get_response__descriptor);
	const char *id = r && r->id && r->id->value[0] ? r->id->value : "root";

	if (resp == NULL)
		return NULL;
	resp->poolinfo = info_of(t, id);
	if (resp->poolinfo == NULL) {
		char msg[128];
		snprintf(msg, sizeof(msg), "resource pool '%s' not found", id);
		resp->error = PB_NEW(Peloton__Api__Respool__GetResponse__Error,
		                     peloton__api__respool__get_response__error__descriptor);
		if (resp->error == NULL ||
		    (resp->error->notfound = (Peloton__Api__Respool__ResourcePoolNotFound *)err_msg(
		         &peloton__api__respool__resource_pool_not_found__descriptor, false, id,
		         msg)) == NULL)
			goto nomem;
		return resp;
	}
	if (r && r->includechildpools) {
		size_t n = resp->poolinfo->n_children;
		resp->childpools = calloc(n ? n : 1, sizeof(*resp->childpools));
		if (resp->childpools == NULL)
			goto nomem;
		for (size_t i = 0; i < n; i++) {
			info_pb *c = info_of(t, resp->poolinfo->children[i]->value);
			if (c != NULL)
				resp->childpools[resp->n_childpools++] = c;
		}
	}
	return resp;
nomem:
	PB_FREE(resp);
	return NULL;
}

Peloton__Api__Respool__DeleteResponse *
respoolsvc_delete(struct respool_tree *t, const Peloton__Api__Respool__DeleteRequest *r)
{
	Peloton__Api__Respool__DeleteResponse *resp =
	    PB_NEW(Peloton__Api__Respool__DeleteResponse,
	           peloton__api__respool__delete_response__descriptor);
	const char *path = r && r->path ? r->path->value : "";
	struct respool_error err = {0};
	char id[40];

	if (resp == NULL)
		return NULL;
	if (respool_lookup(t, path, id, sizeof(id), &err) == 0 && respool_delete(t, id, &err) == 0)
		return resp;
	resp->error = PB_NEW(Peloton__Api__Respool__DeleteResponse__Error,
	                     peloton__api__respool__delete_response__error__descriptor);
	if (resp->error == NULL)
		goto nomem;
	switch (err.code) {
	case RESPOOL_IS_BUSY:
		resp->error->isbusy = (Peloton__Api__Respool__ResourcePoolIsBusy *)err_msg(
		    &peloton__api__respool__resource_pool_is_busy__descriptor, false, id, err.msg);
		break;
	case RESPOOL_IS_NOT_LEAF:
		resp->error->isnotleaf = (Peloton__Api__Respool__ResourcePoolIsNotLeaf *)err_msg(
		    &peloton__api__respool__resource_pool_is_not_leaf__descriptor, false, id,
		    err.msg);
		break;
	case RESPOOL_NOT_FOUND: /* the root */
		resp->error->notdeleted = (Peloton__Api__Respool__ResourcePoolNotDeleted *)err_msg(
		    &peloton__api__respool__resource_pool_not_deleted__descriptor, false, id,
		    err.msg);
		break;
	default: /* path not found or invalid */
		resp->error->notfound = (Peloton__Api__Respool__ResourcePoolPathNotFound *)err_msg(
		    &peloton__api__respool__resource_pool_path_not_found__descriptor, true, path,
		    err.msg);
		break;
	}
	if (!resp->error->isbusy && !resp->error->isnotleaf && !resp->error->notdeleted &&
	    !resp->error->notfound)
		goto nomem;
	return resp;
nomem:
	PB_FREE(resp);
	return NULL;
}

Peloton__Api__Respool__UpdateResponse *
respoolsvc_update(struct respool_tree *t, const Peloton__Api__Respool__UpdateRequest *r)
{
	Peloton__Api__Respool__UpdateResponse *resp =
	    PB_NEW(Peloton__Api__Respool__UpdateResponse,
	           peloton__api__respool__update_response__descriptor);
	struct respool_config cfg;
	struct respool_error err = {0};
	const char *id = r && r->id ? r->id->value : "";
	char why[256];
	void *payload;

	if (resp == NULL)
		return NULL;
	int rc = config_of(r ? r->config : NULL, &cfg, &payload, why, sizeof(why));
	if (rc == 0)
		rc = respool_update(t, id, &cfg, &err);
	else
		invalid_config(&err, why);
	free(payload);
	if (rc == 0)
		return resp;
	resp->error = PB_NEW(Peloton__Api__Respool__UpdateResponse__Error,
	                     peloton__api__respool__update_response__error__descriptor);
	if (resp->error == NULL)
		goto nomem;
	if (err.code == RESPOOL_NOT_FOUND && strstr(err.msg, "parent") == NULL)
		resp->error->notfound = (Peloton__Api__Respool__ResourcePoolNotFound *)err_msg(
		    &peloton__api__respool__resource_pool_not_found__descriptor, false, id,
		    err.msg);
	else
		resp->error->invalidresourcepoolconfig =
		    (Peloton__Api__Respool__InvalidResourcePoolConfig *)err_msg(
		        &peloton__api__respool__invalid_resource_pool_config__descriptor, false, id,
		        err.msg);
	if (!resp->error->notfound && !resp->error->invalidresourcepoolconfig)
		goto nomem;
	return resp;
nomem:
	PB_FREE(resp);
	return NULL;
}

Peloton__Api__Respool__LookupResponse *
respoolsvc_lookup(struct respool_tree *t, const Peloton__Api__Respool__LookupRequest *r)
{
	Peloton__Api__Respool__LookupResponse *resp =
	    PB_NEW(Peloton__Api__Respool__LookupResponse,
	           peloton__api__respool__lookup_response__descriptor);
	const char *path = r && r->path ? r->path->value : "";
	struct respool_error err = {0};
	char id[40];

	if (resp == NULL)
		return NULL;
	if (respool_lookup(t, path, id, sizeof(id), &err) == 0) {
		if ((resp->id = pool_id(id)) == NULL)
			goto nomem;
		return resp;
	}
	resp->error = PB_NEW(Peloton__Api__Respool__LookupResponse__Error,
	                     peloton__api__respool__lookup_response__error__descriptor);
	if (resp->error == NULL)
		goto nomem;
	if (err.code == RESPOOL_INVALID_PATH)
		resp->error->invalidpath =
		    (Peloton__Api__Respool__InvalidResourcePoolPath *)err_msg(
		        &peloton__api__respool__invalid_resource_pool_path__descriptor, true, path,
		        err.msg);
	else
		resp->error->notfound = (Peloton__Api__Respool__ResourcePoolPathNotFound *)err_msg(
		    &peloton__api__respool__resource_pool_path_not_found__descriptor, true, path,
		    err.msg);
	if (!resp->error->invalidpath && !resp->error->notfound)
		goto nomem;
	return resp;
nomem:
	PB_FREE(resp);
	return NULL;
}

Peloton__Api__Respool__QueryResponse *respoolsvc_query(struct respool_tree *t,
                                                       const Peloton__Api__Respool__QueryRequest *r)
{
	Peloton__Api__Respool__QueryResponse *resp =
	    PB_NEW(Peloton__Api__Respool__QueryResponse,
	           peloton__api__respool__query_response__descriptor);
	size_t n = 0;
	char **ids;

	(void)r;
	if (resp == NULL)
		return NULL;
	ids = respool_list(t, &n);
	resp->resourcepools = calloc(n ? n : 1, sizeof(*resp->resourcepools));
	for (size_t i = 0; i < n; i++) {
		info_pb *info = resp->resourcepools ? info_of(t, ids[i]) : NULL;
		if (info != NULL)
			resp->resourcepools[resp->n_resourcepools++] = info;
		free(ids[i]);
	}
	free(ids);
	if (resp->resourcepools == NULL) {
		PB_FREE(resp);
		return NULL;
	}
	return resp;
}
