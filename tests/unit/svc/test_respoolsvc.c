/*
 * v0 ResourceManager (resource pools) edge: create, get with children and
 * usage, lookup, update, delete, query — each error in the response field
 * respool.proto names, with its message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "respoolsvc.h"

#define FREE(m) protobuf_c_message_free_unpacked(&(m)->base, NULL)

struct cfg_buf {
	Peloton__Api__Respool__ResourcePoolConfig c;
	Peloton__Api__Respool__ResourceConfig r[2], *rp[2];
	Peloton__Api__Peloton__ResourcePoolID parent;
};

static Peloton__Api__Respool__ResourcePoolConfig *cfg(struct cfg_buf *b, const char *name,
                                                      const char *parent, const char *kind,
                                                      double res, double lim)
{
	peloton__api__respool__resource_pool_config__init(&b->c);
	peloton__api__peloton__resource_pool_id__init(&b->parent);
	for (int i = 0; i < 2; i++) {
		peloton__api__respool__resource_config__init(&b->r[i]);
		b->rp[i] = &b->r[i];
	}
	b->c.name = (char *)name;
	b->c.owningteam = "team-a";
	b->c.policy = PELOTON__API__RESPOOL__SCHEDULING_POLICY__PriorityFIFO;
	b->r[0] =
	    (Peloton__Api__Respool__ResourceConfig)PELOTON__API__RESPOOL__RESOURCE_CONFIG__INIT;
	b->r[0].kind = (char *)kind;
	b->r[0].reservation = res;
	b->r[0].limit = lim;
	b->r[0].share = 1;
	b->c.n_resources = 1;
	b->c.resources = b->rp;
	if (parent != NULL) {
		b->parent.value = (char *)parent;
		b->c.parent = &b->parent;
	}
	return &b->c;
}

static Peloton__Api__Respool__CreateResponse *create(struct respool_tree *t,
                                                     Peloton__Api__Respool__ResourcePoolConfig *c)
{
	Peloton__Api__Respool__CreateRequest req = PELOTON__API__RESPOOL__CREATE_REQUEST__INIT;
	req.config = c;
	return respoolsvc_create(t, &req);
}

static void test_lifecycle(void **state)
{
	(void)state;
	struct respool_tree *t = respool_tree_create();
	struct cfg_buf b;
	char infra[40];

	Peloton__Api__Respool__CreateResponse *cr =
	    create(t, cfg(&b, "infra", NULL, "cpu", 10, 20));
	assert_null(cr->error);
	strcpy(infra, cr->result->value);
	FREE(cr);
	cr = create(t, cfg(&b, "infra", NULL, "cpu", 1, 2));
	assert_non_null(cr->error->alreadyexists);
	assert_string_equal(cr->error->alreadyexists->message,
	                    "pool 'infra' already exists under /");
	FREE(cr);
	cr = create(t, cfg(&b, "x", NULL, "bogus", 1, 2));
	assert_non_null(cr->error->invalidresourcepoolconfig);
	assert_string_equal(cr->error->invalidresourcepoolconfig->message,
	                    "unknown resource kind 'bogus' (cpu, memory, disk, gpu)");
	FREE(cr);
	cr = create(t, cfg(&b, "compute", infra, "cpu", 5, 10));
	assert_null(cr->error);
	FREE(cr);

	Peloton__Api__Respool__ResourcePoolPath path =
	    PELOTON__API__RESPOOL__RESOURCE_POOL_PATH__INIT;
	Peloton__Api__Respool__LookupRequest lr = PELOTON__API__RESPOOL__LOOKUP_REQUEST__INIT;
	lr.path = &path;
	path.value = "/infra/compute";
	Peloton__Api__Respool__LookupResponse *l = respoolsvc_lookup(t, &lr);
	assert_null(l->error);
	assert_non_null(l->id);
	FREE(l);
	path.value = "infra";
	l = respoolsvc_lookup(t, &lr);
	assert_non_null(l->error->invalidpath);
	FREE(l);
	path.value = "/nope";
	l = respoolsvc_lookup(t, &lr);
	assert_non_null(l->error->notfound);
	assert_string_equal(l->error->notfound->path->value, "/nope");
	FREE(l);

	Peloton__Api__Peloton__ResourcePoolID pid = PELOTON__API__PELOTON__RESOURCE_POOL_ID__INIT;
	Peloton__Api__Respool__GetRequest gr = PELOTON__API__RESPOOL__GET_REQUEST__INIT;
	pid.value = infra;
	gr.id = &pid;
	gr.includechildpools = true;
	Peloton__Api__Respool__GetResponse *g = respoolsvc_get(t, &gr);
	assert_null(g->error);
	assert_string_equal(g->poolinfo->config->name, "infra");
	assert_string_equal(g->poolinfo->config->owningteam, "team-a"); /* kept whole */
	assert_int_equal(g->poolinfo->n_children, 1);
	assert_int_equal(g->n_childpools, 1);
	assert_string_equal(g->childpools[0]->config->name, "compute");
	assert_int_equal(g->poolinfo->n_usage, 4);
	assert_string_equal(g->poolinfo->usage[0]->kind, "cpu");
	FREE(g);
	pid.value = "missing";
	g = respoolsvc_get(t, &gr);
	assert_non_null(g->error->notfound);
	FREE(g);

	Peloton__Api__Respool__UpdateRequest ur = PELOTON__API__RESPOOL__UPDATE_REQUEST__INIT;
	pid.value = infra;
	ur.id = &pid;
	ur.config = cfg(&b, "infra", NULL, "cpu", 4, 20); /* below its child's 5 */
	Peloton__Api__Respool__UpdateResponse *u = respoolsvc_update(t, &ur);
	assert_non_null(u->error->invalidresourcepoolconfig);
	FREE(u);
	pid.value = "missing";
	u = respoolsvc_update(t, &ur);
	assert_non_null(u->error->notfound);
	FREE(u);

	Peloton__Api__Respool__DeleteRequest dr = PELOTON__API__RESPOOL__DELETE_REQUEST__INIT;
	dr.path = &path;
	path.value = "/infra";
	Peloton__Api__Respool__DeleteResponse *d = respoolsvc_delete(t, &dr);
	assert_non_null(d->error->isnotleaf);
	FREE(d);
	path.value = "/infra/compute";
	d = respoolsvc_delete(t, &dr);
	assert_null(d->error);
	FREE(d);
	path.value = "/infra/compute";
	d = respoolsvc_delete(t, &dr);
	assert_non_null(d->error->notfound);
	FREE(d);

	Peloton__Api__Respool__QueryResponse *q = respoolsvc_query(t, NULL);
	assert_int_equal(q->n_resourcepools, 2); /* root and infra */
	FREE(q);
	respool_tree_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lifecycle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
