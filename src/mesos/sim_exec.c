/* Running a task's command for mesos-sim --exec; see sim_exec.h. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addchdir_np */
#include "sim_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

void sim_exec_sandbox(const char *root, const char *agent_id, const char *task_id, char *dir,
                      size_t len)
{
	snprintf(dir, len, "%s/%s/%s", root, agent_id, task_id);
}

/* mkdir -p of an absolute or relative path; 0 or -1. */
static int mkdirs(const char *path)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0755) != 0 && errno != EEXIST)
				return -1;
			*s = '/';
		}
	return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* A path component from an id: no '/', no "..". */
static bool safe(const char *id)
{
	return id && id[0] && !strchr(id, '/') && strcmp(id, ".") && strcmp(id, "..");
}

/*
 * "NAME=value" strings: the TaskInfo's variables; the docker parameters
 * `env` (or `e`) a docker containerizer passes to `docker run --env`; then
 * MESOS_*, PATH and HOME.
 */
static char **environment(const Mesos__V1__TaskInfo *ti, const char *dir, const char *task_id)
{
	const Mesos__V1__Environment *e =
	    ti->command && ti->command->environment ? ti->command->environment : NULL;
	const Mesos__V1__ContainerInfo__DockerInfo *d =
	    ti->container ? ti->container->docker : NULL;
	size_t n = e ? e->n_variables : 0, np = d ? d->n_parameters : 0;
	char **env = calloc(n + np + 5, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; env && i < n; i++) {
		const Mesos__V1__Environment__Variable *v = e->variables[i];
		if (!v->name || !v->name[0] || strchr(v->name, '='))
			continue;
		if (asprintf(&env[k], "%s=%s", v->name, v->value ? v->value : "") >= 0)
			k++;
	}
	for (size_t i = 0; env && i < np; i++) {
		const Mesos__V1__Parameter *p = d->parameters[i];
		const char *eq = p->value ? strchr(p->value, '=') : NULL;
		if (!p->key || (strcmp(p->key, "env") && strcmp(p->key, "e")) || !eq ||
		    eq == p->value)
			continue;
		if ((env[k] = strdup(p->value)) != NULL)
			k++;
	}
	if (env) {
		const char *path = getenv("PATH");
		if (asprintf(&env[k], "MESOS_SANDBOX=%s", dir) >= 0)
			k++;
		if (asprintf(&env[k], "MESOS_TASK_ID=%s", task_id) >= 0)
			k++;
		if (asprintf(&env[k], "PATH=%s", path ? path : "/usr/bin:/bin") >= 0)
			k++;
		if (asprintf(&env[k], "HOME=%s", dir) >= 0)
			k++;
	}
	return env;
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

pid_t sim_exec_start(const char *root, const char *agent_id, const char *task_id,
                     const Mesos__V1__TaskInfo *ti, char *dir, size_t dlen, char *why, size_t wl)
{
	const Mesos__V1__CommandInfo *cmd = ti->command;
	bool shell = !cmd || !cmd->has_shell || cmd->shell;
	if (!cmd || !cmd->value || !cmd->value[0]) {
		snprintf(why, wl, "the task has no command");
		return -1;
	}
	if (!safe(agent_id) || !safe(task_id)) {
		snprintf(why, wl, "an id that cannot name a sandbox directory");
		return -1;
	}
	sim_exec_sandbox(root, agent_id, task_id, dir, dlen);
	if (mkdirs(dir) != 0) {
		snprintf(why, wl, "cannot make the sandbox %s: %s", dir, strerror(errno));
		return -1;
	}
	/* argv: sh -c <value>, or <value> <arguments...> as Mesos runs a non-shell command */
	size_t na = shell ? 3 : cmd->n_arguments + 1;
	char **argv = calloc(na + 1, sizeof(char *));
	char **env = environment(ti, dir, task_id);
	char out[4200], err[4200];
	snprintf(out, sizeof(out), "%s/stdout", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	pid_t pid = -1;
	if (!argv || !env) {
		snprintf(why, wl, "out of memory");
		goto out;
	}
	if (shell) {
		argv[0] = "sh";
		argv[1] = "-c";
		argv[2] = cmd->value;
	} else {
		argv[0] = cmd->value;
		for (size_t i = 1; i < cmd->n_arguments; i++) /* arguments[0] is argv[0] */
			argv[i] = cmd->arguments[i];
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addchdir_np(&fa, dir);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                  POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0); /* a group of its own: a kill reaches its children */
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	int rc = shell ? posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env)
	               : posix_spawnp(&pid, argv[0], &fa, &at, argv, env);
	if (rc != 0) {
		snprintf(why, wl, "cannot run %s: %s", argv[0], strerror(rc));
		pid = -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
out:
	free(argv);
	free_env(env);
	return pid;
}

void sim_exec_kill_now(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

void sim_exec_signal(pid_t pid, int sig)
{
	if (pid > 0)
		kill(-pid, sig);
}

bool sim_exec_ended(pid_t pid, int *code, bool *signaled)
{
	int st = 0;
	if (pid <= 0 || waitpid(pid, &st, WNOHANG) != pid)
		return false;
	*signaled = WIFSIGNALED(st);
	*code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return true;
}
