#!/usr/bin/env python3
"""Long-running jobs and the SLA, end to end on mesos-sim: a SERVICE job's
tasks run again whatever their end and the job stays RUNNING until stopped;
a DAEMON job puts one instance on each host; sla.maximumRunningInstances
holds at every moment (the simulator's peak of tasks alive is the witness).

usage: test_services.py BIN_DIR PYGEN_DIR EXAMPLE_DIR [unittest args]
"""
import json
import os
import sys
import time
import unittest

BIN, PYGEN, EXAMPLES = sys.argv[1], sys.argv[2], sys.argv[3]
del sys.argv[1:4]
sys.path.insert(0, PYGEN)

import pelcluster  # noqa: E402
from pelcluster import Cluster, batch, runs_of, sim_stats, wait_until  # noqa: E402
from peloton.api.job import job_pb2  # noqa: E402
from peloton.api.task import task_pb2  # noqa: E402

pelcluster.BIN, pelcluster.EXAMPLES = BIN, EXAMPLES



def stop_or_start(c, jid, stop, instances=None):
    """TaskManager.Stop or Start of the job, or of instances [a, b)."""
    req = task_pb2.StopRequest() if stop else task_pb2.StartRequest()
    req.jobId.value = jid
    if instances:
        rg = req.ranges.add()
        rg.__setattr__("from", instances[0])
        rg.to = instances[1]
    if stop:
        c.call("/peloton.api.task.TaskManager/Stop", req, task_pb2.StopResponse)
    else:
        c.call("/peloton.api.task.TaskManager/Start", req, task_pb2.StartResponse)


def task_state(c, jid, inst):
    return task_pb2.TaskState.Name(c.task(jid, inst).runtime.state)


def state(c, jid):
    return job_pb2.JobState.Name(c.job(jid).jobInfo.runtime.state)


class OnCluster(unittest.TestCase):
    """Tests sharing one cluster of four agents whose tasks run TASK_SECS."""
    TASK_SECS = 0.3

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(agents=4, task_secs=cls.TASK_SECS)
        cls.pool = cls.c.create_pool()

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()


class Service(OnCluster):

    def test_service_restarts_until_stopped(self):
        c = self.c
        cfg = batch(3, "true")
        cfg["type"] = "SERVICE"
        jid = c.create_job(self.pool, cfg)
        # every instance's process exits (0): each runs again, the job
        # stays RUNNING
        wait_until("a second run of every instance",
                   lambda: len(runs_of(c, jid)) == 3 and min(runs_of(c, jid).values()) >= 2)
        self.assertEqual(state(c, jid), "RUNNING")
        t = c.task(jid, 0)
        self.assertEqual(task_pb2.TaskState.Name(t.runtime.goalState), "RUNNING")
        # one instance stopped: it stays KILLED while the others run on
        stop_or_start(c, jid, True, (1, 2))
        wait_until("instance 1 KILLED", lambda: task_state(c, jid, 1) == "KILLED")
        runs1 = runs_of(c, jid)[1]
        others = runs_of(c, jid)[0]
        wait_until("instance 0 running again", lambda: runs_of(c, jid)[0] > others)
        self.assertEqual(runs_of(c, jid)[1], runs1)
        self.assertEqual(task_state(c, jid, 1), "KILLED")
        self.assertEqual(state(c, jid), "RUNNING")
        # and started again alone
        stop_or_start(c, jid, False, (1, 2))
        wait_until("instance 1 running again", lambda: runs_of(c, jid)[1] > runs1)
        # stopped: KILLED, and no run after that
        stop_or_start(c, jid, True)
        c.wait_job(jid, ["KILLED"], 60)
        n = sum(runs_of(c, jid).values())
        time.sleep(2)
        self.assertEqual(sum(runs_of(c, jid).values()), n)
        # started again: it runs
        stop_or_start(c, jid, False)
        wait_until("a run after the start", lambda: sum(runs_of(c, jid).values()) > n)
        c.wait_job(jid, ["RUNNING"], 60)
        stop_or_start(c, jid, True)
        c.wait_job(jid, ["KILLED"], 60)

    def test_failing_service_is_not_failed(self):
        c = self.c
        cfg = batch(2, "exit 3")
        cfg["type"] = "SERVICE"
        jid = c.create_job(self.pool, cfg)
        wait_until("a second run of both instances",
                   lambda: len(runs_of(c, jid)) == 2 and min(runs_of(c, jid).values()) >= 2)
        self.assertEqual(state(c, jid), "RUNNING")
        failed = [o for o in c.outcomes() if o[0].startswith(jid) and o[1] == "TASK_FAILED"]
        self.assertGreaterEqual(len(failed), 2)
        stop_or_start(c, jid, True)
        c.wait_job(jid, ["KILLED"], 60)


class Daemon(OnCluster):
    TASK_SECS = 600

    def test_one_instance_per_host(self):
        c = self.c
        cfg = batch(6, "sleep 600")
        cfg["type"] = "DAEMON"
        jid = c.create_job(self.pool, cfg)
        # four hosts: four instances run, each on its own host; the other
        # two wait (without the rule all six fit on one 32-cpu agent)
        def running():
            ts = [c.task(jid, i) for i in range(6)]
            up = [t for t in ts if task_pb2.TaskState.Name(t.runtime.state) == "RUNNING"]
            return ts if len(up) == 4 else None
        ts = wait_until("four running instances", running)
        hosts = [t.runtime.host for t in ts
                 if task_pb2.TaskState.Name(t.runtime.state) == "RUNNING"]
        self.assertEqual(len(set(hosts)), 4, hosts)
        time.sleep(1)
        waiting = [t for t in (c.task(jid, i) for i in range(6))
                   if task_pb2.TaskState.Name(t.runtime.state) == "PENDING"]
        self.assertEqual(len(waiting), 2)
        for t in waiting:
            self.assertTrue(t.runtime.reason, "a pending daemon instance says why")
        stop_or_start(c, jid, True)
        c.wait_job(jid, ["KILLED"], 60)


class Update(OnCluster):
    TASK_SECS = 600

    def test_config_change_restarts_every_instance(self):
        c = self.c
        cfg = batch(3, "sleep 600")
        cfg["type"] = "SERVICE"
        jid = c.create_job(self.pool, cfg)
        wait_until("three running instances",
                   lambda: all(task_state(c, jid, i) == "RUNNING" for i in range(3)))
        # a new command: every instance killed and launched again with it
        cfg["defaultConfig"]["command"]["value"] = "sleep 601"
        r = c.cli("job", "update", jid, self.spec(cfg))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until("each instance's second run, RUNNING",
                   lambda: runs_of(c, jid) == {0: 2, 1: 2, 2: 2} and
                   all(task_state(c, jid, i) == "RUNNING" for i in range(3)))
        for i in range(3):
            t = c.task(jid, i)
            self.assertEqual(t.config.command.value, "sleep 601")
            self.assertEqual(t.runtime.configVersion, 2)
        self.assertEqual(c.job(jid).jobInfo.runtime.configVersion, 2)
        # fewer instances: the highest one stopped and gone
        cfg["instanceCount"] = 2
        r = c.cli("job", "update", jid, self.spec(cfg))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until("two instances left",
                   lambda: sum(c.job(jid).jobInfo.runtime.taskStats.values()) == 2)
        self.assertEqual(runs_of(c, jid), {0: 2, 1: 2, 2: 2})
        self.assertEqual(c.job(jid).jobInfo.runtime.configVersion, 3)
        stop_or_start(c, jid, True)
        c.wait_job(jid, ["KILLED"], 60)

    def spec(self, cfg):
        path = os.path.join(self.c.dir, "spec.yaml")
        with open(path, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        return path


class MaxRunning(unittest.TestCase):
    def test_cap_holds_at_every_moment(self):
        c = Cluster(agents=4, task_secs=0.4)
        try:
            pool = c.create_pool()
            jid = c.create_job(pool, batch(8, "true", sla={"maximumRunningInstances": 2}))
            # the held ones say why while they wait
            reasons = {c.task(jid, i).runtime.reason for i in range(8)}
            self.assertIn("WAITING_FOR_SLA", reasons)
            c.wait_job(jid, ["SUCCEEDED"], 120)
            self.assertEqual(len(runs_of(c, jid)), 8)
            # the simulator's own count: never more than 2 tasks alive
            self.assertLessEqual(sim_stats(c)["running_peak"], 2)
            self.assertGreaterEqual(sim_stats(c)["running_peak"], 1)
        finally:
            c.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
