#!/usr/bin/env python3
"""Rolling updates end to end on mesos-sim, through UpdateService: a
100-instance service updated 10 at a time changes every instance's command
and never has more than 10 down (the simulator's fewest tasks alive is the
witness); pause stops progress and resume continues; an update whose new
config fails its health checks rolls back by itself; abort leaves the job
as it is; SIGKILL of pelotond mid-update, then a restart: the update
completes with each instance launched exactly once for it.

usage: test_updates.py BIN_DIR PYGEN_DIR EXAMPLE_DIR [unittest args]
"""
import json
import os
import signal
import sys
import time
import unittest

BIN, PYGEN, EXAMPLES = sys.argv[1], sys.argv[2], sys.argv[3]
del sys.argv[1:4]
sys.path.insert(0, PYGEN)

import grpc  # noqa: E402
import pelcluster  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from pelcluster import (Cluster, batch, metric, runs_of, sim_stats,  # noqa: E402
                        wait_until)
from peloton.api.task import task_pb2  # noqa: E402
from peloton.api.update import update_pb2  # noqa: E402
from peloton.api.update.svc import update_svc_pb2 as us  # noqa: E402

pelcluster.BIN, pelcluster.EXAMPLES = BIN, EXAMPLES
SVC = "/peloton.api.update.svc.UpdateService/"



def service(n, cmd, **extra):
    cfg = batch(n, cmd, **extra)
    cfg["type"] = "SERVICE"
    cfg["name"] = "svc"
    return cfg


def all_running(c, jid, n):
    return all(task_pb2.TaskState.Name(c.task(jid, i).runtime.state) == "RUNNING"
               for i in range(n))


def create_update(c, jid, cfg, **opts):
    req = us.CreateUpdateRequest()
    req.jobId.value = jid
    json_format.ParseDict(cfg, req.jobConfig)
    json_format.ParseDict(opts, req.updateConfig)
    return c.call(SVC + "CreateUpdate", req, us.CreateUpdateResponse).result.value


def get_update(c, uid):
    req = us.GetUpdateRequest()
    req.updateId.value = uid
    return c.call(SVC + "GetUpdate", req, us.GetUpdateResponse).result


def update_state(c, uid):
    return update_pb2.State.Name(get_update(c, uid).status.state)


def update_op(c, method, uid):
    req = getattr(us, method + "Request")()
    req.updateId.value = uid
    c.call(SVC + method, req, getattr(us, method + "Response"))


def wait_update(c, uid, states, secs=120):
    return wait_until("update %s in %s" % (uid, states),
                      lambda: update_state(c, uid) in states and update_state(c, uid), secs)


class Rolling(unittest.TestCase):
    def test_batches_pause_resume(self):
        c = Cluster(agents=10, task_secs=3600)
        try:
            pool = c.create_pool()
            cfg = service(100, "sleep 3600")
            jid = c.create_job(pool, cfg)
            wait_until("100 running instances", lambda: all_running(c, jid, 100), 120)
            self.assertEqual(sim_stats(c)["running"], 100)
            c.fault("action=mark")
            cfg["defaultConfig"]["command"]["value"] = "sleep 3601"
            uid = create_update(c, jid, cfg, batchSize=10)
            # a second update of the job is refused while this one runs
            with self.assertRaises(grpc.RpcError) as e:
                create_update(c, jid, cfg, batchSize=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
            # listed while it runs
            lst = c.call(SVC + "ListUpdates", us.ListUpdatesRequest(), us.ListUpdatesResponse)
            self.assertIn(uid, [u.updateId.value for u in lst.updateInfo])
            # pause once some are done: no instance is taken while paused
            wait_until("30 instances updated",
                       lambda: get_update(c, uid).status.numTasksDone >= 30, 120)
            update_op(c, "PauseUpdate", uid)
            self.assertEqual(update_state(c, uid), "PAUSED")
            time.sleep(3)  # the instances in flight settle
            launched = len(c.launches())
            done = get_update(c, uid).status.numTasksDone
            self.assertLess(done, 100)
            time.sleep(3)
            self.assertEqual(len(c.launches()), launched, "an instance was taken while paused")
            self.assertEqual(get_update(c, uid).status.numTasksDone, done)
            update_op(c, "ResumeUpdate", uid)
            self.assertEqual(wait_update(c, uid, {"SUCCEEDED", "ROLLED_BACK"}, 180),
                             "SUCCEEDED")
            st = get_update(c, uid).status
            self.assertEqual((st.numTasksDone, st.numTasksRemaining), (100, 0))
            # every instance: the new command, launched once more for it
            self.assertEqual(runs_of(c, jid), {i: 2 for i in range(100)})
            for i in range(100):
                t = c.task(jid, i)
                self.assertEqual(t.config.command.value, "sleep 3601")
                self.assertEqual(t.runtime.configVersion, 2)
            # the simulator's own count: at most 10 of the 100 down at once
            self.assertGreaterEqual(sim_stats(c)["running_low"], 90)
            self.assertEqual(sim_stats(c)["running"], 100)
            self.assertEqual(c.job(jid).jobInfo.runtime.configVersion, 2)
            lst = c.call(SVC + "ListUpdates", us.ListUpdatesRequest(), us.ListUpdatesResponse)
            self.assertNotIn(uid, [u.updateId.value for u in lst.updateInfo])
            self.assertEqual(metric(c.http, 'peloton_updates{state="SUCCEEDED"}'), 1)
            self.assertEqual(metric(c.http, "peloton_update_instances_total"), 100)
            self.assertEqual(metric(c.http, "peloton_update_rollbacks_total"), 0)
        finally:
            c.stop()


HEALTHY = {"enabled": True, "initialIntervalSecs": 1, "intervalSecs": 1,
           "maxConsecutiveFailures": 1, "type": "COMMAND",
           "commandCheck": {"command": "exit 0"}}


class Health(unittest.TestCase):
    def test_failing_health_checks_roll_back(self):
        c = Cluster(agents=4, task_secs=3600)
        try:
            pool = c.create_pool()
            cfg = service(4, "sleep 3600")
            cfg["defaultConfig"]["healthCheck"] = HEALTHY
            jid = c.create_job(pool, cfg)

            def healthy(i):
                return task_pb2.HealthState.Name(c.task(jid, i).runtime.healthy) == "HEALTHY"
            wait_until("four healthy instances",
                       lambda: all_running(c, jid, 4) and all(healthy(i) for i in range(4)))
            bad = json.loads(json.dumps(cfg))
            bad["defaultConfig"]["command"]["value"] = "sleep 3601"
            bad["defaultConfig"]["healthCheck"]["commandCheck"]["command"] = "exit 1"
            uid = create_update(c, jid, bad, batchSize=2)
            # the first two fail their checks (after Mesos's 10 s grace), are
            # killed, fail again: the update rolls back by itself
            self.assertEqual(wait_update(c, uid, {"ROLLED_BACK", "SUCCEEDED"}, 240),
                             "ROLLED_BACK")
            self.assertGreater(sim_stats(c)["health_kills"], 0)
            self.assertEqual(metric(c.http, "peloton_update_rollbacks_total"), 1)
            self.assertEqual(metric(c.http, 'peloton_updates{state="ROLLED_BACK"}'), 1)
            wait_until("four healthy instances again",
                       lambda: all_running(c, jid, 4) and all(healthy(i) for i in range(4)))
            for i in range(4):
                t = c.task(jid, i)
                self.assertEqual(t.config.command.value, "sleep 3600")
                self.assertEqual(t.config.healthCheck.commandCheck.command, "exit 0")
            # instances 2 and 3 were never taken: still their first run
            runs = runs_of(c, jid)
            self.assertEqual((runs[2], runs[3]), (1, 1), runs)
            self.assertGreaterEqual(runs[0], 1 + 3)  # three failed runs, then the old config
        finally:
            c.stop()


class Control(unittest.TestCase):
    def test_abort_remove_cli(self):
        c = Cluster(agents=4, task_secs=3600)
        try:
            pool = c.create_pool()
            cfg = service(4, "sleep 3600")
            jid = c.create_job(pool, cfg)
            wait_until("four running instances", lambda: all_running(c, jid, 4))
            new = json.loads(json.dumps(cfg))
            new["defaultConfig"]["command"]["value"] = "sleep 3601"
            uid = create_update(c, jid, new, batchSize=1, startPaused=True)
            self.assertEqual(update_state(c, uid), "PAUSED")
            time.sleep(1)
            self.assertEqual(len(runs_of(c, jid)), 4)
            self.assertEqual(sum(runs_of(c, jid).values()), 4)
            # a paused update cannot be paused again
            with self.assertRaises(grpc.RpcError) as e:
                update_op(c, "PauseUpdate", uid)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
            update_op(c, "AbortUpdate", uid)
            self.assertEqual(update_state(c, uid), "ABORTED")
            with self.assertRaises(grpc.RpcError) as e:
                update_op(c, "ResumeUpdate", uid)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
            time.sleep(1)
            # nothing relaunched: the job as it was
            self.assertEqual(sum(runs_of(c, jid).values()), 4)
            self.assertTrue(all_running(c, jid, 4))
            with self.assertRaises(grpc.RpcError) as e:
                get_update(c, "no-such-update")
            self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
            # the CLI: fewer instances, two at a time, watched to the end
            new["instanceCount"] = 2
            spec = os.path.join(c.dir, "fewer.yaml")
            with open(spec, "w") as f:
                json.dump(new, f)
            r = c.cli("update", "create", jid, spec, "--batch-size", "2", "--watch")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("SUCCEEDED", r.stdout)
            info = c.job(jid).jobInfo
            self.assertEqual(info.config.instanceCount, 2)
            self.assertEqual(sum(info.runtime.taskStats.values()), 2)
            self.assertEqual(sim_stats(c)["running"], 2)
            for i in range(2):
                self.assertEqual(c.task(jid, i).config.command.value, "sleep 3601")
            r = c.cli("job", "status", jid)
            self.assertIn("v3", r.stdout)  # the config version
        finally:
            c.stop()


class Crash(unittest.TestCase):
    def test_sigkill_mid_update(self):
        c = Cluster(agents=4, task_secs=3600)
        try:
            pool = c.create_pool()
            cfg = service(40, "sleep 3600")
            jid = c.create_job(pool, cfg)
            wait_until("40 running instances", lambda: all_running(c, jid, 40), 120)
            cfg["defaultConfig"]["command"]["value"] = "sleep 3601"
            uid = create_update(c, jid, cfg, batchSize=4)
            wait_until("8 instances updated",
                       lambda: get_update(c, uid).status.numTasksDone >= 8, 120)
            c.d.send_signal(signal.SIGKILL)
            c.d.wait(30)
            c.start_daemon(attempts=1)
            self.assertEqual(wait_update(c, uid, {"SUCCEEDED", "ROLLED_BACK"}, 180),
                             "SUCCEEDED")
            wait_until("40 running instances", lambda: all_running(c, jid, 40), 60)
            # each instance launched once at creation and once for the update
            self.assertEqual(runs_of(c, jid), {i: 2 for i in range(40)})
            for i in range(40):
                self.assertEqual(c.task(jid, i).config.command.value, "sleep 3601")
        finally:
            c.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
