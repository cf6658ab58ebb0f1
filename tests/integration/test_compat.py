#!/usr/bin/env python3
"""What clients written for upstream Peloton rely on, on mesos-sim:
JobConfig.placementStrategy (spread puts each task on a host of its own,
pack fills one host first), task queries by name and by host
(QuerySpec.names, QuerySpec.hosts, with the task states, ordered by
pagination.orderBy), a
per-instance PreemptionPolicy.type over the job's SLA (seen through
admission: a pool reserving nothing admits preemptible tasks only),
controller tasks within their pool's controllerLimit, admission from
separate queues per kind (a waiting non-preemptible or controller task
keeps no other kind waiting), and
ResourcePoolService (the svc pool API: create with or without a client's
id, get with children, lookup, update, query, delete, errors as statuses);
each run of a task apart in Get's results and GetEvents' groups;
the typed errors (invalidJobId, invalidRespool, clusterUnavailable);
JobConfig.changeLog and the task runtime's revision; jobs with no
instances;
upstream's CLI habits (short flags, plural lists, tables);
specs loaded as upstream's loader took them, --timeout with units;
mesos-sim --exec running task commands.

usage: test_compat.py BIN_DIR PYGEN_DIR EXAMPLE_DIR [unittest args]
"""
import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.request

import yaml

BIN, PYGEN, EXAMPLES = sys.argv[1], sys.argv[2], sys.argv[3]
del sys.argv[1:4]
sys.path.insert(0, PYGEN)

import grpc  # noqa: E402
import pelcluster  # noqa: E402
from pelcluster import Cluster, batch, wait_until  # noqa: E402
from peloton.api.respool import respool_pb2 as rs  # noqa: E402
from peloton.api.respool import respool_svc_pb2 as svc  # noqa: E402
from peloton.api.task import task_pb2  # noqa: E402

pelcluster.BIN, pelcluster.EXAMPLES = BIN, EXAMPLES


def service(n, name, strategy=None):
    cfg = batch(n, "sleep 3600", name=name)
    cfg["type"] = "SERVICE"
    if strategy:
        cfg["placementStrategy"] = strategy
    return cfg


class Compat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(agents=6, task_secs=3600)
        cls.pool = cls.c.create_pool("/compat")

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def hosts(self, jid, n):
        def all_placed():
            ts = [self.c.task(jid, i).runtime for i in range(n)]
            return ts if all(task_pb2.TaskState.Name(t.state) == "RUNNING" for t in ts) else None
        return [t.host for t in wait_until("%d tasks RUNNING" % n, all_placed, 60)]

    def query(self, jid, **spec):
        req = task_pb2.QueryRequest()
        req.jobId.value = jid
        for k, v in spec.items():
            getattr(req.spec, k).extend(v)
        r = self.c.call("/peloton.api.task.TaskManager/Query", req, task_pb2.QueryResponse)
        return sorted(t.instanceId for t in r.records)

    def test_placement_strategy(self):
        spread = self.c.create_job(self.pool, service(4, "spread", "PLACEMENT_STRATEGY_SPREAD_JOB"))
        self.assertEqual(len(set(self.hosts(spread, 4))), 4)
        pack = self.c.create_job(self.pool, service(4, "pack", "PLACEMENT_STRATEGY_PACK_HOST"))
        self.assertEqual(len(set(self.hosts(pack, 4))), 1)

    def test_query_by_name_and_host(self):
        jid = self.c.create_job(self.pool, service(3, "byname", "PLACEMENT_STRATEGY_SPREAD_JOB"))
        hosts = self.hosts(jid, 3)
        self.assertEqual(self.query(jid, names=["byname"]), [0, 1, 2])
        self.assertEqual(self.query(jid, names=["other"]), [])
        self.assertEqual(self.query(jid, hosts=[hosts[1]]), [1])
        self.assertEqual(self.query(jid, hosts=[hosts[0], hosts[2]], names=["byname"]), [0, 2])
        self.assertEqual(self.query(jid, hosts=[hosts[0]],
                                    taskStates=[task_pb2.TaskState.Value("PENDING")]), [])


    def test_query_order_by(self):
        from peloton.api.query import query_pb2
        jid = self.c.create_job(self.pool, service(4, "ordered", "PLACEMENT_STRATEGY_SPREAD_JOB"))
        hosts = self.hosts(jid, 4)

        def ordered(*keys):
            req = task_pb2.QueryRequest()
            req.jobId.value = jid
            for prop, order in keys:
                ob = req.spec.pagination.orderBy.add()
                ob.property.value = prop
                ob.order = query_pb2.OrderBy.Order.Value(order)
            r = self.c.call("/peloton.api.task.TaskManager/Query", req, task_pb2.QueryResponse)
            return [t.instanceId for t in r.records]
        self.assertEqual(ordered(("creation_time", "DESC")), [3, 2, 1, 0])
        by_host = sorted(range(4), key=lambda i: hosts[i])
        self.assertEqual(ordered(("host", "ASC")), by_host)
        self.assertEqual(ordered(("state", "ASC"), ("instance_id", "DESC")), [3, 2, 1, 0])
        with self.assertRaises(grpc.RpcError) as e:
            ordered(("colour", "ASC"))
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("colour", e.exception.details())

    def test_out_of_range_instances(self):
        jid = self.c.create_job(self.pool, service(2, "ranged"))
        self.hosts(jid, 2)
        req = task_pb2.StopRequest()
        req.jobId.value = jid
        rg = req.ranges.add()
        rg.__setattr__("from", 1)
        rg.to = 5
        r = self.c.call("/peloton.api.task.TaskManager/Stop", req, task_pb2.StopResponse)
        self.assertEqual(r.error.outOfRange.instanceCount, 2)
        self.assertEqual(r.error.outOfRange.jobId.value, jid)
        self.assertEqual(list(r.invalidInstanceIds), [2, 3, 4])
        self.assertEqual(list(r.stoppedInstanceIds), [])  # refused whole
        self.assertEqual(task_pb2.TaskState.Name(self.c.task(jid, 1).runtime.state), "RUNNING")
        req = task_pb2.RestartRequest()
        req.jobId.value = jid
        rg = req.ranges.add()
        rg.__setattr__("from", 7)
        rg.to = 8
        r = self.c.call("/peloton.api.task.TaskManager/Restart", req, task_pb2.RestartResponse)
        self.assertEqual(r.outOfRange.instanceCount, 2)
        # the svc API lists them in `failed`, changing nothing, and lists
        # the instances it acted on
        from peloton.api.task.svc import task_svc_pb2 as ts
        base = "/peloton.api.task.svc.TaskService/"
        for method, rq, rp, done in (("StopTasks", ts.StopTasksRequest, ts.StopTasksResponse,
                                      "stopped"),
                                     ("StartTasks", ts.StartTasksRequest, ts.StartTasksResponse,
                                      "started"),
                                     ("RestartTasks", ts.RestartTasksRequest,
                                      ts.RestartTasksResponse, "stopped")):
            q = rq()
            q.jobId.value = jid
            rg = q.ranges.add()
            rg.__setattr__("from", 1)
            rg.to = 4
            r = self.c.call(base + method, q, rp)
            self.assertEqual((list(r.failed), list(getattr(r, done))), ([2, 3], []), method)
        self.assertEqual(task_pb2.TaskState.Name(self.c.task(jid, 1).runtime.state), "RUNNING")
        q = ts.RestartTasksRequest()
        q.jobId.value = jid
        rg = q.ranges.add()
        rg.__setattr__("from", 1)
        rg.to = 2
        r = self.c.call(base + "RestartTasks", q, ts.RestartTasksResponse)
        self.assertEqual((list(r.stopped), list(r.failed)), ([1], []))
        wait_until("instance 1 in its second run", lambda: self.c.task(jid, 1).runtime
                   .mesosTaskId.value == jid + "-1-2", 60)
        with self.assertRaises(grpc.RpcError) as e:
            q.jobId.value = "no-such-job"
            self.c.call(base + "RestartTasks", q, ts.RestartTasksResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_runs_in_get_and_events(self):
        """Get's results and GetEvents list each run of a task apart, the
        oldest first, by the Mesos task id each run had."""
        from peloton.api.task.svc import task_svc_pb2 as ts
        jid = self.c.create_job(self.pool, service(1, "runs"))
        self.hosts(jid, 1)
        req = task_pb2.RestartRequest()
        req.jobId.value = jid
        rg = req.ranges.add()
        rg.__setattr__("from", 0)
        rg.to = 1
        self.c.call("/peloton.api.task.TaskManager/Restart", req, task_pb2.RestartResponse)
        second = jid + "-0-2"
        wait_until("the second run RUNNING", lambda: (
            self.c.task(jid, 0).runtime.mesosTaskId.value == second and
            task_pb2.TaskState.Name(self.c.task(jid, 0).runtime.state) == "RUNNING"), 60)
        g = task_pb2.GetRequest(instanceId=0)
        g.jobId.value = jid
        r = self.c.call("/peloton.api.task.TaskManager/Get", g, task_pb2.GetResponse)
        runs = [(t.runtime.mesosTaskId.value, task_pb2.TaskState.Name(t.runtime.state))
                for t in r.results]
        self.assertEqual(runs, [(jid + "-0-1", "KILLED"), (second, "RUNNING")])
        self.assertTrue(all(t.jobId.value == jid and t.runtime.host for t in r.results))
        sg = ts.GetTaskRequest(instanceId=0)
        sg.jobId.value = jid
        sr = self.c.call("/peloton.api.task.svc.TaskService/GetTask", sg, ts.GetTaskResponse)
        self.assertEqual([t.runtime.mesosTaskId.value for t in sr.results], [r[0] for r in runs])
        ev = task_pb2.GetEventsRequest(instanceId=0)
        ev.jobId.value = jid
        groups = self.c.call("/peloton.api.task.TaskManager/GetEvents", ev,
                             task_pb2.GetEventsResponse).result
        self.assertEqual([{e.taskId.value for e in grp.event} for grp in groups],
                         [{jid + "-0-1"}, {second}])
        self.assertEqual(task_pb2.TaskState.Name(groups[0].event[0].state), "KILLED")
        # errors in the answer's error field (v0), statuses (svc)
        ev.instanceId = 5
        r = self.c.call("/peloton.api.task.TaskManager/GetEvents", ev, task_pb2.GetEventsResponse)
        self.assertIn("out of range", r.error.eventError.message)
        ev.jobId.value = "no-such-job"
        r = self.c.call("/peloton.api.task.TaskManager/GetEvents", ev, task_pb2.GetEventsResponse)
        self.assertIn("not found", r.error.eventError.message)
        se = ts.GetEventsRequest(instanceId=5)
        se.jobId.value = jid
        with self.assertRaises(grpc.RpcError) as e:
            self.c.call("/peloton.api.task.svc.TaskService/GetEvents", se, ts.GetEventsResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.OUT_OF_RANGE)

    def test_cli_habits(self):
        """Upstream's short flags, comma-separated plural lists, task list
        and task query as tables."""
        jid = self.c.create_job(self.pool, service(3, "habits", "PLACEMENT_STRATEGY_SPREAD_JOB"))
        hosts = self.hosts(jid, 3)
        r = self.c.cli("task", "list", jid)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split()[:3], ["INST", "NAME", "STATE"])
        self.assertEqual([ln.split()[:3] for ln in lines[1:]],
                         [[str(i), "habits", "RUNNING"] for i in range(3)])
        self.assertTrue(all(hosts[i] in lines[1 + i] for i in range(3)), r.stdout)
        r = self.c.cli("-j", "-t", "20s", "task", "query", jid, "-s", "running,pending",
                       "--hosts", "%s,%s" % (hosts[0], hosts[2]), "-p", "instance_id",
                       "-a", "DESC")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([t.get("instanceId", 0) for t in json.loads(r.stdout)["records"]],
                         [2, 0])
        r = self.c.cli("task", "query", jid, "--names", "habits,other", "-n", "2")
        self.assertEqual(len(r.stdout.splitlines()), 3, r.stdout)  # a header, 2 rows
        r = self.c.cli("-j", "job", "query", "--states", "running,pending", "-p",
                       "creation_time", "-a", "DESC", "-n", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([j["id"]["value"] for j in json.loads(r.stdout)["records"]], [jid])
        r = self.c.cli("-j", "job", "query", "--name", "habits")
        self.assertEqual([j["id"]["value"] for j in json.loads(r.stdout)["records"]], [jid])
        r = self.c.cli("-j", "job", "query", "--name", "habit", "--owner", "nobody")
        self.assertEqual(json.loads(r.stdout).get("records", []), [])
        r = self.c.cli("-j", "task", "stop", jid, "-r", "0:1,2:3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(json.loads(r.stdout)["stoppedInstanceIds"]), [0, 2])
        for bad in (["task", "stop", jid, "-r", "2:1"], ["task", "query", jid, "-a", "UP"],
                    ["task", "logs", jid, "0", "-f", "nosuchfile"]):
            r = self.c.cli(*bad)
            self.assertEqual(r.returncode, 2, (bad, r.stdout))
            self.assertIn("--", r.stderr)

    def test_typed_errors(self):
        """The error fields upstream clients branch on: invalidJobId,
        invalidRespool."""
        from peloton.api.job import job_pb2
        req = job_pb2.CreateRequest()
        req.id.value = "not/a job id"
        req.config.name = "x"
        req.config.instanceCount = 1
        r = self.c.call("/peloton.api.job.JobManager/Create", req, job_pb2.CreateResponse)
        self.assertEqual(r.error.invalidJobId.id.value, "not/a job id")
        self.assertIn("job id", r.error.invalidJobId.message)
        u = job_pb2.UpdateRequest()
        u.config.name = "x"
        r = self.c.call("/peloton.api.job.JobManager/Update", u, job_pb2.UpdateResponse)
        self.assertTrue(r.error.HasField("invalidJobId"), r)
        q = job_pb2.QueryRequest()
        q.respoolID.value = "no-such-pool"
        r = self.c.call("/peloton.api.job.JobManager/Query", q, job_pb2.QueryResponse)
        self.assertEqual(r.error.invalidRespool.respoolID.value, "no-such-pool")
        q.respoolID.value = self.pool
        r = self.c.call("/peloton.api.job.JobManager/Query", q, job_pb2.QueryResponse)
        self.assertFalse(r.HasField("error"), r)

    def test_change_logs(self):
        """JobConfig.changeLog and the task runtime's revision, as upstream
        fills them (versions, ns since the epoch)."""
        import time
        from google.protobuf import json_format
        from peloton.api.job import job_pb2
        before = time.time_ns()
        cfg = service(1, "logged")
        jid = self.c.create_job(self.pool, cfg)
        self.hosts(jid, 1)
        log = self.c.job(jid).jobInfo.config.changeLog
        self.assertEqual(log.version, 1)
        self.assertGreaterEqual(log.createdAt, before)
        self.assertEqual(log.updatedAt, log.createdAt)
        rev = self.c.task(jid, 0).runtime.revision
        self.assertGreaterEqual(rev.version, 2)  # written at least created, then running
        self.assertEqual(rev.createdAt, log.createdAt)
        self.assertGreater(rev.updatedAt, rev.createdAt)
        req = job_pb2.UpdateRequest()
        json_format.ParseDict({"id": {"value": jid}, "config": dict(cfg, instanceCount=2)}, req)
        r = self.c.call("/peloton.api.job.JobManager/Update", req, job_pb2.UpdateResponse)
        self.assertFalse(r.HasField("error"), r)
        log2 = self.c.job(jid).jobInfo.config.changeLog
        self.assertEqual((log2.version, log2.createdAt), (2, log.createdAt))
        self.assertGreater(log2.updatedAt, log.updatedAt)

    def test_a_job_with_no_instances(self):
        """As upstream: instanceCount 0 is a job with no instances yet; an
        update adds them, a stop makes it KILLED, then it can be deleted."""
        from google.protobuf import json_format
        from peloton.api.job import job_pb2
        cfg = service(1, "empty")
        cfg["instanceCount"] = 0
        jid = self.c.create_job(self.pool, cfg)
        self.assertEqual(job_pb2.JobState.Name(self.c.job(jid).jobInfo.runtime.state), "PENDING")
        req = job_pb2.UpdateRequest()
        json_format.ParseDict({"id": {"value": jid}, "config": dict(cfg, instanceCount=1)}, req)
        r = self.c.call("/peloton.api.job.JobManager/Update", req, job_pb2.UpdateResponse)
        self.assertFalse(r.HasField("error"), r)
        self.hosts(jid, 1)
        other = self.c.create_job(self.pool, cfg)
        self.assertEqual(self.c.cli("job", "stop", other).returncode, 0)
        self.assertEqual(self.c.wait_job(other, {"KILLED"}), "KILLED")
        self.assertEqual(self.c.cli("job", "delete", other).returncode, 0)

    def no_reservation_pool(self, name):
        """A pool reserving no cpu: only preemptible tasks are admitted in it."""
        cfg = rs.ResourcePoolConfig(name=name, policy=rs.PriorityFIFO)
        for kind, res, lim in (("cpu", 0, 100), ("memory", 0, 100000), ("disk", 0, 100000),
                               ("gpu", 0, 0)):
            cfg.resources.add(kind=kind, reservation=res, limit=lim, share=1)
        return self.c.call("/peloton.api.respool.ResourcePoolService/CreateResourcePool",
                           svc.CreateResourcePoolRequest(config=cfg),
                           svc.CreateResourcePoolResponse).id.value

    def test_preemption_policy_per_instance(self):
        # preemptible job, instance 2 not: it waits for a reservation the pool lacks
        cfg = service(3, "mostly-preemptible")
        cfg["sla"] = {"preemptible": True}
        cfg["instanceConfig"] = {"2": {"preemptionPolicy": {"type": "TYPE_NON_PREEMPTIBLE"}}}
        a = self.c.create_job(self.no_reservation_pool("pp-a"), cfg)
        self.hosts_of(a, [0, 1])
        # non-preemptible job, instance 0 preemptible: it alone runs
        cfg = service(2, "mostly-not")
        cfg["sla"] = {"preemptible": False}
        cfg["instanceConfig"] = {"0": {"preemptionPolicy": {"type": "TYPE_PREEMPTIBLE"}}}
        b = self.c.create_job(self.no_reservation_pool("pp-b"), cfg)
        self.hosts_of(b, [0])
        for jid, inst in ((a, 2), (b, 1)):
            rt = self.c.task(jid, inst).runtime
            self.assertEqual(task_pb2.TaskState.Name(rt.state), "PENDING")
            self.assertEqual(rt.reason, "WAITING_FOR_ADMISSION", rt)
            # never launched: the id of its first run, as upstream shows it
            self.assertEqual(rt.mesosTaskId.value, "%s-%d-1" % (jid, inst))

    def test_controller_limit_and_separate_queues(self):
        # reservation 10 cpus, controllers at most 20% of it: one 2-cpu controller
        cfg = rs.ResourcePoolConfig(name="ctrl", policy=rs.PriorityFIFO)
        for kind, res, lim in (("cpu", 10, 100), ("memory", 10000, 100000),
                               ("disk", 10000, 100000), ("gpu", 0, 0)):
            cfg.resources.add(kind=kind, reservation=res, limit=lim, share=1)
        cfg.controllerLimit.maxPercent = 20
        pool = self.c.call("/peloton.api.respool.ResourcePoolService/CreateResourcePool",
                           svc.CreateResourcePoolRequest(config=cfg),
                           svc.CreateResourcePoolResponse).id.value

        def job(name, cpu, controller=False, preemptible=False):
            j = service(1, name)
            j["defaultConfig"]["resource"]["cpuLimit"] = cpu
            j["defaultConfig"]["controller"] = controller
            j["sla"] = {"preemptible": preemptible}
            return self.c.create_job(pool, j)
        first = job("ctrl-1", 2, controller=True)
        self.hosts_of(first, [0])
        second = job("ctrl-2", 2, controller=True)    # over the controller limit
        big = job("too-big", 50)                      # over the reservation
        small = job("small", 1, preemptible=True)     # behind neither of them
        self.hosts_of(small, [0])
        for jid in (second, big):
            rt = self.c.task(jid, 0).runtime
            self.assertEqual(task_pb2.TaskState.Name(rt.state), "PENDING", rt)
            self.assertEqual(rt.reason, "WAITING_FOR_ADMISSION", rt)

    def hosts_of(self, jid, insts):
        return wait_until("instances %s RUNNING" % insts, lambda: all(
            task_pb2.TaskState.Name(self.c.task(jid, i).runtime.state) == "RUNNING"
            for i in insts), 60)


class Unavailable(unittest.TestCase):
    def test_cluster_capacity_says_the_cluster_is_unavailable(self):
        """ClusterCapacity answers error.clusterUnavailable once the host
        manager has lost its Mesos master."""
        from peloton.private.hostmgr.hostsvc import hostsvc_pb2 as hs
        c = Cluster(agents=2)
        try:
            p = "/peloton.private.hostmgr.hostsvc.InternalHostService/ClusterCapacity"
            r = c.call(p, hs.ClusterCapacityRequest(), hs.ClusterCapacityResponse)
            self.assertFalse(r.HasField("error"), r)
            self.assertTrue(r.physicalResources)
            c.sim.kill()
            c.sim.wait(10)
            r = wait_until("clusterUnavailable", lambda: c.call(
                p, hs.ClusterCapacityRequest(), hs.ClusterCapacityResponse)
                .error.clusterUnavailable.message, 30)
            self.assertIn("Mesos", r)
        finally:
            c.stop()


class Specs(unittest.TestCase):
    """Specs as upstream's loader took them: a stale key or a key given twice is
    warned about with file:line and let pass (--strict refuses both); a pool
    share of 0 is 1; --timeout takes units."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(agents=2, task_secs=0.2)
        cls.dir = tempfile.mkdtemp()

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def spec(self, name, text):
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_lenient_specs(self):
        pool = self.spec("pool.yaml", "name: lenient\npolicy: PriorityFIFO\nresources:\n"
                         "  - kind: cpu\n    reservation: 8\n    limit: 8\n    share: 0\n"
                         "  - kind: memory\n    reservation: 1024\n    limit: 1024\n")
        r = self.c.cli("respool", "create", "/lenient", pool)
        self.assertEqual(r.returncode, 0, r.stderr)
        job = self.spec("job.yaml", "name: lenient\ntype: BATCH\ninstanceCount: 2\n"
                        "sla:\n  minimumInstanceCount: 2\n  priority: 1\n"
                        "defaultConfig:\n  resource:\n    cpuLimit: 0.5\n    memLimitMb: 32\n"
                        "  command:\n    value: 'true'\n"
                        "instanceCount: 3\n")
        r = self.c.cli("--strict", "job", "create", "/lenient", job)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"job.yaml:\d+")
        r = self.c.cli("--timeout", "20s", "job", "create", "/lenient", job)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"warning: .*job.yaml:5: sla.minimumInstanceCount")
        self.assertRegex(r.stderr, r"warning: .*job.yaml:13: key instanceCount given again")
        jid = r.stdout.strip()
        self.assertEqual(self.c.job(jid).jobInfo.config.instanceCount, 3)  # the last one
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED"}), "SUCCEEDED")
        r = self.c.cli("--timeout", "20 parsecs", "job", "query")
        self.assertEqual(r.returncode, 2)


class Exec(unittest.TestCase):
    """mesos-sim --exec runs the commands: a job meant to fail fails, output is
    in the sandbox and readable through the agent's files API, a kill stops
    the process."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp()
        cls.c = Cluster(agents=2, task_secs=3600, sim_args=["--exec", cls.root])
        cls.pool = cls.c.create_pool("/exec")

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def read(self, path):
        url = "http://127.0.0.1:%d/files/read?path=%s&offset=0" % (self.c.sim_port, path)
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())["data"]

    def test_docker_env_parameters(self):
        """A spec in the shape upstream's tutorial uses (lower-case keys, the
        command's variables given as docker `env` parameters, as `docker run
        --env` takes them) runs, and its output reads back with upstream's
        `task logs --filename`."""
        spec = os.path.join(self.root, "greeting.yaml")
        with open(spec, "w") as f:
            f.write("name: Greeting\n"
                    "instancecount: 1\n"
                    "defaultconfig:\n"
                    "  resource: {cpulimit: 0.5, memlimitmb: 64, disklimitmb: 64, fdlimit: 10}\n"
                    "  container:\n"
                    "    type: 1\n"
                    "    docker:\n"
                    "      image: debian\n"
                    "      parameters:\n"
                    "        - {key: env, value: GREETING=hello-there}\n"
                    "        - {key: env, value: WHO=tutorial}\n"
                    "  command:\n"
                    "    shell: true\n"
                    "    value: 'echo $GREETING $WHO && echo warned >&2'\n")
        r = self.c.cli("job", "create", "/exec", spec)
        self.assertEqual(r.returncode, 0, r.stderr)
        jid = r.stdout.split()[-1]
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        r = self.c.cli("task", "logs", jid, "0", "--filename=stdout")
        self.assertEqual((r.returncode, r.stdout), (0, "hello-there tutorial\n"), r.stderr)
        r = self.c.cli("task", "logs", jid, "0", "-f", "stderr")
        self.assertEqual((r.returncode, r.stdout), (0, "warned\n"), r.stderr)

    def test_commands_run(self):
        ok = self.c.create_job(self.pool, batch(2, "echo hello-$PELOTON_INSTANCE_ID"))
        fails = self.c.create_job(self.pool, batch(1, "exit 2"))
        bg = self.c.create_job(self.pool, batch(1, "echo x & exit 2"))
        self.assertEqual(self.c.wait_job(ok, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        self.assertEqual(self.c.wait_job(fails, {"SUCCEEDED", "FAILED"}), "FAILED")
        self.assertEqual(self.c.wait_job(bg, {"SUCCEEDED", "FAILED"}), "FAILED")
        rt = self.c.task(fails, 0).runtime
        self.assertIn("status 2", rt.message)
        r = self.c.cli("--json", "task", "browse", ok, "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        paths = json.loads(r.stdout)["paths"]
        out = [p for p in paths if p.endswith("/stdout")][0]
        self.assertEqual(self.read(out), "hello-1\n")

    def test_logs_and_yaml_output(self):
        cmd = "echo 'out: here # not a comment'; echo oops >&2"
        jid = self.c.create_job(self.pool, batch(1, cmd))
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        r = self.c.cli("task", "logs", jid, "0")
        self.assertEqual((r.returncode, r.stdout), (0, "out: here # not a comment\n"), r.stderr)
        r = self.c.cli("task", "logs", jid, "0", "--stderr")
        self.assertEqual((r.returncode, r.stdout), (0, "oops\n"), r.stderr)
        # the CLI's YAML loads back, values with ': ' and ' #' included
        r = self.c.cli("job", "get", jid)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = yaml.safe_load(r.stdout)
        self.assertEqual(got["jobInfo"]["config"]["defaultConfig"]["command"]["value"], cmd)
        # values a YAML 1.1 reader would take for bools, numbers, dates
        cfg = batch(1, "true")
        cfg["name"] = "yes"
        cfg["labels"] = [{"key": k, "value": v} for k, v in
                         (("on", "off"), ("when", "2026-12-04"), ("n", "1_000"),
                          ("t", "1:30"))]
        tricky = self.c.create_job(self.pool, cfg)
        r = self.c.cli("job", "get", tricky)
        self.assertEqual(r.returncode, 0, r.stderr)
        conf = yaml.safe_load(r.stdout)["jobInfo"]["config"]
        self.assertEqual(conf["name"], "yes")
        self.assertEqual(conf["labels"], cfg["labels"])
        r = self.c.cli("job", "status", jid)
        self.assertIn("PENDING=0", r.stdout)  # every state, zeros too
        self.assertIn("SUCCEEDED=1", r.stdout)

    def test_kill_stops_the_process(self):
        svc = batch(1, "echo started; exec sleep 3600")
        svc["type"] = "SERVICE"
        jid = self.c.create_job(self.pool, svc)
        wait_until("the service RUNNING", lambda: task_pb2.TaskState.Name(
            self.c.task(jid, 0).runtime.state) == "RUNNING", 60)
        req = task_pb2.StopRequest()
        req.jobId.value = jid
        self.c.call("/peloton.api.task.TaskManager/Stop", req, task_pb2.StopResponse)
        self.assertEqual(self.c.wait_job(jid, {"KILLED"}, 60), "KILLED")
        # its process is gone (SIGTERM reaches the sleep, exec'd in its place)
        def gone():
            for pid in os.listdir("/proc"):
                try:
                    cwd = os.readlink("/proc/%s/cwd" % pid)
                except OSError:
                    continue
                if cwd.startswith(self.root) and jid in cwd:
                    return False
            return True
        wait_until("the task's process gone", gone, 30)


class HostNames(unittest.TestCase):
    """Agent profiles name their hosts (mesos-sim --agents-file, hostname)."""

    def test_profile_hostnames(self):
        d = tempfile.mkdtemp()
        agents = os.path.join(d, "agents.yaml")
        with open(agents, "w") as f:
            f.write("agents:\n  - count: 2\n    hostname: db-{i}.example\n"
                    "  - count: 1\n    hostname: edge\n")
        c = Cluster(agents=3, task_secs=3600, sim_args=["--agents-file", agents])
        try:
            pool = c.create_pool("/named")
            cfg = batch(3, "sleep 3600", placementStrategy="PLACEMENT_STRATEGY_SPREAD_JOB")
            jid = c.create_job(pool, cfg)
            hosts = wait_until("3 tasks placed", lambda: sorted(
                h for h in (c.task(jid, i).runtime.host for i in range(3)) if h) if all(
                c.task(jid, i).runtime.host for i in range(3)) else None, 60)
            self.assertEqual(hosts, ["db-0.example", "db-1.example", "edge"])
        finally:
            c.stop()
            shutil.rmtree(d, ignore_errors=True)


class PoolService(unittest.TestCase):
    """ResourcePoolService (the svc pool API), errors as call statuses."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(agents=2, task_secs=3600)

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def rp(self, method, req, resp):
        return self.c.call("/peloton.api.respool.ResourcePoolService/" + method, req, resp)

    def status(self, method, req, resp):
        with self.assertRaises(grpc.RpcError) as e:
            self.rp(method, req, resp)
        return e.exception.code()

    @staticmethod
    def config(name, parent=None, cpu=10):
        cfg = rs.ResourcePoolConfig(name=name, policy=rs.PriorityFIFO)
        for kind, res in (("cpu", cpu), ("memory", 1000), ("disk", 1000), ("gpu", 0)):
            cfg.resources.add(kind=kind, reservation=res, limit=res * 2, share=1)
        if parent:
            cfg.parent.value = parent
        return cfg

    def test_pool_lifecycle(self):
        top = self.rp("CreateResourcePool",
                      svc.CreateResourcePoolRequest(config=self.config("svc-top")),
                      svc.CreateResourcePoolResponse).id.value
        self.assertTrue(top)
        # a client-chosen id, and that id again: ALREADY_EXISTS
        req = svc.CreateResourcePoolRequest(config=self.config("svc-leaf", top, 5))
        req.id.value = "11111111-2222-3333-4444-555555555555"
        self.assertEqual(self.rp("CreateResourcePool", req, svc.CreateResourcePoolResponse)
                         .id.value, req.id.value)
        self.assertEqual(self.status("CreateResourcePool", req, svc.CreateResourcePoolResponse),
                         grpc.StatusCode.ALREADY_EXISTS)
        bad = svc.CreateResourcePoolRequest(config=self.config("svc-bad", top, -1))
        self.assertEqual(self.status("CreateResourcePool", bad, svc.CreateResourcePoolResponse),
                         grpc.StatusCode.INVALID_ARGUMENT)
        g = svc.GetResourcePoolRequest(includeChildPools=True)
        g.id.value = top
        r = self.rp("GetResourcePool", g, svc.GetResourcePoolResponse)
        self.assertEqual(r.resPool.config.name, "svc-top")
        self.assertEqual([c.id.value for c in r.childResPools], [req.id.value])
        path = rs.ResourcePoolPath(value="/svc-top/svc-leaf")
        r = self.rp("LookupResourcePoolID", svc.LookupResourcePoolIDRequest(path=path),
                    svc.LookupResourcePoolIDResponse)
        self.assertEqual(r.id.value, req.id.value)
        missing = svc.LookupResourcePoolIDRequest(path=rs.ResourcePoolPath(value="/nope"))
        self.assertEqual(self.status("LookupResourcePoolID", missing,
                                     svc.LookupResourcePoolIDResponse),
                         grpc.StatusCode.NOT_FOUND)
        u = svc.UpdateResourcePoolRequest(config=self.config("svc-leaf", top, 7))
        u.id.value = req.id.value
        self.rp("UpdateResourcePool", u, svc.UpdateResourcePoolResponse)
        q = self.rp("QueryResourcePools", svc.QueryResourcePoolsRequest(),
                    svc.QueryResourcePoolsResponse)
        leaf = [p for p in q.resPools if p.id.value == req.id.value][0]
        self.assertEqual(leaf.config.resources[0].reservation, 7)
        d = svc.DeleteResourcePoolRequest()
        d.id.value = top
        self.assertEqual(self.status("DeleteResourcePool", d, svc.DeleteResourcePoolResponse),
                         grpc.StatusCode.INVALID_ARGUMENT)  # not a leaf
        d.id.value = "no-such-pool"
        self.assertEqual(self.status("DeleteResourcePool", d, svc.DeleteResourcePoolResponse),
                         grpc.StatusCode.NOT_FOUND)
        jid = self.c.create_job(req.id.value, batch(1, "sleep 3600"))
        wait_until("the job running", lambda: task_pb2.TaskState.Name(
            self.c.task(jid, 0).runtime.state) == "RUNNING", 60)
        d.id.value = req.id.value
        self.assertEqual(self.status("DeleteResourcePool", d, svc.DeleteResourcePoolResponse),
                         grpc.StatusCode.FAILED_PRECONDITION)  # busy


if __name__ == "__main__":
    unittest.main(verbosity=2)
