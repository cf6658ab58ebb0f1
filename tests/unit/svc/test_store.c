/*
 * store: CRUD per column family, key order of each layout (a job's tasks in
 * instance order, by state, events newest first), versions (stale writes
 * refused whole, also within one commit group), zstd round trip, prefix
 * deletes, an unreadable value skipped and counted, reopen keeps it all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rocksdb/c.h>

#include "proto_codec.h"
#include "respoolsvc.h"
#include "store.h"

static char dir[64];
static struct store *st;

static struct store *open_store(void)
{
	char err[256];
	struct store_config c = {.path = dir};
	struct store *s = store_open(&c, err, sizeof(err));
	if (s == NULL)
		fail_msg("%s", err);
	return s;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pel-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	st = open_store();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void put1(enum store_cf cf, const char *k, size_t kl, const char *v, uint64_t ver,
                 uint64_t expect, enum store_status want)
{
	struct store_batch *b = store_batch_new(st);
	assert_int_equal(store_put(b, cf, k, kl, v, strlen(v), ver, expect), 0);
	assert_int_equal(store_commit(st, b), want);
}

static void test_crud_and_versions(void **state)
{
	(void)state;
	void *v;
	size_t n;
	uint64_t ver;
	put1(STORE_POOLS, "p1", 2, "config-a", 1, STORE_ABSENT, STORE_OK);
	assert_int_equal(store_get(st, STORE_POOLS, "p1", 2, &v, &n, &ver), STORE_OK);
	assert_int_equal(n, 8);
	assert_memory_equal(v, "config-a", 8);
	assert_int_equal(ver, 1);
	free(v);
	/* create again: the key exists, refused */
	put1(STORE_POOLS, "p1", 2, "config-x", 1, STORE_ABSENT, STORE_ESTALE);
	/* update from version 1: ok; a second writer still holding 1: refused */
	put1(STORE_POOLS, "p1", 2, "config-b", 2, 1, STORE_OK);
	put1(STORE_POOLS, "p1", 2, "config-c", 2, 1, STORE_ESTALE);
	assert_int_equal(store_get(st, STORE_POOLS, "p1", 2, &v, &n, &ver), STORE_OK);
	assert_memory_equal(v, "config-b", 8);
	assert_int_equal(ver, 2);
	free(v);
	/* a refused batch writes none of its ops */
	struct store_batch *b = store_batch_new(st);
	store_put(b, STORE_VOLUMES, "vol", 3, "x", 1, 0, STORE_ANY_VERSION);
	store_put(b, STORE_POOLS, "p1", 2, "config-d", 8, 3, 1);
	assert_int_equal(store_commit(st, b), STORE_ESTALE);
	assert_int_equal(store_get(st, STORE_VOLUMES, "vol", 3, &v, &n, NULL), STORE_ENOENT);
	/* delete */
	b = store_batch_new(st);
	store_del(b, STORE_POOLS, "p1", 2);
	assert_int_equal(store_commit(st, b), STORE_OK);
	assert_int_equal(store_get(st, STORE_POOLS, "p1", 2, &v, &n, NULL), STORE_ENOENT);
	struct store_stats ss;
	store_get_stats(st, &ss);
	assert_int_equal(ss.stale, 3);
}

struct seen {
	uint32_t vals[64];
	size_t n;
};

static bool collect(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t version)
{
	struct seen *s = arg;
	(void)key;
	(void)klen;
	(void)version;
	uint32_t x = 0;
	if (vlen > 0)
		x = (uint32_t)strtoul(val, NULL, 10);
	s->vals[s->n++] = x;
	return s->n < 64;
}

struct seen_tasks {
	uint32_t inst[16], rt[16];
	uint64_t ver[16];
	size_t n, stop_after;
};

static bool collect_task(void *arg, uint32_t instance, const void *runtime, size_t len,
                         uint64_t version)
{
	struct seen_tasks *s = arg;
	char text[16] = {0};
	memcpy(text, runtime, len < 15 ? len : 15);
	s->inst[s->n] = instance;
	s->rt[s->n] = (uint32_t)strtoul(text, NULL, 10);
	s->ver[s->n] = version;
	s->n++;
	return s->n < 16 && s->n != s->stop_after;
}

static void test_layouts(void **state)
{
	(void)state;
	char rt[16], ev[16];
	/* job A: 12 instances written out of order; job AB shares a prefix */
	for (uint32_t i = 0; i < 12; i++) {
		uint32_t inst = (i * 7) % 12;
		struct store_batch *b = store_batch_new(st);
		snprintf(rt, sizeof(rt), "%u", inst);
		assert_int_equal(store_task_update(b, "A", inst, rt, strlen(rt), 1, STORE_ABSENT,
		                                   inst % 3 == 0 ? 8 : 1, NULL, 0, 0, 0),
		                 0);
		assert_int_equal(store_commit(st, b), STORE_OK);
	}
	struct store_batch *b = store_batch_new(st);
	store_task_update(b, "AB", 0, "99", 2, 1, STORE_ABSENT, 8, NULL, 0, 0, 0);
	assert_int_equal(store_commit(st, b), STORE_OK);
	char k[64];
	size_t kl = store_key_job_prefix(k, "A");
	struct seen s = {0};
	assert_int_equal(store_scan(st, STORE_TASK_RUNTIME, k, kl, false, collect, &s), 12);
	for (uint32_t i = 0; i < 12; i++)
		assert_int_equal(s.vals[i], i); /* instance order, not AB's */
	/* the whole family (the memtable hashes jobs apart: total order is asked for) */
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_scan(st, STORE_TASK_RUNTIME, "", 0, false, collect, &s), 13);
	assert_int_equal(s.vals[12], 99); /* "AB\0" sorts after every "A\0" key */
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_scan(st, STORE_TASK_RUNTIME, "", 0, true, collect, &s), 13);
	assert_int_equal(s.vals[0], 99);
	assert_int_equal(s.vals[1], 11);
	/* tasks of A in state 8 (RUNNING's number is irrelevant here): 0,3,6,9 in
	 * instance order, with their runtimes; not AB's task in state 8 */
	struct seen_tasks ts = {0};
	assert_int_equal(store_tasks_by_state(st, "A", 8, collect_task, &ts), 4);
	for (uint32_t i = 0; i < 4; i++) {
		assert_int_equal(ts.inst[i], 3 * i);
		assert_int_equal(ts.rt[i], 3 * i);
		assert_int_equal(ts.ver[i], 1);
	}
	/* move instance 3 from 8 to 1: it leaves state 8 and joins state 1 */
	b = store_batch_new(st);
	store_task_update(b, "A", 3, "3", 1, 2, 1, 1, NULL, 0, 0, 0);
	assert_int_equal(store_commit(st, b), STORE_OK);
	memset(&ts, 0, sizeof(ts));
	assert_int_equal(store_tasks_by_state(st, "A", 8, collect_task, &ts), 3);
	assert_int_equal(ts.inst[1], 6);
	memset(&ts, 0, sizeof(ts));
	assert_int_equal(store_tasks_by_state(st, "A", 1, collect_task, &ts), 9);
	assert_int_equal(ts.inst[1], 2);
	assert_int_equal(ts.inst[2], 3);
	assert_int_equal(ts.ver[2], 2);
	assert_int_equal(store_tasks_by_state(st, "A", 5, collect_task, &ts), 0);
	assert_int_equal(store_tasks_by_state(st, "nojob", 1, collect_task, &ts), 0);
	/* a runtime put without a state is in no state; the scan can stop early */
	b = store_batch_new(st);
	kl = store_key_task(k, "A", 4);
	store_put(b, STORE_TASK_RUNTIME, k, kl, "4", 1, 2, 1);
	assert_int_equal(store_commit(st, b), STORE_OK);
	memset(&ts, 0, sizeof(ts));
	ts.stop_after = 2;
	assert_int_equal(store_tasks_by_state(st, "A", 1, collect_task, &ts), 2);
	assert_int_equal(ts.inst[1], 2);
	/* events newest first, whatever the write order */
	uint64_t times[5] = {30, 10, 50, 20, 40};
	for (int i = 0; i < 5; i++) {
		b = store_batch_new(st);
		snprintf(ev, sizeof(ev), "%llu", (unsigned long long)times[i]);
		kl = store_key_task_event(k, "A", 5, times[i], 0);
		store_put(b, STORE_TASK_EVENTS, k, kl, ev, strlen(ev), 0, STORE_ANY_VERSION);
		assert_int_equal(store_commit(st, b), STORE_OK);
	}
	kl = store_key_task_prefix(k, "A", 5);
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_scan(st, STORE_TASK_EVENTS, k, kl, false, collect, &s), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(s.vals[i], 50 - 10 * i);
	/* reverse scan: oldest first */
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_scan(st, STORE_TASK_EVENTS, k, kl, true, collect, &s), 5);
	assert_int_equal(s.vals[0], 10);
	/* delete job A's tasks by prefix: AB's survive */
	b = store_batch_new(st);
	kl = store_key_job_prefix(k, "A");
	store_del_prefix(b, STORE_TASK_RUNTIME, k, kl);
	assert_int_equal(store_commit(st, b), STORE_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_scan(st, STORE_TASK_RUNTIME, k, kl, false, collect, &s), 0);
	kl = store_key_job_prefix(k, "AB");
	assert_int_equal(store_scan(st, STORE_TASK_RUNTIME, k, kl, false, collect, &s), 1);
}

static void test_compression_and_reopen(void **state)
{
	(void)state;
	size_t big = 200000;
	char *cfg = malloc(big);
	for (size_t i = 0; i < big; i++)
		cfg[i] = (char)("instanceConfig "[i % 15] + (i / 5000) % 3);
	char k[64];
	size_t kl = store_key_job_config(k, "job-1", 1);
	struct store_batch *b = store_batch_new(st);
	store_put(b, STORE_JOB_CONFIG, k, kl, cfg, big, 1, STORE_ABSENT);
	assert_int_equal(store_framework_id_put(b, "fw-123"), 0);
	assert_int_equal(store_commit(st, b), STORE_OK);
	struct store_stats ss;
	store_get_stats(st, &ss);
	assert_int_equal(ss.compressed, 1);
	/* reopen: everything is there */
	store_close(st);
	st = open_store();
	void *v;
	size_t n;
	uint64_t ver;
	assert_int_equal(store_get(st, STORE_JOB_CONFIG, k, kl, &v, &n, &ver), STORE_OK);
	assert_int_equal(n, big);
	assert_memory_equal(v, cfg, big);
	assert_int_equal(ver, 1);
	free(v);
	char fw[64];
	assert_int_equal(store_framework_id_get(st, fw, sizeof(fw)), STORE_OK);
	assert_string_equal(fw, "fw-123");
	free(cfg);
}

static void test_same_group_versions(void **state)
{
	(void)state;
	/* two updates of one key from version 0 queued together: one wins */
	enum store_status r[2];
	struct store_batch *b[2];
	for (int i = 0; i < 2; i++) {
		b[i] = store_batch_new(st);
		store_put(b[i], STORE_UPDATES, "u", 1, "v", 1, 1, STORE_ABSENT);
	}
	store_submit(st, b[0], NULL, NULL);
	r[0] = STORE_OK;
	r[1] = store_commit(st, b[1]);
	assert_int_equal(r[1], STORE_ESTALE); /* saw the first, in its group or earlier */
}

/*
 * A group's ops are written in key order: ops on one key keep their
 * submission order (the last put wins, a put after a delete stands), and
 * keys submitted out of order all land.
 */
static void test_group_order(void **state)
{
	(void)state;
	static const char *const keys[] = {"k9", "k1", "k5", "k1", "k3"};
	for (int i = 0; i < 5; i++) {
		struct store_batch *b = store_batch_new(st);
		char v[8];
		snprintf(v, sizeof(v), "v%d", i);
		store_put(b, STORE_UPDATES, keys[i], 2, v, strlen(v), 0, STORE_ANY_VERSION);
		if (i == 4) {
			store_del(b, STORE_UPDATES, "k5", 2);
			store_put(b, STORE_UPDATES, "k5", 2, "again", 5, 0, STORE_ANY_VERSION);
		}
		store_submit(st, b, NULL, NULL);
	}
	struct store_batch *b = store_batch_new(st);
	store_del(b, STORE_UPDATES, "k3", 2);
	assert_int_equal(store_commit(st, b), STORE_OK);
	void *v;
	size_t n;
	assert_int_equal(store_get(st, STORE_UPDATES, "k1", 2, &v, &n, NULL), STORE_OK);
	assert_int_equal(n, 2);
	assert_memory_equal(v, "v3", 2);
	free(v);
	assert_int_equal(store_get(st, STORE_UPDATES, "k5", 2, &v, &n, NULL), STORE_OK);
	assert_memory_equal(v, "again", 5);
	free(v);
	assert_int_equal(store_get(st, STORE_UPDATES, "k9", 2, &v, &n, NULL), STORE_OK);
	free(v);
	assert_int_equal(store_get(st, STORE_UPDATES, "k3", 2, &v, &n, NULL), STORE_ENOENT);
}

/* Many batches at once (large groups, sorted before the write): each key
 * ends with what the last batch that touched it left, in every family. */
static void test_group_order_random(void **state)
{
	(void)state;
	enum { KEYS = 40, BATCHES = 3000 };
	int last[2][KEYS]; /* -1: deleted or never written */
	memset(last, 0xff, sizeof(last));
	static const enum store_cf fams[2] = {STORE_UPDATES, STORE_VOLUMES};
	uint32_t r = 12345;
	for (int i = 0; i < BATCHES; i++) {
		struct store_batch *b = store_batch_new(st);
		for (int j = 0; j < 3; j++) {
			r = r * 1103515245u + 12345u;
			int f = (r >> 8) & 1, k = (int)((r >> 12) % KEYS);
			char key[8], v[16];
			snprintf(key, sizeof(key), "r%02d", k);
			if ((r >> 20) % 5 == 0) {
				store_del(b, fams[f], key, strlen(key));
				last[f][k] = -1;
			} else {
				snprintf(v, sizeof(v), "%d", i * 3 + j);
				store_put(b, fams[f], key, strlen(key), v, strlen(v), 0,
				          STORE_ANY_VERSION);
				last[f][k] = i * 3 + j;
			}
		}
		store_submit(st, b, NULL, NULL);
	}
	struct store_batch *b = store_batch_new(st);
	assert_int_equal(store_commit(st, b), STORE_OK); /* after everything above */
	for (int f = 0; f < 2; f++)
		for (int k = 0; k < KEYS; k++) {
			char key[8];
			void *v;
			size_t n;
			snprintf(key, sizeof(key), "r%02d", k);
			enum store_status got =
			    store_get(st, fams[f], key, strlen(key), &v, &n, NULL);
			if (last[f][k] < 0) {
				assert_int_equal(got, STORE_ENOENT);
				continue;
			}
			assert_int_equal(got, STORE_OK);
			char text[16] = {0};
			memcpy(text, v, n < 15 ? n : 15);
			assert_int_equal(atoi(text), last[f][k]);
			free(v);
		}
	struct store_stats ss;
	store_get_stats(st, &ss);
	assert_true(ss.groups < ss.batches); /* batches did share groups */
}

/* Writes raw bytes under the store's feet (a torn or foreign value). */
static void forge(const char *key, const char *val, size_t vlen)
{
	const char *names[STORE_N_CF];
	const rocksdb_options_t *opts[STORE_N_CF];
	rocksdb_column_family_handle_t *cf[STORE_N_CF];
	rocksdb_options_t *o = rocksdb_options_create();
	char *err = NULL;
	for (int i = 0; i < STORE_N_CF; i++) {
		names[i] = store_cf_name((enum store_cf)i);
		opts[i] = o;
	}
	rocksdb_t *db = rocksdb_open_column_families(o, dir, STORE_N_CF, names, opts, cf, &err);
	assert_null(err);
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_put_cf(db, wo, cf[STORE_VOLUMES], key, strlen(key), val, vlen, &err);
	assert_null(err);
	for (int i = 0; i < STORE_N_CF; i++)
		rocksdb_column_family_handle_destroy(cf[i]);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_close(db);
	rocksdb_options_destroy(o);
}

static void test_bad_values(void **state)
{
	(void)state;
	void *v;
	size_t n;
	struct store_batch *b = store_batch_new(st);
	store_put(b, STORE_VOLUMES, "good", 4, "ok", 2, 0, STORE_ANY_VERSION);
	assert_int_equal(store_commit(st, b), STORE_OK);
	store_close(st);
	/* a header claiming zstd over bytes that are not, and a value too short */
	char notzstd[16] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 'n', 'o', 't', 'z', 's', 't', 'd'};
	forge("bad-zstd", notzstd, sizeof(notzstd));
	forge("bad-short", "\0\0", 2);
	/* a tagged header cut inside its tag; an unknown format */
	forge("bad-tag", "\x80\0\0\0\0\0\0\0\0\0\0", 11);
	forge("bad-fmt", "\x85\0\0\0\0\0\0\0\0\0\0\0\0x", 14);
	st = open_store();
	assert_int_equal(store_get(st, STORE_VOLUMES, "bad-zstd", 8, &v, &n, NULL), STORE_ECORRUPT);
	assert_int_equal(store_get(st, STORE_VOLUMES, "bad-tag", 7, &v, &n, NULL), STORE_ECORRUPT);
	struct seen s = {0};
	assert_int_equal(store_scan(st, STORE_VOLUMES, "", 0, false, collect, &s), 1);
	struct store_stats ss;
	store_get_stats(st, &ss);
	assert_int_equal(ss.corrupt, 6); /* the gets and four in the scan: skipped, counted */
	/* bad input to the API itself: refused, nothing written */
	b = store_batch_new(st);
	assert_int_equal(store_put(b, STORE_N_CF, "k", 1, "v", 1, 0, STORE_ANY_VERSION), -1);
	assert_int_equal(store_commit(st, b), STORE_ENOMEM);
	b = store_batch_new(st);
	assert_int_equal(store_put(b, STORE_VOLUMES, "", 0, "v", 1, 0, STORE_ANY_VERSION), -1);
	assert_int_equal(store_commit(st, b), STORE_ENOMEM);
	/* a path that cannot be a database: a clear error */
	char err[256];
	struct store_config c = {.path = "/proc/no/such/dir"};
	assert_null(store_open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open"));
	c.path = NULL;
	assert_null(store_open(&c, err, sizeof(err)));
}

/* A database from before the task_state family was retired opens, and loses it. */
static void test_retired_family(void **state)
{
	(void)state;
	store_close(st);
	const char *names[STORE_N_CF + 1];
	const rocksdb_options_t *opts[STORE_N_CF + 1];
	rocksdb_column_family_handle_t *cf[STORE_N_CF + 1];
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_options_set_create_missing_column_families(o, 1);
	char *err = NULL;
	for (int i = 0; i < STORE_N_CF; i++) {
		names[i] = store_cf_name((enum store_cf)i);
		opts[i] = o;
	}
	names[STORE_N_CF] = "task_state";
	opts[STORE_N_CF] = o;
	rocksdb_t *db = rocksdb_open_column_families(o, dir, STORE_N_CF + 1, names, opts, cf, &err);
	assert_null(err);
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_put_cf(db, wo, cf[STORE_N_CF], "job\0", 4, "", 0, &err);
	rocksdb_put_cf(db, wo, cf[STORE_POOLS], "kept", 4, "\0\0\0\0\0\0\0\0\0p", 10, &err);
	assert_null(err);
	for (int i = 0; i <= STORE_N_CF; i++)
		rocksdb_column_family_handle_destroy(cf[i]);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_close(db);
	st = open_store();
	void *v;
	size_t n;
	assert_int_equal(store_get(st, STORE_POOLS, "kept", 4, &v, &n, NULL), STORE_OK);
	free(v);
	store_close(st);
	size_t nf = 0;
	char **have = rocksdb_list_column_families(o, dir, &nf, &err);
	assert_null(err);
	assert_int_equal(nf, STORE_N_CF);
	for (size_t i = 0; i < nf; i++)
		assert_string_not_equal(have[i], "task_state");
	rocksdb_list_column_families_destroy(have, nf);
	rocksdb_options_destroy(o);
	st = open_store();
}

/* A packed ResourcePoolConfig named `name` under `parent`. */
static void *pool_cfg(const char *name, const char *parent, size_t *len)
{
	Peloton__Api__Respool__ResourcePoolConfig c =
	    PELOTON__API__RESPOOL__RESOURCE_POOL_CONFIG__INIT;
	Peloton__Api__Peloton__ResourcePoolID pid = PELOTON__API__PELOTON__RESOURCE_POOL_ID__INIT;
	Peloton__Api__Respool__ResourceConfig r = PELOTON__API__RESPOOL__RESOURCE_CONFIG__INIT,
	                                      *rp = &r;
	r.kind = "cpu";
	r.reservation = 1;
	r.limit = 10;
	r.share = 1;
	c.name = (char *)name;
	pid.value = (char *)parent;
	c.parent = &pid;
	c.n_resources = 1;
	c.resources = &rp;
	return proto_pack_alloc(&c.base, len);
}

struct rec {
	int jobs, tasks;
	uint32_t inst_sum;
};

static bool rec_job(void *arg, const char *job, const void *rt, size_t len, uint64_t version)
{
	struct rec *r = arg;
	(void)rt;
	(void)len;
	(void)version;
	r->jobs++;
	return strcmp(job, "done-job") != 0; /* terminal: its tasks stay on disk */
}

static void rec_task(void *arg, const char *job, uint32_t inst, const void *rt, size_t len,
                     uint64_t version)
{
	struct rec *r = arg;
	(void)rt;
	(void)len;
	(void)version;
	assert_string_equal(job, "live-job");
	r->tasks++;
	r->inst_sum += inst;
}

static void test_recovery_and_purge(void **state)
{
	(void)state;
	/* pools stored child first (ids sort "a" < "z"), a live and a done job */
	size_t l1, l2, l3;
	void *child = pool_cfg("compute", "z-parent", &l1);
	void *parent = pool_cfg("infra", "root", &l2);
	void *orphan = pool_cfg("lost", "no-such-pool", &l3);
	struct store_batch *b = store_batch_new(st);
	store_put(b, STORE_POOLS, "a-child", 7, child, l1, 1, STORE_ABSENT);
	store_put(b, STORE_POOLS, "z-parent", 8, parent, l2, 1, STORE_ABSENT);
	store_put(b, STORE_POOLS, "m-orphan", 8, orphan, l3, 1, STORE_ABSENT);
	const char *jobs[2] = {"live-job", "done-job"};
	for (int j = 0; j < 2; j++) {
		store_put(b, STORE_JOB_RUNTIME, jobs[j], strlen(jobs[j]), "rt", 2, 1, STORE_ABSENT);
		for (uint32_t i = 0; i < 5; i++)
			store_task_update(b, jobs[j], i, "t", 1, 1, STORE_ABSENT, 1, "e", 1,
			                  1000 + i, 0);
	}
	/* an index key and its record as pelotond 0.1 wrote them: purged with the job */
	static const char ikey[] = "lteam=infra\0done-job";
	size_t iklen = sizeof(ikey) - 1;
	char rec[2 + sizeof(ikey)] = {0, (char)iklen};
	memcpy(rec + 2, ikey, iklen);
	store_put(b, STORE_JOB_INDEX, ikey, iklen, "", 0, 0, STORE_ANY_VERSION);
	store_put(b, STORE_JOB_INDEX, "rdone-job", 9, rec, 2 + iklen, 0, STORE_ANY_VERSION);
	assert_int_equal(store_commit(st, b), STORE_OK);
	free(child);
	free(parent);
	free(orphan);

	/* restart */
	store_close(st);
	st = open_store();
	struct respool_tree *t = respool_tree_create();
	size_t failed;
	assert_int_equal(respoolsvc_recover(t, st, &failed), 2);
	assert_int_equal(failed, 1); /* the orphan, with its reason logged */
	char path[128];
	assert_int_equal(respool_path(t, "a-child", path, sizeof(path)), 0);
	assert_string_equal(path, "/infra/compute");
	respool_tree_destroy(t);
	struct rec r = {0};
	struct store_recover_ops ops = {.job = rec_job, .task = rec_task};
	struct store_recover_stats rs;
	assert_int_equal(store_recover(st, &ops, &r, &rs), 0);
	assert_int_equal(r.jobs, 2);
	assert_int_equal(r.tasks, 5);
	assert_int_equal(r.inst_sum, 0 + 1 + 2 + 3 + 4);
	assert_int_equal(rs.pools, 3);

	/* purge: done-job goes, whole, its legacy index keys too */
	assert_int_equal(store_purge_job(st, "done-job"), STORE_OK);
	char k[64];
	size_t kl = store_key_job_prefix(k, "done-job");
	struct seen sn = {0};
	assert_int_equal(store_scan(st, STORE_TASK_RUNTIME, k, kl, false, collect, &sn), 0);
	assert_int_equal(store_scan(st, STORE_TASK_EVENTS, k, kl, false, collect, &sn), 0);
	kl = store_key_job_prefix(k, "live-job");
	assert_int_equal(store_scan(st, STORE_TASK_RUNTIME, k, kl, false, collect, &sn), 5);
	void *v;
	assert_int_equal(store_get(st, STORE_JOB_INDEX, ikey, iklen, &v, NULL, NULL), STORE_ENOENT);
	assert_int_equal(store_get(st, STORE_JOB_INDEX, "rdone-job", 9, &v, NULL, NULL),
	                 STORE_ENOENT);
	assert_int_equal(store_get(st, STORE_JOB_RUNTIME, "done-job", 8, &v, NULL, NULL),
	                 STORE_ENOENT);
	/* a versioned create of a purged task starts again from absent */
	b = store_batch_new(st);
	store_task_update(b, "done-job", 0, "t", 1, 1, STORE_ABSENT, 1, NULL, 0, 0, 0);
	assert_int_equal(store_commit(st, b), STORE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_crud_and_versions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_layouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compression_and_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_order_random, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_same_group_versions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retired_family, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_and_purge, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
