#!/usr/bin/env python3
"""A client built from upstream's view of the API, run against pelotond on
mesos-sim --exec: stubs generated at test time from upstream's schema
(`scripts/gen_protos.py --upstream-v0`: every field upstream has, upstream's
numbers and enum values, packages named peloton.api.v0.X), calls made to the
peloton.api.v0.* service names the daemon aliases. The scenarios are the
ones upstream users run: pools, create/get/query/update/stop/start/restart/
delete jobs, task queries by state, name and host with ordering, each run of
a task, a job meant to fail failing, the placement strategy, a pool's
controller limit, fields only upstream has sent and ignored.

usage: test_upstream_v0.py BIN_DIR PYGEN_DIR EXAMPLE_DIR PROTOC [unittest args]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

BIN, PYGEN, EXAMPLES, PROTOC = sys.argv[1:5]
del sys.argv[1:5]
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# upstream's stubs, generated into a directory of their own; our modules
# (mesos.v1, and pelcluster's own) come from PYGEN: the packages merge
V0 = tempfile.mkdtemp(prefix="pel-v0-")
subprocess.run([sys.executable, os.path.join(TOP, "scripts", "gen_protos.py"), "--upstream-v0",
                V0], check=True, stdout=subprocess.DEVNULL)
os.makedirs(os.path.join(V0, "py"))
protos = [os.path.relpath(os.path.join(d, f), V0) for d, _, fs in os.walk(V0) for f in fs
          if f.endswith(".proto")]
subprocess.run([PROTOC, "-I", V0, "-I", os.path.join(TOP, "proto"),
                "--python_out=" + os.path.join(V0, "py")] + protos, check=True)
sys.path[:0] = [PYGEN, os.path.join(V0, "py")]

import grpc  # noqa: E402
import pelcluster  # noqa: E402
from pelcluster import Cluster, wait_until  # noqa: E402
from peloton.api.v0.job import job_pb2 as job  # noqa: E402
from peloton.api.v0.query import query_pb2 as query  # noqa: E402
from peloton.api.v0.respool import respool_pb2 as respool  # noqa: E402
from peloton.api.v0.task import task_pb2 as task  # noqa: E402

pelcluster.BIN, pelcluster.EXAMPLES = BIN, EXAMPLES

JM = "/peloton.api.v0.job.JobManager/"
TM = "/peloton.api.v0.task.TaskManager/"
RM = "/peloton.api.v0.respool.ResourceManager/"


def job_config(name, n, cmd, kind=job.BATCH, cpu=0.5):
    c = job.JobConfig(name=name, type=kind, instanceCount=n)
    c.defaultConfig.resource.cpuLimit = cpu
    c.defaultConfig.resource.memLimitMb = 64
    c.defaultConfig.resource.diskLimitMb = 64
    c.defaultConfig.command.value = cmd
    c.defaultConfig.command.shell = True
    return c


class UpstreamClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp()
        cls.c = Cluster(agents=6, task_secs=3600, sim_args=["--exec", cls.root])
        cls.pool = cls.create_pool("/v0", 20)

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        shutil.rmtree(cls.root, ignore_errors=True)
        shutil.rmtree(V0, ignore_errors=True)

    @classmethod
    def create_pool(cls, path, cpus, controller_pct=0):
        cfg = respool.ResourcePoolConfig(name=path.rsplit("/", 1)[1],
                                         policy=respool.PriorityFIFO)
        cfg.parent.value = "root"
        for kind, res in (("cpu", cpus), ("memory", 100000), ("disk", 100000), ("gpu", 0)):
            cfg.resources.add(kind=kind, reservation=res, limit=res, share=1)
        if controller_pct:
            cfg.controllerLimit.maxPercent = controller_pct
        r = cls.c.call(RM + "CreateResourcePool", respool.CreateRequest(config=cfg),
                       respool.CreateResponse)
        assert not r.HasField("error"), r.error
        look = cls.c.call(RM + "LookupResourcePoolID",
                          respool.LookupRequest(path=respool.ResourcePoolPath(value=path)),
                          respool.LookupResponse)
        assert look.id.value == r.result.value, (look, r)
        return r.result.value

    def create(self, cfg, pool=None):
        cfg.respoolID.value = pool or self.pool
        r = self.c.call(JM + "Create", job.CreateRequest(config=cfg), job.CreateResponse)
        self.assertFalse(r.HasField("error"), r.error)
        return r.jobId.value

    def get(self, jid):
        req = job.GetRequest()
        req.id.value = jid
        return self.c.call(JM + "Get", req, job.GetResponse).jobInfo

    def state(self, jid):
        return job.JobState.Name(self.get(jid).runtime.state)

    def wait(self, jid, states, secs=60):
        return wait_until("job %s in %s" % (jid, states),
                          lambda: self.state(jid) if self.state(jid) in states else None, secs)

    def task_get(self, jid, i):
        req = task.GetRequest(instanceId=i)
        req.jobId.value = jid
        return self.c.call(TM + "Get", req, task.GetResponse)

    def running(self, jid, n):
        def hosts():
            rts = [self.task_get(jid, i).result.runtime for i in range(n)]
            ok = all(task.TaskState.Name(rt.state) == "RUNNING" for rt in rts)
            return [rt.host for rt in rts] if ok else None
        return wait_until("%d tasks RUNNING" % n, hosts, 60)

    def test_batch_jobs_succeed_and_fail_as_their_commands_do(self):
        ok = self.create(job_config("v0-ok", 2, "echo hello"))
        bad = self.create(job_config("v0-bad", 1, "exit 2"))
        self.assertEqual(self.wait(ok, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        self.assertEqual(self.wait(bad, {"SUCCEEDED", "FAILED"}), "FAILED")
        info = self.get(ok)
        self.assertEqual(info.config.name, "v0-ok")
        self.assertEqual(dict(info.runtime.taskStats).get("SUCCEEDED"), 2)
        self.assertEqual(info.config.changeLog.version, 1)
        q = job.QueryRequest()
        q.spec.keywords.append("v0-")
        q.spec.jobStates.append(job.FAILED)
        r = self.c.call(JM + "Query", q, job.QueryResponse)
        self.assertEqual([j.id.value for j in r.records], [bad])
        # a batch job that ended cannot be started again
        start = task.StartRequest()
        start.jobId.value = ok
        with self.assertRaises(grpc.RpcError) as e:
            self.c.call(TM + "Start", start, task.StartResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        # delete: only a terminal job, an unknown one is NOT_FOUND
        d = job.DeleteRequest()
        d.id.value = ok
        self.assertFalse(self.c.call(JM + "Delete", d, job.DeleteResponse).HasField("error"))
        with self.assertRaises(grpc.RpcError) as e:
            self.c.call(JM + "Delete", d, job.DeleteResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_service_lifecycle(self):
        cfg = job_config("v0-web", 3, "exec sleep 3600", kind=job.SERVICE)
        cfg.placementStrategy = job.PLACEMENT_STRATEGY_SPREAD_JOB
        cfg.owner = "someone"  # upstream only: sent, ignored
        jid = self.create(cfg)
        hosts = self.running(jid, 3)
        self.assertEqual(len(set(hosts)), 3)
        # queries by state, name and host, ordered
        q = task.QueryRequest()
        q.jobId.value = jid
        q.spec.taskStates.append(task.RUNNING)
        q.spec.names.append("v0-web")
        q.spec.hosts.extend([hosts[0], hosts[2]])
        ob = q.spec.pagination.orderBy.add()
        ob.property.value = "instance_id"
        ob.order = query.OrderBy.DESC
        r = self.c.call(TM + "Query", q, task.QueryResponse)
        self.assertEqual([t.instanceId for t in r.records], [2, 0])
        # stop one, a range past the job refused whole
        stop = task.StopRequest()
        stop.jobId.value = jid
        rg = stop.ranges.add()
        setattr(rg, "from", 2)
        rg.to = 9
        r = self.c.call(TM + "Stop", stop, task.StopResponse)
        self.assertEqual(r.error.outOfRange.instanceCount, 3)
        self.assertEqual(list(r.invalidInstanceIds), [3, 4, 5, 6, 7, 8])
        rg.to = 3
        r = self.c.call(TM + "Stop", stop, task.StopResponse)
        self.assertEqual(list(r.stoppedInstanceIds), [2])
        wait_until("instance 2 KILLED", lambda: task.TaskState.Name(
            self.task_get(jid, 2).result.runtime.state) == "KILLED", 30)
        start = task.StartRequest()
        start.jobId.value = jid
        start.ranges.add().CopyFrom(rg)
        self.assertEqual(list(self.c.call(TM + "Start", start, task.StartResponse)
                              .startedInstanceIds), [2])
        self.running(jid, 3)
        # restart: a new run, every run in Get's results
        rs = task.RestartRequest()
        rs.jobId.value = jid
        r0 = rs.ranges.add()
        setattr(r0, "from", 0)
        r0.to = 1
        self.c.call(TM + "Restart", rs, task.RestartResponse)
        wait_until("a second run of instance 0", lambda: self.task_get(jid, 0).result.runtime
                   .mesosTaskId.value == jid + "-0-2", 60)
        self.assertEqual([t.runtime.mesosTaskId.value for t in self.task_get(jid, 0).results],
                         [jid + "-0-1", jid + "-0-2"])
        ev = task.GetEventsRequest(instanceId=0)
        ev.jobId.value = jid
        groups = self.c.call(TM + "GetEvents", ev, task.GetEventsResponse).result
        self.assertEqual(len(groups), 2)
        # update without respoolID: the job keeps its pool
        up = job.UpdateRequest()
        up.id.value = jid
        up.config.CopyFrom(cfg)
        up.config.ClearField("respoolID")
        up.config.instanceCount = 4
        r = self.c.call(JM + "Update", up, job.UpdateResponse)
        self.assertFalse(r.HasField("error"), r.error)
        self.running(jid, 4)
        self.assertEqual(self.get(jid).config.respoolID.value, self.pool)
        # a live job is not deleted: stop it first
        d = job.DeleteRequest()
        d.id.value = jid
        with self.assertRaises(grpc.RpcError) as e:
            self.c.call(JM + "Delete", d, job.DeleteResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        stop = task.StopRequest()
        stop.jobId.value = jid
        self.c.call(TM + "Stop", stop, task.StopResponse)
        self.assertEqual(self.wait(jid, {"KILLED"}), "KILLED")
        self.assertFalse(self.c.call(JM + "Delete", d, job.DeleteResponse).HasField("error"))

    def test_controller_limit(self):
        pool = self.create_pool("/v0ctl", 10, controller_pct=20)
        ctl = job_config("v0-ctl", 1, "exec sleep 3600", kind=job.SERVICE, cpu=2)
        ctl.defaultConfig.controller = True
        first = self.create(ctl, pool)
        self.running(first, 1)
        second = self.create(ctl, pool)
        time.sleep(2)
        rt = self.task_get(second, 0).result.runtime
        self.assertEqual(task.TaskState.Name(rt.state), "PENDING")
        self.assertEqual(rt.mesosTaskId.value, second + "-0-1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
