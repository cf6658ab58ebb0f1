/*
 * log: a line carries its fields (job) as JSON keys of their own; when
 * stderr is the journal (JOURNAL_STREAM names it) each line starts with its
 * syslog priority; a temporary level reverts by itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* stderr into a temporary file for a test's lines (saved fd returned). */
static int capture_begin(char *path, int *fd)
{
	*fd = mkstemp(path);
	assert_true(*fd >= 0);
	int saved = dup(STDERR_FILENO);
	assert_int_equal(dup2(*fd, STDERR_FILENO), STDERR_FILENO);
	return saved;
}

/* stderr back; what was written into buf (len bytes at most). */
static void capture_end(const char *path, int fd, int saved, char *buf, size_t len)
{
	dup2(saved, STDERR_FILENO);
	close(saved);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	close(fd);
	unlink(path);
	buf[n] = 0;
}

static void test_fields_and_journal_priority(void **state)
{
	(void)state;
	char path[] = "/tmp/test_log.XXXXXX";
	int fd, saved = capture_begin(path, &fd);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	char js[64];
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1); /* before the first line: it is read once */
	log_job(LOG_ERROR, "t", "j-1", "job %s: broke", "j-1");
	log_write_kv(LOG_WARN, "t", (const char *const[]){"job", "j-2", "instance", NULL, NULL},
	             "second line");
	char buf[1024];
	capture_end(path, fd, saved, buf, sizeof(buf));
	assert_true(strncmp(buf, "<3>{", 4) == 0);
	assert_non_null(strstr(buf, "\"job\":\"j-1\",\"msg\":\"job j-1: broke\""));
	char *second = strchr(buf, '\n');
	assert_non_null(second);
	assert_true(strncmp(second + 1, "<4>{", 4) == 0);
	assert_non_null(strstr(second, "\"job\":\"j-2\",\"msg\""));
	assert_null(strstr(second, "\"instance\""));
}

/* A task's line: job, instance, task and host as fields; no host when unknown. */
static void test_task_fields(void **state)
{
	(void)state;
	char path[] = "/tmp/test_log.XXXXXX";
	int fd, saved = capture_begin(path, &fd);
	log_task(LOG_WARN, "t", "j", 7, "host-1", "one");
	log_task(LOG_WARN, "t", "j", 8, NULL, "two");
	char buf[1024];
	capture_end(path, fd, saved, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"job\":\"j\",\"instance\":\"7\",\"task\":\"j-7\",\"host\":"
	                            "\"host-1\",\"msg\":\"one\""));
	assert_non_null(strstr(buf, "\"task\":\"j-8\",\"msg\":\"two\""));
}

static void test_temporary_level(void **state)
{
	(void)state;
	log_set_level(LOG_WARN);
	log_set_level_for(LOG_DEBUG, 0.05);
	assert_int_equal(log_get_level(), LOG_DEBUG);
	struct timespec d = {0, 80000000};
	nanosleep(&d, NULL);
	assert_int_equal(log_get_level(), LOG_WARN);
	/* a set cancels a temporary level */
	log_set_level_for(LOG_DEBUG, 60);
	log_set_level(LOG_ERROR);
	assert_int_equal(log_get_level(), LOG_ERROR);
	log_set_level(LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fields_and_journal_priority),
	    cmocka_unit_test(test_task_fields),
	    cmocka_unit_test(test_temporary_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
