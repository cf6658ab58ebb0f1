#!/usr/bin/env python3
"""End-to-end tests: mesos-sim and pelotond as real processes on loopback,
driven over gRPC (python3-grpcio with the schema's generated messages) and
over HTTP/JSON (urllib), plus the peloton CLI.

usage: test_e2e.py BIN_DIR PYGEN_DIR EXAMPLE_DIR [unittest args]
"""
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BIN, PYGEN, EXAMPLES = sys.argv[1], sys.argv[2], sys.argv[3]
del sys.argv[1:4]
sys.path.insert(0, PYGEN)

import grpc  # noqa: E402
from google.protobuf import json_format, symbol_database  # noqa: E402
from peloton.api.job import job_pb2  # noqa: E402
from peloton.api.respool import respool_pb2  # noqa: E402
from peloton.api.task import task_pb2  # noqa: E402

import pelcluster  # noqa: E402
from pelcluster import (Cluster, batch, free_port, metric, start_engine,  # noqa: E402
                        wait_line, wait_until)

pelcluster.BIN, pelcluster.EXAMPLES = BIN, EXAMPLES

PUBLIC_MODULES = [
    "peloton.api.job.job_pb2", "peloton.api.task.task_pb2",
    "peloton.api.respool.respool_pb2", "peloton.api.job.svc.job_svc_pb2",
    "peloton.api.task.svc.task_svc_pb2", "peloton.api.update.svc.update_svc_pb2",
    "peloton.api.volume.svc.volume_svc_pb2",
    "peloton.private.hostmgr.hostsvc.hostsvc_pb2",
    "peloton.private.resmgr.resmgrsvc_pb2",
    "peloton.private.resmgr.taskqueue.taskqueue_pb2",
    "peloton.private.eventstream.eventstream_pb2",
]


class E2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster()
        cls.pool = cls.c.create_pool()

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_batch_job_succeeds(self):
        jid = self.c.create_job(self.pool, batch(1000))
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        rt = self.c.job(jid).jobInfo.runtime
        self.assertEqual(dict(rt.taskStats), {"SUCCEEDED": 1000})
        self.assertTrue(rt.creationTime.endswith("Z") and rt.completionTime)
        t = self.c.task(jid, 7)
        self.assertEqual(t.runtime.mesosTaskId.value, "%s-7-1" % jid)
        self.assertTrue(t.runtime.host.startswith("host-"))

    def test_failing_instance_restarts_then_fails(self):
        cfg = batch(3, "true")
        cfg["defaultConfig"]["restartPolicy"] = {"maxFailures": 2}
        cfg["instanceConfig"] = {"1": {"command": {"shell": True, "value": "exit 3"}}}
        jid = self.c.create_job(self.pool, cfg)
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "FAILED")
        t = self.c.task(jid, 1)
        self.assertEqual(task_pb2.TaskState.Name(t.runtime.state), "FAILED")
        self.assertEqual(t.runtime.failureCount, 3)  # the first run and 2 restarts
        self.assertIn("status 3", t.runtime.message)
        runs = [l for l in self.c.launches() if l.startswith(jid + "-1-")]
        self.assertEqual(sorted(runs), ["%s-1-%d" % (jid, r) for r in (1, 2, 3)])
        self.assertEqual(task_pb2.TaskState.Name(self.c.task(jid, 0).runtime.state),
                         "SUCCEEDED")

    def test_gang_job(self):
        cfg = batch(8, sla={"minimumRunningInstances": 4, "maximumRunningInstances": 8})
        jid = self.c.create_job(self.pool, cfg)
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")

    def test_constraint_pins_to_rack(self):
        cfg = batch(6)
        cfg["defaultConfig"]["constraint"] = {
            "type": "LABEL_CONSTRAINT",
            "labelConstraint": {"kind": "HOST", "condition": "CONDITION_EQUAL",
                                "requirement": 1, "label": {"key": "rack", "value": "rack-3"}}}
        jid = self.c.create_job(self.pool, cfg)
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        for i in range(6):
            host = self.c.task(jid, i).runtime.host
            self.assertEqual(int(host.split("-")[1]) % 10, 3, host)

    def test_too_big_stays_pending(self):
        cfg = batch(1)
        cfg["defaultConfig"]["resource"] = {"cpuLimit": 500, "memLimitMb": 64}
        jid = self.c.create_job(self.pool, cfg)
        time.sleep(1.5)
        self.assertEqual(job_pb2.JobState.Name(self.c.job(jid).jobInfo.runtime.state),
                         "PENDING")
        # never launched: no sandbox (v0 notRunning; svc FAILED_PRECONDITION)
        req = task_pb2.BrowseSandboxRequest()
        req.jobId.value = jid
        r = self.c.call("/peloton.api.task.TaskManager/BrowseSandbox", req,
                        task_pb2.BrowseSandboxResponse)
        self.assertTrue(r.error.HasField("notRunning"), r)
        from peloton.api.task.svc import task_svc_pb2 as ts
        sreq = ts.BrowseSandboxRequest()
        sreq.jobId.value = jid
        with self.assertRaises(grpc.RpcError) as cm:
            self.c.call("/peloton.api.task.svc.TaskService/BrowseSandbox", sreq,
                        ts.BrowseSandboxResponse)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        # why: admitted (the pool has room) but no host has 500 cpus
        rt = self.c.task(jid, 0).runtime
        self.assertEqual(rt.reason, "NO_HOST_FITS", rt)
        self.assertRegex(rt.message, r"0/20 hosts: 20 insufficient resources")
        m = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.c.http).read().decode()
        n = re.search(r'peloton_unplaceable_tasks\{reason="insufficient_resources"\} (\d+)', m)
        self.assertTrue(n and int(n.group(1)) >= 1, m[-800:])

    def test_stop_then_start(self):
        jid = self.c.create_job(self.pool, batch(5, "true"))
        req = task_pb2.StopRequest()
        req.jobId.value = jid
        r = self.c.call("/peloton.api.task.TaskManager/Stop", req, task_pb2.StopResponse)
        self.assertEqual(len(r.stoppedInstanceIds), 5)
        self.assertIn(self.c.wait_job(jid, {"KILLED", "SUCCEEDED"}), {"KILLED", "SUCCEEDED"})
        req = task_pb2.StartRequest()
        req.jobId.value = jid
        # a batch job that ended stays ended (upstream: INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as e:
            self.c.call("/peloton.api.task.TaskManager/Start", req, task_pb2.StartResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("terminated job", e.exception.details())
        # one still running: its stopped instances start again
        jid = self.c.create_job(self.pool, batch(2, "sleep 30"))
        req = task_pb2.StopRequest()
        req.jobId.value = jid
        rg = req.ranges.add()
        rg.__setattr__("from", 0)
        rg.to = 1
        self.c.call("/peloton.api.task.TaskManager/Stop", req, task_pb2.StopResponse)
        req = task_pb2.StartRequest()
        req.jobId.value = jid
        r = self.c.call("/peloton.api.task.TaskManager/Start", req, task_pb2.StartResponse)
        self.assertIn(0, list(r.startedInstanceIds))

    def test_invalid_configs(self):
        # (instanceCount 0 is valid, as upstream: a job with no instances yet)
        bad = [batch(2, sla={"maximumRunningInstances": 3}),
               batch(2, sla={"minimumRunningInstances": 3}),
               batch(2, instanceConfig={"5": {"name": "x"}})]
        bad[1]["sla"]["maximumRunningInstances"] = 2
        for cfg in bad:
            req = job_pb2.CreateRequest()
            json_format.ParseDict({"config": cfg}, req)
            req.config.respoolID.value = self.pool
            r = self.c.call("/peloton.api.job.JobManager/Create", req, job_pb2.CreateResponse)
            self.assertTrue(r.error.HasField("invalidConfig"), cfg)

    def test_idempotent_create_and_already_exists(self):
        req = job_pb2.CreateRequest()
        json_format.ParseDict({"id": {"value": "fixed-id-1"}, "config": batch(1)}, req)
        req.config.respoolID.value = self.pool
        p = "/peloton.api.job.JobManager/Create"
        self.assertEqual(self.c.call(p, req, job_pb2.CreateResponse).jobId.value, "fixed-id-1")
        self.assertEqual(self.c.call(p, req, job_pb2.CreateResponse).jobId.value, "fixed-id-1")
        req.config.instanceCount = 2
        self.assertTrue(self.c.call(p, req, job_pb2.CreateResponse).error.HasField(
            "alreadyExists"))

    def test_every_public_method_answers(self):
        """Each method of each service once over gRPC with an empty request: an
        answer or a proper status, never a crash or a hang."""
        import importlib
        seen = 0
        for modname in PUBLIC_MODULES:
            mod = importlib.import_module(modname)
            for svc in mod.DESCRIPTOR.services_by_name.values():
                for m in svc.methods:
                    if m.name in ("WaitForEvents", "DequeueGangs", "GetPlacements",
                                  "Dequeue"):
                        continue  # long polls with server-side waits
                    req = symbol_database.Default().GetSymbol(m.input_type.full_name)()
                    out = symbol_database.Default().GetSymbol(m.output_type.full_name)
                    path = "/%s/%s" % (svc.full_name, m.name)
                    try:
                        self.c.call(path, req, out)
                    except grpc.RpcError as e:
                        self.assertIn(e.code(), {grpc.StatusCode.UNIMPLEMENTED,
                                                 grpc.StatusCode.INVALID_ARGUMENT,
                                                 grpc.StatusCode.NOT_FOUND,
                                                 grpc.StatusCode.FAILED_PRECONDITION,
                                                 grpc.StatusCode.OUT_OF_RANGE}, path)
                    seen += 1
                    # the v0 alias path reaches the same handler
        self.assertGreater(seen, 60)
        urllib.request.urlopen("http://127.0.0.1:%d/health" % self.c.http).read()

    def test_job_service_svc_api(self):
        from peloton.api.job.svc import job_svc_pb2 as svc
        req = svc.CreateJobRequest()
        json_format.ParseDict({"pool": {"value": "/e2e"}, "config": batch(2)}, req)
        base = "/peloton.api.job.svc.JobService/"
        jid = self.c.call(base + "CreateJob", req, svc.CreateJobResponse).jobId.value
        g = svc.GetJobRequest()
        g.id.value = jid
        self.assertEqual(self.c.call(base + "GetJob", g, svc.GetJobResponse).result.instanceCount,
                         2)
        self.c.wait_job(jid, {"SUCCEEDED"})
        q = svc.QueryJobsRequest()
        q.pagination.limit = 500
        ids = [r.id.value for r in self.c.call(base + "QueryJobs", q,
                                               svc.QueryJobsResponse).records]
        self.assertIn(jid, ids)
        d = svc.DeleteJobRequest()
        d.id.value = jid
        self.c.call(base + "DeleteJob", d, svc.DeleteJobResponse)
        for path, msg, cls in (("GetJob", g, svc.GetJobResponse),
                               ("DeleteJob", d, svc.DeleteJobResponse)):
            with self.assertRaises(grpc.RpcError) as cm:
                self.c.call(base + path, msg, cls)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        req.id.value = "svc-dup"
        self.c.call(base + "CreateJob", req, svc.CreateJobResponse)
        req.config.instanceCount = 3
        with self.assertRaises(grpc.RpcError) as cm:
            self.c.call(base + "CreateJob", req, svc.CreateJobResponse)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        req.config.instanceCount = 3
        req.config.defaultConfig.resource.cpuLimit = -1
        req.id.value = ""
        with self.assertRaises(grpc.RpcError) as cm:
            self.c.call(base + "CreateJob", req, svc.CreateJobResponse)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_update_adds_instances(self):
        cfg = batch(2)
        jid = self.c.create_job(self.pool, cfg)
        self.c.wait_job(jid, {"SUCCEEDED"})
        req = job_pb2.UpdateRequest()
        json_format.ParseDict({"id": {"value": jid}, "config": dict(cfg, instanceCount=5)}, req)
        req.config.respoolID.value = self.pool
        p = "/peloton.api.job.JobManager/Update"
        r = self.c.call(p, req, job_pb2.UpdateResponse)
        self.assertFalse(r.HasField("error"), r)
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED"}), "SUCCEEDED")
        info = self.c.job(jid).jobInfo
        self.assertEqual(dict(info.runtime.taskStats), {"SUCCEEDED": 5})
        self.assertEqual(info.runtime.configVersion, 2)
        self.assertEqual(self.c.task(jid, 0).runtime.mesosTaskId.value, "%s-0-1" % jid)
        # fewer instances: the highest ones leave the job
        req.config.instanceCount = 3
        r = self.c.call(p, req, job_pb2.UpdateResponse)
        self.assertFalse(r.HasField("error"), r)
        end = time.time() + 30
        while sum(self.c.job(jid).jobInfo.runtime.taskStats.values()) != 3:
            self.assertLess(time.time(), end, "instances 3 and 4 still there")
            time.sleep(0.2)
        self.assertEqual(self.c.job(jid).jobInfo.runtime.configVersion, 3)
        # another change is a new version for every instance: the finished
        # ones keep their run, the new ones run with it
        req.config.instanceCount = 6
        req.config.name = "renamed"
        r = self.c.call(p, req, job_pb2.UpdateResponse)
        self.assertFalse(r.HasField("error"), r)
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED"}), "SUCCEEDED")
        info = self.c.job(jid).jobInfo
        self.assertEqual(info.runtime.configVersion, 4)
        self.assertEqual(info.config.name, "renamed")
        self.assertEqual(dict(info.runtime.taskStats), {"SUCCEEDED": 6})
        self.assertEqual(self.c.task(jid, 0).runtime.mesosTaskId.value, "%s-0-1" % jid)

    def test_task_service_svc_api(self):
        from peloton.api.task.svc import task_svc_pb2 as ts
        jid = self.c.create_job(self.pool, batch(4))
        self.c.wait_job(jid, {"SUCCEEDED"})
        base = "/peloton.api.task.svc.TaskService/"
        g = ts.GetTaskRequest()
        g.jobId.value = jid
        g.instanceId = 2
        r = self.c.call(base + "GetTask", g, ts.GetTaskResponse)
        self.assertEqual(r.result.instanceId, 2)
        self.assertEqual(task_pb2.TaskState.Name(r.result.runtime.state), "SUCCEEDED")
        lt = ts.ListTasksRequest()
        lt.jobId.value = jid
        self.assertEqual(sorted(self.c.call(base + "ListTasks", lt, ts.ListTasksResponse).tasks),
                         [0, 1, 2, 3])
        q = ts.QueryTasksRequest()
        q.jobId.value = jid
        q.pagination.limit = 2
        qr = self.c.call(base + "QueryTasks", q, ts.QueryTasksResponse)
        self.assertEqual((len(qr.records), qr.pagination.total), (2, 4))
        ev = ts.GetEventsRequest()
        ev.jobId.value = jid
        events = self.c.call(base + "GetEvents", ev, ts.GetEventsResponse).result[0].event
        self.assertIn("SUCCEEDED", [task_pb2.TaskState.Name(e.state) for e in events])
        g.instanceId = 9
        with self.assertRaises(grpc.RpcError) as cm:
            self.c.call(base + "GetTask", g, ts.GetTaskResponse)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.OUT_OF_RANGE)
        g.jobId.value = "nope"
        with self.assertRaises(grpc.RpcError) as cm:
            self.c.call(base + "GetTask", g, ts.GetTaskResponse)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        # As upstream: a batch job that ended cannot be started again.
        st = ts.StartTasksRequest()
        st.jobId.value = jid
        with self.assertRaises(grpc.RpcError) as cm:
            self.c.call(base + "StartTasks", st, ts.StartTasksResponse)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED"}), "SUCCEEDED")

    def test_event_stream_is_not_served_to_callers(self):
        """The job manager reads the host manager's stream in process here:
        the RPC face refuses its client name, so no caller can read or purge
        its updates (a caller purging them once stopped the consumer and
        lost updates); jobs still complete after the attempts."""
        from peloton.private.eventstream import eventstream_pb2 as es
        base = "/peloton.private.eventstream.EventStreamService/"
        for name in ("jobmgr", "stranger", ""):
            r = self.c.call(base + "InitStream", es.InitStreamRequest(clientName=name),
                            es.InitStreamResponse)
            self.assertTrue(r.error.HasField("clientUnsupported"), name)
            for purge in (0, 10**6):
                w = es.WaitForEventsRequest(streamID="stream-x", clientName=name,
                                            beginOffset=10**6, purgeOffset=purge)
                r = self.c.call(base + "WaitForEvents", w, es.WaitForEventsResponse)
                self.assertTrue(r.error.HasField("clientUnsupported"), name)
        jid = self.c.create_job(self.pool, batch(3))
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")

    def test_v0_alias_path(self):
        req = job_pb2.GetRequest()
        req.id.value = "nope"
        r = self.c.call("/peloton.api.v0.job.JobManager/Get", req, job_pb2.GetResponse)
        self.assertTrue(r.error.HasField("notFound"))

    def test_http_json(self):
        st, body = self.c.http_call("ResourceManager::LookupResourcePoolID",
                                    {"path": {"value": "/e2e"}})
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body)["id"]["value"], self.pool)
        st, body = self.c.http_call("JobManager::Create", {"config": dict(
            batch(3), respoolID={"value": self.pool})})
        self.assertEqual(st, 200, body)
        jid = json.loads(body)["jobId"]["value"]
        st, body = self.c.http_call("peloton.api.job.JobManager::Get", {"id": {"value": jid}})
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body)["jobInfo"]["config"]["instanceCount"], 3)

    def test_http_bad_input(self):
        c = self.c
        # truncated protobuf
        st, _ = c.http_call("JobManager::Get", b"\x0a\x05ab", enc="proto")
        self.assertEqual(st, 400)
        # wrong JSON types, unknown enum, unknown field, not JSON
        for body in (b'{"id": 5}', b'{"spec": {"jobStates": ["NOPE"]}}', b'{"bogus": 1}',
                     b'{"id": {"value": "x"'):
            st, out = c.http_call("JobManager::Query" if b"spec" in body else
                                  "JobManager::Get", body)
            self.assertEqual(st, 400, body)
            self.assertEqual(json.loads(out)["code"], "INVALID_ARGUMENT")
        st, _ = c.http_call("NoSuch::Thing", {})
        self.assertEqual(st, 404)
        st, _ = c.http_call("JobManager::Get", {}, headers={"Context-TTL-MS": "soon"})
        self.assertEqual(st, 400)
        st, _ = c.http_call("JobManager::Get", b"x" * (5 << 20))
        self.assertEqual(st, 413)
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1" % c.http, data=b"{}",
                                     method="POST")
        try:
            urllib.request.urlopen(req, timeout=5)
            self.fail("missing Rpc-Procedure accepted")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 400)
        # the daemon still serves
        self.assertEqual(c.http_call("JobManager::Get", {"id": {"value": "x"}})[0], 200)

    def test_many_and_slow_connections(self):
        """One address holding 400 idle HTTP connections, 20 slow bodies and
        100 idle gRPC connections: it gets at most 64 HTTP connections, and
        the daemon keeps answering other clients on both transports."""
        held, refused = [], 0
        other = ("127.0.0.2", 0)  # loopback too, but another address
        try:
            for port in [self.c.http] * 400 + [self.c.grpc] * 100:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5,
                                                     source_address=other))
            for _ in range(20):
                s = socket.create_connection(("127.0.0.1", self.c.http), timeout=5,
                                             source_address=other)
                s.sendall(b"POST /api/v1 HTTP/1.1\r\nHost: x\r\nRpc-Procedure: JobManager::Get"
                          b"\r\nContent-Length: 1000\r\n\r\n{\"id\"")
                held.append(s)
            time.sleep(0.5)
            st, _ = self.c.http_call("JobManager::Get", {"id": {"value": "x"}})
            self.assertEqual(st, 200)
            req = job_pb2.GetRequest()
            req.id.value = "x"
            r = self.c.call("/peloton.api.job.JobManager/Get", req, job_pb2.GetResponse)
            self.assertTrue(r.error.HasField("notFound"))
            # the HTTP connections past 64 from that address were closed at once
            for s in held[:400]:
                s.settimeout(0.05)
                try:
                    if s.recv(1) == b"":
                        refused += 1
                except socket.timeout:
                    pass
                except OSError:
                    refused += 1
            self.assertGreaterEqual(refused, 400 - 64)
        finally:
            for s in held:
                s.close()
        st, _ = self.c.http_call("JobManager::Get", {"id": {"value": "x"}})
        self.assertEqual(st, 200)

    def test_grpc_bad_bytes(self):
        f = self.c.channel.unary_unary("/peloton.api.job.JobManager/Get",
                                       request_serializer=lambda b: b,
                                       response_deserializer=lambda b: b)
        with self.assertRaises(grpc.RpcError) as cm:
            f(b"\x0a\x05ab", timeout=5)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as cm:
            self.c.channel.unary_unary("/no.Such/Method")(b"", timeout=5)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_metrics_and_admin(self):
        base = "http://127.0.0.1:%d" % self.c.http
        m = urllib.request.urlopen(base + "/metrics").read().decode()
        self.assertIn("peloton_tasks{state=", m)
        self.assertIn("peloton_rpc_requests_total", m)
        self.assertIn("peloton_hosts 20", m)
        self.assertIn("peloton_mesos_subscribed 1", m)
        self.assertIn('peloton_mesos_events_by_type_total{type="OFFERS"}', m)
        self.assertIn('peloton_pool_tasks{pool="/e2e",queue="pending"}', m)
        # after a job ran: the latency histograms, per-pool usage, the process
        jid = self.c.create_job(self.pool, batch(3))
        self.c.wait_job(jid, {"SUCCEEDED"})
        m = urllib.request.urlopen(base + "/metrics").read().decode()
        for family in ("peloton_task_submit_to_running_seconds_count",
                       "peloton_task_schedule_seconds_count", "peloton_task_launch_seconds_count",
                       "peloton_placement_round_seconds_count"):
            self.assertGreaterEqual(metric(self.c.http, family), 3 if "task" in family else 1,
                                    family)
        self.assertIn('peloton_pool_entitlement{pool="/e2e",resource="cpu"}', m)
        self.assertIn("process_resident_memory_bytes", m)
        self.assertRegex(m, r'peloton_build_info\{version="[^"]+",commit="[^"]+"\} 1')
        # Prometheus's own linter: HELP and TYPE on every family, names and units
        lint = subprocess.run(["promtool", "check", "metrics"], input=m, capture_output=True,
                              text=True, timeout=30)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        # every metric the Grafana dashboard (dist/grafana) queries is served
        families = set(re.findall(r"^# TYPE (\S+) ", m, re.M))
        with open(os.path.join(EXAMPLES, "..", "dist", "grafana", "pelotond.json")) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        for e in exprs:
            for name in re.findall(r"\b((?:peloton|process)_[a-z0-9_]+)", e):
                fam = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertIn(fam if fam in families else name, families,
                              "dashboard query %r names %s" % (e, name))
        self.assertEqual(urllib.request.urlopen(base + "/leaderhealth").status, 200)
        req = urllib.request.Request(base + "/logging-level", data=b"debug", method="PUT")
        self.assertEqual(urllib.request.urlopen(req).read().strip(), b"debug")
        req = urllib.request.Request(base + "/logging-level", data=b"warn", method="PUT")
        urllib.request.urlopen(req).read()
        # upstream's form: a level for a while, then back by itself
        req = urllib.request.Request(base + "/logging-level?level=debug&duration=1s",
                                     data=b"", method="PUT")
        self.assertEqual(urllib.request.urlopen(req).read().strip(), b"debug")
        time.sleep(1.5)
        self.assertEqual(urllib.request.urlopen(base + "/logging-level").read().strip(), b"warn")
        for bad in ("level=loud", "level=debug&duration=forever", "level=debug&duration=-5s"):
            req = urllib.request.Request(base + "/logging-level?" + bad, data=b"", method="PUT")
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req)
            self.assertEqual(e.exception.code, 400, bad)
        # the log lines name their job in a field of their own
        with open(os.path.join(self.c.dir, "d.log")) as f:
            self.assertRegex(f.read(), r'"job":"%s","msg":"job %s created' % (jid, jid))

    def test_cli(self):
        c = self.c
        r = c.cli("job", "create", "/e2e", os.path.join(EXAMPLES, "hello_world.yaml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        jid = r.stdout.strip()
        c.wait_job(jid, {"SUCCEEDED"})
        r = c.cli("--json", "job", "get", jid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["jobInfo"]["runtime"]["state"], "SUCCEEDED")
        for args in (["job", "status", jid], ["job", "query"], ["task", "get", jid, "0"],
                     ["task", "list", jid, "--range", "0:3"], ["task", "events", jid, "0"],
                     ["task", "query", jid, "--state", "SUCCEEDED"], ["respool", "dump"],
                     ["respool", "get", "/e2e"], ["host", "capacity"]):
            r = c.cli("--json", *args)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            json.loads(r.stdout)
        env_http = dict(os.environ, JOBMGR_URL="127.0.0.1:%d" % c.grpc,
                        PELOTON_HTTP="127.0.0.1:%d" % c.http)
        for args in (["respool", "update", "/e2e", os.path.join(EXAMPLES, "respool.yaml")],
                     ["respool", "pending", "/e2e"], ["host", "offers", "--limit", "2"],
                     ["task", "restart", jid, "--range", "0:1"],
                     ["job", "update", jid, os.path.join(EXAMPLES, "hello_world.yaml")],
                     ["placement", "explain", os.path.join(EXAMPLES, "constrained_job.yaml"),
                      "--count", "3"],
                     ["task", "stop", jid]):
            r = subprocess.run([os.path.join(BIN, "peloton"), "--json"] + args, env=env_http,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            out = json.loads(r.stdout)
            if args[0] == "placement":
                self.assertEqual(out["requested"], 3)
                self.assertEqual(out["placed"], 3)  # rack-1 has 2 of the 20 hosts
                self.assertTrue(all(int(s["hostname"].split("-")[1]) % 10 == 1
                                    for s in out["slots"]), out)
            if args[1] == "offers":
                self.assertLessEqual(len(out.get("hostOffers", [])), 2)
        # a pool tree, a job in the leaf, stop, delete, browse
        for args in (["respool", "create", "/cli", os.path.join(EXAMPLES, "respool.yaml")],
                     ["respool", "create", "/cli/leaf", os.path.join(EXAMPLES,
                                                                   "respool_leaf.yaml")]):
            self.assertEqual(c.cli(*args).returncode, 0, args)
        r = c.cli("job", "create", "/cli/leaf", os.path.join(EXAMPLES, "gang_job.yaml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        j2 = r.stdout.strip()
        self.assertEqual(c.cli("job", "stop", j2).returncode, 0)
        c.wait_job(j2, {"KILLED", "SUCCEEDED"})
        self.assertEqual(c.cli("job", "delete", j2).returncode, 0)
        r = c.cli("job", "get", j2)
        self.assertEqual(r.returncode, 1)
        self.assertIn("notFound", r.stderr)
        r = c.cli("--json", "task", "browse", jid, "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["port"], str(c.sim_port))
        self.assertTrue(any(p.endswith("/stdout") for p in out["paths"]), out)
        self.assertEqual(c.cli("respool", "delete", "/cli/leaf").returncode, 0)
        self.assertEqual(c.cli("respool", "delete", "/cli").returncode, 0)
        r = c.cli("respool", "lookup", "/cli")
        self.assertEqual(r.returncode, 1)
        # an unknown volume: NOT_FOUND and exit 1
        r = c.cli("volume", "get", "v1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("NOT_FOUND", r.stderr)
        # an unknown update: NOT_FOUND and exit 1; no update running
        r = c.cli("update", "get", "u1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("NOT_FOUND", r.stderr)
        r = c.cli("update", "list")
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)
        # stopped above, the batch job ended: it cannot be started again (upstream)
        self.assertIn(c.wait_job(jid, {"SUCCEEDED", "KILLED"}), {"SUCCEEDED", "KILLED"})
        r = c.cli("task", "start", jid)
        self.assertEqual(r.returncode, 1)
        self.assertIn("INVALID_ARGUMENT", r.stderr)
        # bad specs: file:line and exit 1
        d = tempfile.mkdtemp()
        cases = {"syntax.yaml": "name: [unclosed\n", "unknown.yaml": "name: x\nbogusKey: 1\n",
                 "type.yaml": "name: x\ninstanceCount: many\n"}
        for fn, text in cases.items():
            p = os.path.join(d, fn)
            with open(p, "w") as f:
                f.write(text)
            r = c.cli("--strict", "job", "create", "/e2e", p)  # (else unknown keys are warned)
            self.assertEqual(r.returncode, 1, fn)
            self.assertRegex(r.stderr, r"%s:\d+" % fn)
        shutil.rmtree(d)
        r = c.cli("job")
        self.assertEqual(r.returncode, 2)
        env = dict(os.environ, JOBMGR_URL="127.0.0.1:1")
        r = subprocess.run([os.path.join(BIN, "peloton"), "--timeout", "2000", "job", "query"],
                           env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach", r.stderr)


class LongTasks(unittest.TestCase):
    """Tasks that run 30 s: kills go through Mesos (KILLING -> KILLED)."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(agents=5, task_secs=30)
        cls.pool = cls.c.create_pool("/long")

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def wait_running(self, jid, n):
        end = time.time() + 30
        while time.time() < end:
            if dict(self.c.job(jid).jobInfo.runtime.taskStats).get("RUNNING") == n:
                return
            time.sleep(0.1)
        self.fail("tasks not RUNNING")

    def test_stop_running_tasks(self):
        jid = self.c.create_job(self.pool, batch(3))
        self.wait_running(jid, 3)
        req = task_pb2.StopRequest()
        req.jobId.value = jid
        self.c.call("/peloton.api.task.TaskManager/Stop", req, task_pb2.StopResponse)
        self.assertEqual(self.c.wait_job(jid, {"KILLED"}, 30), "KILLED")
        self.assertEqual(task_pb2.TaskState.Name(self.c.task(jid, 2).runtime.state), "KILLED")

    def test_restart_running_tasks(self):
        jid = self.c.create_job(self.pool, batch(2))
        self.wait_running(jid, 2)
        req = task_pb2.RestartRequest()
        req.jobId.value = jid
        req.ranges.add(**{"from": 0, "to": 1})
        self.c.call("/peloton.api.task.TaskManager/Restart", req, task_pb2.RestartResponse)
        end = time.time() + 30
        while time.time() < end:
            t = self.c.task(jid, 0)
            if t.runtime.mesosTaskId.value == "%s-0-2" % jid and \
                    task_pb2.TaskState.Name(t.runtime.state) == "RUNNING":
                break
            time.sleep(0.1)
        self.assertEqual(t.runtime.mesosTaskId.value, "%s-0-2" % jid)
        self.assertEqual(t.runtime.failureCount, 0)
        # instance 1 was not in the range: still its first run
        self.assertEqual(self.c.task(jid, 1).runtime.mesosTaskId.value, "%s-1-1" % jid)
        self.assertIn("%s-0-2" % jid, self.c.launches())

    def test_delete_running_job(self):
        jid = self.c.create_job(self.pool, batch(2))
        self.wait_running(jid, 2)
        req = job_pb2.DeleteRequest()
        req.id.value = jid
        # the v0 Delete refuses a job that is not terminal, as upstream's
        with self.assertRaises(grpc.RpcError) as e:
            self.c.call("/peloton.api.job.JobManager/Delete", req, job_pb2.DeleteResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        req.id.value = "no-such-job"
        with self.assertRaises(grpc.RpcError) as e:
            self.c.call("/peloton.api.job.JobManager/Delete", req, job_pb2.DeleteResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        # JobService.DeleteJob stops it and deletes it
        from peloton.api.job.svc import job_svc_pb2 as js
        sreq = js.DeleteJobRequest()
        sreq.id.value = jid
        self.c.call("/peloton.api.job.svc.JobService/DeleteJob", sreq, js.DeleteJobResponse)
        end = time.time() + 30
        while time.time() < end and not self.c.job(jid).HasField("error"):
            time.sleep(0.1)
        self.assertTrue(self.c.job(jid).error.HasField("notFound"))

    def test_max_running_time(self):
        jid = self.c.create_job(self.pool, batch(2, sla={"maxRunningTime": 1}))
        self.wait_running(jid, 2)
        self.assertEqual(self.c.wait_job(jid, {"KILLED", "SUCCEEDED"}, 30), "KILLED")
        self.assertEqual(self.c.task(jid, 0).runtime.reason, "MAX_RUNNING_TIME_EXCEEDED")


class Preemption(unittest.TestCase):
    def test_preemptible_tasks_make_room_and_come_back(self):
        """Pool a runs preemptible tasks on the whole cluster; pool b's
        reservation claims most of it: the resource manager preempts a's
        excess, the job manager kills those runs and enqueues them again."""
        c = Cluster(agents=5, task_secs=60, daemon_args=["--preempt-ms", "200"])
        try:
            d = tempfile.mkdtemp()
            ids = {}
            for name, cpu in (("pa", 10), ("pb", 150)):
                p = os.path.join(d, name + ".yaml")
                with open(p, "w") as f:
                    f.write("resources:\n"
                            "  - {kind: cpu, reservation: %d, limit: 1000, share: 1}\n"
                            "  - {kind: memory, reservation: 100000, limit: 10000000, share: 1}\n"
                            % cpu)
                r = c.cli("respool", "create", "/" + name, p)
                self.assertEqual(r.returncode, 0, r.stderr)
                ids[name] = r.stdout.split()[-1]
            shutil.rmtree(d)
            a = batch(10, sla={"preemptible": True})
            a["defaultConfig"]["resource"] = {"cpuLimit": 16, "memLimitMb": 64}
            # instances 0-4 are killed for good when preempted (goal PREEMPTING)
            a["instanceConfig"] = {str(i): {"preemptionPolicy": {"killOnPreempt": True}}
                                   for i in range(5)}
            ja = c.create_job(ids["pa"], a)
            end = time.time() + 30
            while dict(c.job(ja).jobInfo.runtime.taskStats).get("RUNNING") != 10:
                self.assertLess(time.time(), end, "job a never ran on the whole cluster")
                time.sleep(0.1)
            b = batch(8)
            b["defaultConfig"]["resource"] = {"cpuLimit": 16, "memLimitMb": 64}
            jb = c.create_job(ids["pb"], b)
            end = time.time() + 30
            while dict(c.job(jb).jobInfo.runtime.taskStats).get("RUNNING") != 8:
                self.assertLess(time.time(), end, c.job(jb).jobInfo.runtime)
                time.sleep(0.1)
            stats = dict(c.job(ja).jobInfo.runtime.taskStats)
            self.assertEqual(stats.get("RUNNING"), 2, stats)
            def events(i):
                req = task_pb2.GetEventsRequest()
                req.jobId.value = ja
                req.instanceId = i
                r = c.call("/peloton.api.task.TaskManager/GetEvents", req,
                           task_pb2.GetEventsResponse)
                return [e.message for e in r.result[0].event]
            preempted = [i for i in range(10) if "preempted" in events(i)]
            self.assertEqual(len(preempted), 8)
            self.assertEqual(metric(c.http, 'peloton_preemptions_total{pool="/pa"}'), 8)
            self.assertEqual(metric(c.http, 'peloton_preemptions_total{pool="/pb"}'), 0)
            # waiting to run again, not killed for good, unless killOnPreempt:
            # then down for good, goal PREEMPTING as upstream
            def state(i):
                rt = c.task(ja, i).runtime
                return task_pb2.TaskState.Name(rt.state), task_pb2.TaskState.Name(rt.goalState)
            for i in preempted:
                want = ("KILLED", "PREEMPTING") if i < 5 else ("PENDING", "SUCCEEDED")
                wait_until("instance %d %s" % (i, want), lambda: state(i) == want, 30)
        finally:
            c.stop()


class Faults(unittest.TestCase):
    """Mesos misbehaving: launches lost without a trace are found by
    reconciliation and relaunched; offers held too long are declined."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(agents=5, task_secs=0.5,
                        daemon_args=["--reconcile-launch-secs", "1", "--offer-hold-secs", "2"])
        cls.pool = cls.c.create_pool("/faults")

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def fault(self, query):
        url = "http://127.0.0.1:%d/sim/fault?%s" % (self.c.sim_port, query)
        urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST")).read()

    def sim_stats(self):
        url = "http://127.0.0.1:%d/sim/stats" % self.c.sim_port
        return json.loads(urllib.request.urlopen(url).read())

    def metric(self, name):
        m = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.c.http).read().decode()
        for line in m.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        self.fail("no metric " + name)

    def test_lost_launches_are_reconciled_and_relaunched(self):
        lost0 = self.sim_stats()["lost_launches"]
        self.fault("action=lose-launches&rate=1")
        try:
            jid = self.c.create_job(self.pool, batch(3))
            end = time.time() + 20
            while time.time() < end and self.sim_stats()["lost_launches"] < lost0 + 3:
                time.sleep(0.05)
            self.assertGreaterEqual(self.sim_stats()["lost_launches"], lost0 + 3)
        finally:
            self.fault("action=lose-launches&rate=0")
        # Mesos never says a word about those runs: after 1 s the job manager
        # reconciles them, the master answers TASK_LOST, and they run again
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}, 60), "SUCCEEDED")
        runs = [l for l in self.c.launches() if l.startswith(jid)]
        insts = sorted(l[len(jid) + 1:].split("-")[0] for l in runs)
        self.assertEqual(insts, ["0", "1", "2"])  # each ran once, none of the lost runs
        for i in range(3):
            self.assertNotEqual(self.c.task(jid, i).runtime.mesosTaskId.value,
                                "%s-%d-1" % (jid, i))

    def test_deleted_job_leaves_memory(self):
        jid = self.c.create_job(self.pool, batch(2))
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}, 60), "SUCCEEDED")
        before = self.metric("peloton_jobs")
        req = job_pb2.DeleteRequest()
        req.id.value = jid
        r = self.c.call("/peloton.api.job.JobManager/Delete", req, job_pb2.DeleteResponse)
        self.assertFalse(r.HasField("error"))
        end = time.time() + 10
        while time.time() < end and self.metric("peloton_jobs") != before - 1:
            time.sleep(0.1)
        self.assertEqual(self.metric("peloton_jobs"), before - 1)
        self.assertTrue(self.c.job(jid).error.HasField("notFound"))

    def test_held_offers_are_declined(self):
        end = time.time() + 20
        while time.time() < end and \
                self.metric('peloton_offers_total{result="declined"}') == 0:
            time.sleep(0.2)
        self.assertGreater(self.metric('peloton_offers_total{result="declined"}'), 0)
        # declined agents come back after the filter: a job still runs
        jid = self.c.create_job(self.pool, batch(5))
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}, 60), "SUCCEEDED")
        self.assertGreater(self.metric('peloton_offers_total{result="used"}'), 0)


class Split(unittest.TestCase):
    """The placement engine in processes of its own (--roles placement), two
    of them, reaching the resource and host managers of a daemon running
    the other three roles (--roles jobmgr,resmgr,hostmgr) over gRPC."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(agents=20, daemon_args=["--roles", "jobmgr,resmgr,hostmgr",
                                                "--host-lease-secs", "3"])
        cls.engines = []
        try:
            for i in range(2):
                cls.engines.append(start_engine(cls.c, i))
        except Exception:
            cls.tearDownClass()
            raise
        cls.pool = cls.c.create_pool("/split")

    @classmethod
    def tearDownClass(cls):
        for p, _ in cls.engines:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                assert p.wait(30) == 0, "placement engine exited badly on SIGTERM"
        cls.c.stop()

    def metric(self, port, name):
        return metric(port, name)

    def test_jobs_placed_by_engines_apart(self):
        jobs = [self.c.create_job(self.pool, batch(60)),
                self.c.create_job(self.pool, batch(
                    8, sla={"minimumRunningInstances": 4, "maximumRunningInstances": 8}))]
        cfg = batch(6)
        cfg["defaultConfig"]["constraint"] = {
            "type": "LABEL_CONSTRAINT",
            "labelConstraint": {"kind": "HOST", "condition": "CONDITION_EQUAL",
                                "requirement": 1, "label": {"key": "rack", "value": "rack-3"}}}
        jobs.append(self.c.create_job(self.pool, cfg))
        for jid in jobs:
            self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        for i in range(6):
            host = self.c.task(jobs[2], i).runtime.host
            self.assertEqual(int(host.split("-")[1]) % 10, 3, host)
        placed = [self.metric(http, 'peloton_placement_tasks_total{result="placed"}')
                  for _, http in self.engines]
        self.assertGreaterEqual(sum(placed), 74, placed)
        # the daemon itself places nothing, and no host stays leased
        self.assertIsNone(self.metric(self.c.http, "peloton_placement_rounds_total"))
        self.assertEqual(self.metric(self.c.http, 'peloton_hosts_placing'), 0)

    def test_unplaceable_gang_is_handed_back(self):
        # admitted (400 of the cluster's 640 cpus) but no host has 200 cpus
        cfg = batch(2, sla={"minimumRunningInstances": 2, "maximumRunningInstances": 2})
        cfg["defaultConfig"]["resource"] = {"cpuLimit": 200, "memLimitMb": 64}
        jid = self.c.create_job(self.pool, cfg)
        end = time.time() + 60
        back = 0
        # handed back twice: the first hand-back put the gang back in the
        # resource manager's ready queue (not stuck PLACING), so it came again
        while time.time() < end and back < 4:
            back = sum(self.metric(http, 'peloton_placement_tasks_total{result="handed_back"}')
                       for _, http in self.engines)
            time.sleep(0.2)
        self.assertGreaterEqual(back, 4)
        info = self.c.job(jid).jobInfo
        self.assertEqual(job_pb2.JobState.Name(info.runtime.state), "PENDING")
        self.assertEqual(self.metric(self.c.http, 'peloton_hosts_placing'), 0)
        r = self.c.cli("job", "stop", jid)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_task_constraint_forgets_finished_tasks(self):
        # one task labelled app=web per host (TASK-kind constraint): the
        # second job fits only if the engines see the first one's tasks end
        def web(n):
            cfg = batch(n, labels=[{"key": "app", "value": "web"}])
            cfg["defaultConfig"]["constraint"] = {
                "type": "LABEL_CONSTRAINT",
                "labelConstraint": {"kind": "TASK", "condition": "CONDITION_LESS_THAN",
                                    "requirement": 1,
                                    "label": {"key": "app", "value": "web"}}}
            return cfg
        def one_at_a_time(jid):
            # never two app=web tasks running on a host at once, whichever
            # engine placed them (a host may serve again once its task ended)
            per_host = {}
            for i in range(20):
                rt = self.c.task(jid, i).runtime
                per_host.setdefault(rt.host, []).append((rt.startTime, rt.completionTime))
            for host, runs in per_host.items():
                runs.sort()
                for (_, done), (start, _) in zip(runs, runs[1:]):
                    self.assertGreaterEqual(start, done, "two app=web tasks on %s" % host)
        first = self.c.create_job(self.pool, web(20))
        self.assertEqual(self.c.wait_job(first, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        one_at_a_time(first)
        second = self.c.create_job(self.pool, web(20))
        self.assertEqual(self.c.wait_job(second, {"SUCCEEDED", "FAILED"}, 60), "SUCCEEDED")
        one_at_a_time(second)

    def test_lease_of_a_dead_engine_runs_out(self):
        # hosts acquired over gRPC and never used nor released (an engine
        # that died mid-round) are free again after --host-lease-secs
        from peloton.private.hostmgr.hostsvc import hostsvc_pb2 as hs
        req = hs.AcquireHostOffersRequest()
        req.filter.resourceConstraint.minimum.cpuLimit = 1
        req.filter.quantity.maxHosts = 2
        r = self.c.call("/peloton.private.hostmgr.hostsvc.InternalHostService/AcquireHostOffers",
                        req, hs.AcquireHostOffersResponse)
        self.assertEqual(len(r.hostOffers), 2, r)
        self.assertGreaterEqual(self.metric(self.c.http, 'peloton_hosts_placing'), 2)
        end = time.time() + 30
        while time.time() < end:
            if self.metric(self.c.http, 'peloton_hosts_placing') == 0:
                break
            time.sleep(0.2)
        self.assertEqual(self.metric(self.c.http, 'peloton_hosts_placing'), 0)
        with open(os.path.join(self.c.dir, "d.log")) as f:
            self.assertIn("free again", f.read())

    def test_bad_roles_and_addresses_are_refused(self):
        for roles in ("nosuchrole", "jobmgr,nosuchrole", ",", ""):
            r = subprocess.run([os.path.join(BIN, "pelotond"), "--roles", roles],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, roles)
            self.assertIn("--roles", r.stderr)
        # each address is checked where the role set needs it
        for roles, flag in (("placement", "--resmgr-address"),
                            ("placement", "--hostmgr-address"),
                            ("jobmgr", "--resmgr-address"), ("jobmgr", "--hostmgr-address"),
                            ("resmgr", "--hostmgr-address"),
                            ("jobmgr,resmgr,placement", "--hostmgr-address")):
            for addr in ("nohost", "h:", ":5392", "h:99999", "h:12x"):
                r = subprocess.run([os.path.join(BIN, "pelotond"), "--roles", roles, flag,
                                    addr], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 2, (roles, flag, addr))
                self.assertIn("expected host:port", r.stderr)


class SplitManagers(unittest.TestCase):
    """The job manager with the host manager (--roles jobmgr,hostmgr) in one
    process, the resource manager with a placement engine (--roles
    resmgr,placement) in another; each reaches the other over gRPC: jobs
    and status updates one way, host offers the other, and the launcher
    spends the hosts' leases by hostname (SetPlacements there has no host
    index)."""

    @classmethod
    def setUpClass(cls):
        cls.rm_grpc, cls.rm_http = free_port(), free_port()
        cls.c = Cluster(agents=20, daemon_args=[
            "--roles", "jobmgr,hostmgr", "--resmgr-address", "127.0.0.1:%d" % cls.rm_grpc])
        cls.rm = None
        try:
            cls.start_rm()
        except Exception:
            cls.tearDownClass()
            raise
        env = dict(os.environ, JOBMGR_URL="127.0.0.1:%d" % cls.rm_grpc)
        r = subprocess.run([os.path.join(BIN, "peloton"), "respool", "create", "/managers",
                            os.path.join(EXAMPLES, "respool.yaml")], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        cls.pool = r.stdout.split()[-1]

    @classmethod
    def start_rm(cls):
        # one try: the job manager was told this port, a taken one cannot move
        log = os.path.join(cls.c.dir, "rm.log")
        start = os.path.getsize(log) if os.path.exists(log) else 0
        cls.rm = subprocess.Popen(
            [os.path.join(BIN, "pelotond"), "--roles", "resmgr,placement",
             "--hostmgr-address", "127.0.0.1:%d" % cls.c.grpc,
             "--db", os.path.join(cls.c.dir, "rmdb"),
             "--grpc-port", str(cls.rm_grpc), "--http-port", str(cls.rm_http),
             "--log-level", "info"],
            stdout=subprocess.DEVNULL, stderr=cls.c._log("rm.log"))
        if not wait_line(log, start, "serving HTTP on port %d" % cls.rm_http, cls.rm, 60):
            raise RuntimeError("resource manager did not start")

    @classmethod
    def tearDownClass(cls):
        if cls.rm and cls.rm.poll() is None:
            cls.rm.send_signal(signal.SIGTERM)
            assert cls.rm.wait(30) == 0, "resource manager exited badly on SIGTERM"
        cls.c.stop()

    def metric(self, port, name):
        return metric(port, name)

    def test_jobs_run_across_the_two(self):
        jobs = [self.c.create_job(self.pool, batch(40)),
                self.c.create_job(self.pool, batch(
                    8, sla={"minimumRunningInstances": 4, "maximumRunningInstances": 8}))]
        for jid in jobs:
            self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        # placed over there, launched here: no rounds here, no lease left
        placed = self.metric(self.rm_http, 'peloton_placement_tasks_total{result="placed"}')
        self.assertGreaterEqual(placed, 48)
        self.assertIsNone(self.metric(self.c.http, "peloton_placement_rounds_total"))
        self.assertEqual(self.metric(self.c.http, 'peloton_hosts_placing'), 0)
        self.assertGreaterEqual(self.metric(self.c.http,
                                            'peloton_offers_total{result="used"}'), 1)

    def test_cli_with_both_addresses(self):
        # the pool by path from the resource manager, the job to the job manager
        env = dict(os.environ, JOBMGR_URL="127.0.0.1:%d" % self.c.grpc,
                   RESMGR_URL="127.0.0.1:%d" % self.rm_grpc)
        r = subprocess.run([os.path.join(BIN, "peloton"), "job", "create", "/managers",
                            os.path.join(EXAMPLES, "hello_world.yaml")], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        jid = r.stdout.split()[-1]
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        # without RESMGR_URL the job manager cannot look the path up: a clear error
        env.pop("RESMGR_URL")
        r = subprocess.run([os.path.join(BIN, "peloton"), "job", "create", "/managers",
                            os.path.join(EXAMPLES, "hello_world.yaml")], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("UNIMPLEMENTED", r.stderr)

    def test_zz_both_restart_resource_manager_last(self):
        # a job in flight; both stop; the job manager comes back first and
        # keeps enqueueing its unlaunched tasks until the resource manager
        # answers again, then the job completes
        # 16 of an agent's 32 cpus each: 40 at a time, 600 in ~8 s of waves
        cfg = batch(600)
        cfg["defaultConfig"]["resource"]["cpuLimit"] = 16
        jid = self.c.create_job(self.pool, cfg)
        end = time.time() + 60
        while time.time() < end:
            stats = self.c.job(jid).jobInfo.runtime.taskStats
            if stats.get("SUCCEEDED", 0) >= 20:
                break
            time.sleep(0.1)
        self.rm.send_signal(signal.SIGTERM)
        self.assertEqual(self.rm.wait(30), 0)
        self.c.d.send_signal(signal.SIGTERM)
        self.assertEqual(self.c.d.wait(30), 0)
        self.c.start_daemon(attempts=1)
        time.sleep(2)
        self.start_rm()
        self.assertEqual(self.c.wait_job(jid, {"SUCCEEDED", "FAILED"}, secs=180), "SUCCEEDED")
        with open(os.path.join(self.c.dir, "d.log")) as f:
            self.assertIn("retrying every second", f.read())

    def test_each_serves_only_its_roles(self):
        req = respool_pb2.LookupRequest()
        req.path.value = "/"
        with self.assertRaises(grpc.RpcError) as e:
            self.c.call("/peloton.api.respool.ResourceManager/LookupResourcePoolID", req,
                        respool_pb2.LookupResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        ch = grpc.insecure_channel("127.0.0.1:%d" % self.rm_grpc)
        get = ch.unary_unary("/peloton.api.job.JobManager/Get",
                             request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=job_pb2.GetResponse.FromString)
        with self.assertRaises(grpc.RpcError) as e:
            get(job_pb2.GetRequest(), timeout=10)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        ch.close()


class SplitEach(unittest.TestCase):
    """Every role in a process of its own: the host manager (the Cluster's
    daemon, the only one talking to Mesos), the resource manager, a
    placement engine and the job manager, each reaching the others over
    gRPC. Launches go to the host manager as LaunchTasks, kills as
    KillTasks, status updates come back through its event stream, and an
    update is acknowledged to Mesos only once the job manager purged past
    it (the simulator starts a task only after its STARTING update is
    acknowledged, so a job that succeeds proves the acknowledgements)."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(agents=20, task_secs=2, daemon_args=["--roles", "hostmgr"])
        cls.procs = {}
        cls.ports = {r: (free_port(), free_port()) for r in ("rm", "pl", "jm")}
        hm = "127.0.0.1:%d" % cls.c.grpc
        rm = "127.0.0.1:%d" % cls.ports["rm"][0]
        cls.args = {
            "rm": ["--roles", "resmgr", "--hostmgr-address", hm],
            "pl": ["--roles", "placement", "--resmgr-address", rm, "--hostmgr-address", hm],
            "jm": ["--roles", "jobmgr", "--resmgr-address", rm, "--hostmgr-address", hm],
        }
        try:
            for r in ("rm", "pl", "jm"):
                cls.start(r)
        except Exception:
            cls.tearDownClass()
            raise
        env = dict(os.environ, JOBMGR_URL=rm)
        r = subprocess.run([os.path.join(BIN, "peloton"), "respool", "create", "/each",
                            os.path.join(EXAMPLES, "respool.yaml")], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        cls.pool = r.stdout.split()[-1]
        cls.jm = grpc.insecure_channel("127.0.0.1:%d" % cls.ports["jm"][0])

    @classmethod
    def start(cls, role):
        # one try: the others were told these ports
        g, h = cls.ports[role]
        log = os.path.join(cls.c.dir, role + ".log")
        start = os.path.getsize(log) if os.path.exists(log) else 0
        cls.procs[role] = subprocess.Popen(
            [os.path.join(BIN, "pelotond"), "--db", os.path.join(cls.c.dir, role + "db"),
             "--grpc-port", str(g), "--http-port", str(h), "--log-level", "info"] +
            cls.args[role], stdout=subprocess.DEVNULL, stderr=cls.c._log(role + ".log"))
        if not wait_line(log, start, "serving HTTP on port %d" % h, cls.procs[role], 60):
            raise RuntimeError("%s did not start:\n%s" % (role, cls.tail(role)))

    @classmethod
    def stop_role(cls, role):
        p = cls.procs.get(role)
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(30)
            assert rc == 0, "%s exited %d on SIGTERM\n%s" % (role, rc, cls.tail(role))

    @classmethod
    def tail(cls, role, n=40):
        with open(os.path.join(cls.c.dir, role + ".log")) as f:
            return "".join(f.readlines()[-n:])

    @classmethod
    def tearDownClass(cls):
        try:
            for r in ("jm", "pl", "rm"):
                cls.stop_role(r)
        finally:
            cls.c.stop()

    def call(self, path, req, resp_cls):
        f = self.jm.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=resp_cls.FromString)
        return f(req, timeout=10)

    def create(self, cfg):
        req = job_pb2.CreateRequest()
        json_format.ParseDict({"config": cfg}, req)
        req.config.respoolID.value = self.pool
        r = self.call("/peloton.api.job.JobManager/Create", req, job_pb2.CreateResponse)
        self.assertFalse(r.HasField("error"), r.error)
        return r.jobId.value

    def runtime(self, jid):
        req = job_pb2.GetRequest()
        req.id.value = jid
        return self.call("/peloton.api.job.JobManager/Get", req,
                         job_pb2.GetResponse).jobInfo.runtime

    def wait(self, jid, states, secs=120, stats=None):
        end = time.time() + secs
        while time.time() < end:
            rt = self.runtime(jid)
            st = job_pb2.JobState.Name(rt.state)
            if st in states or (stats and all(rt.taskStats.get(k, 0) >= v
                                               for k, v in stats.items())):
                return st
            time.sleep(0.2)
        self.fail("job %s still %s, tasks %s\njm:\n%s\nrm:\n%s\npl:\n%s\nhm:\n%s" % (
            jid, st, dict(rt.taskStats), self.tail("jm"), self.tail("rm"), self.tail("pl"),
            self.c.log_tail()))

    def test_a_stateful_job_apart(self):
        """A stateful job with the job manager apart: each first launch is one
        OfferOperations (RESERVE, CREATE, LAUNCH) to the host manager."""
        from peloton.api.volume.svc import volume_svc_pb2 as vs
        cfg = batch(3, "sleep 3600")
        cfg["type"] = "SERVICE"
        cfg["defaultConfig"]["resource"]["cpuLimit"] = 1
        cfg["defaultConfig"]["volume"] = {"containerPath": "data", "sizeMB": 100}
        jid = self.create(cfg)
        self.wait(jid, set(), secs=60, stats={"RUNNING": 3})
        req = vs.ListVolumesRequest()
        req.jobId.value = jid
        v = self.call("/peloton.api.volume.svc.VolumeService/ListVolumes", req,
                      vs.ListVolumesResponse).volumes
        self.assertEqual(len(v), 3)
        launched = [l for l in self.c.launches() if l.startswith(jid)]
        self.assertEqual(len(launched), 3)
        for line in launched:  # "<task> host=<host> volume=<id>", the volume listed
            host, vol = (p.split("=", 1)[1] for p in line.split()[1:])
            self.assertEqual(v[vol].hostname, host)
        req = task_pb2.StopRequest()
        req.jobId.value = jid
        self.call("/peloton.api.task.TaskManager/Stop", req, task_pb2.StopResponse)
        self.assertEqual(self.wait(jid, {"KILLED"}, 60), "KILLED")
        req = job_pb2.DeleteRequest()
        req.id.value = jid
        self.call("/peloton.api.job.JobManager/Delete", req, job_pb2.DeleteResponse)

    def test_cli_host_manager_address(self):
        """--hostmgr (or HOSTMGR_URL) names the host manager on its own."""
        jm, hm = "127.0.0.1:%d" % self.ports["jm"][0], "127.0.0.1:%d" % self.c.grpc
        peloton = os.path.join(BIN, "peloton")
        r = subprocess.run([peloton, "--jobmgr", jm, "--json", "host", "capacity"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)  # the job manager serves no InternalHostService
        r = subprocess.run([peloton, "--jobmgr", jm, "--hostmgr", hm, "--json", "host",
                            "capacity"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        json.loads(r.stdout)
        env = dict(os.environ, JOBMGR_URL=jm, HOSTMGR_URL=hm)
        r = subprocess.run([peloton, "--json", "host", "capacity"], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_jobs_run_and_every_update_is_acknowledged(self):
        jobs = [self.create(batch(40)),
                self.create(batch(8, sla={"minimumRunningInstances": 4,
                                          "maximumRunningInstances": 8}))]
        for jid in jobs:
            self.assertEqual(self.wait(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
        hm, jm = self.c.http, self.ports["jm"][1]
        self.assertGreaterEqual(metric(jm, 'peloton_jobmgr_hostmgr_tasks_total{op="launched"}'),
                                48)
        self.assertEqual(metric(hm, 'peloton_hosts_placing'), 0)
        self.assertGreaterEqual(metric(hm, 'peloton_offers_total{result="used"}'), 1)
        # every update the simulator sent was acknowledged, through the purge offsets
        end = time.time() + 30
        while time.time() < end:
            with urllib.request.urlopen("http://127.0.0.1:%d/sim/stats" % self.c.sim_port,
                                        timeout=10) as r:
                sim = json.loads(r.read())
            if sim["acks"] >= 48 * 2 and sim["acks"] == sim["updates_sent"]:
                break
            time.sleep(0.2)
        self.assertEqual(sim["acks"], sim["updates_sent"], sim)
        self.assertGreaterEqual(metric(jm, "peloton_jobmgr_stream_purge_offset"), 48 * 2)
        # every launch was heard of: none left for the host manager to reconcile
        self.assertEqual(metric(hm, "peloton_hostmgr_watched_launches"), 0)
        # each process serves its own roles only
        for path in ("/peloton.private.hostmgr.hostsvc.InternalHostService/LaunchTasks",
                     "/peloton.private.eventstream.EventStreamService/InitStream"):
            f = self.jm.unary_unary(path)
            with self.assertRaises(grpc.RpcError) as e:
                f(b"", timeout=10)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    def test_event_stream_semantics(self):
        """The host manager's stream as the job manager apart reads it:
        stream id, offsets, and the errors of the service."""
        from peloton.private.eventstream import eventstream_pb2 as es
        ch = grpc.insecure_channel("127.0.0.1:%d" % self.c.grpc)

        def call(method, req, resp_cls):
            f = ch.unary_unary("/peloton.private.eventstream.EventStreamService/" + method,
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=resp_cls.FromString)
            return f(req, timeout=10)
        try:
            jid = self.create(batch(2))
            self.assertEqual(self.wait(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
            init = call("InitStream", es.InitStreamRequest(clientName="jobmgr"),
                        es.InitStreamResponse)
            self.assertTrue(init.streamID.startswith("stream-"))
            self.assertGreater(init.previousPurgeOffset, 0)
            # read without purging
            w = es.WaitForEventsRequest(streamID=init.streamID, clientName="jobmgr",
                                        beginOffset=init.previousPurgeOffset, limit=10,
                                        timeoutMs=50)
            r = call("WaitForEvents", w, es.WaitForEventsResponse)
            self.assertFalse(r.HasField("error"), r.error)
            bad = es.WaitForEventsRequest(streamID="stream-old", clientName="jobmgr")
            r = call("WaitForEvents", bad, es.WaitForEventsResponse)
            self.assertEqual(r.error.invalidStreamID.currentStreamID, init.streamID)
            r = call("InitStream", es.InitStreamRequest(clientName="stranger"),
                     es.InitStreamResponse)
            self.assertTrue(r.error.HasField("clientUnsupported"))
            far = es.WaitForEventsRequest(streamID=init.streamID, clientName="jobmgr",
                                          beginOffset=init.previousPurgeOffset + 10**6,
                                          purgeOffset=0)
            r = call("WaitForEvents", far, es.WaitForEventsResponse)
            self.assertTrue(r.error.HasField("outOfRange"))
        finally:
            ch.close()

    def test_kills_go_through_the_host_manager(self):
        jid = self.create(batch(6))
        self.wait(jid, set(), secs=60, stats={"RUNNING": 6})
        req = task_pb2.StopRequest()
        req.jobId.value = jid
        self.call("/peloton.api.task.TaskManager/Stop", req, task_pb2.StopResponse)
        self.assertEqual(self.wait(jid, {"KILLED"}, 30), "KILLED")
        self.assertGreaterEqual(
            metric(self.ports["jm"][1], 'peloton_jobmgr_hostmgr_tasks_total{op="kill_sent"}'), 6)

    def test_launch_tasks_refuses_bad_input(self):
        from peloton.private.hostmgr.hostsvc import hostsvc_pb2 as hs
        ch = grpc.insecure_channel("127.0.0.1:%d" % self.c.grpc)
        launch = ch.unary_unary(
            "/peloton.private.hostmgr.hostsvc.InternalHostService/LaunchTasks",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=hs.LaunchTasksResponse.FromString)
        r = launch(hs.LaunchTasksRequest(), timeout=10)
        self.assertTrue(r.error.HasField("invalidArgument"))
        req = hs.LaunchTasksRequest(hostname="nohost", agentId={"value": "a"})
        t = req.tasks.add()
        t.taskId.value = "j-0-1"
        r = launch(req, timeout=10)  # no config
        self.assertIn("config", r.error.invalidArgument.message)
        t.config.command.value = "true"
        r = launch(req, timeout=10)  # valid, but no lease held on that host
        self.assertTrue(r.error.HasField("invalidOffers"), r)
        # as upstream, a launch naming a host offer spends that one only
        acquire = ch.unary_unary(
            "/peloton.private.hostmgr.hostsvc.InternalHostService/AcquireHostOffers",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=hs.AcquireHostOffersResponse.FromString)
        areq = hs.AcquireHostOffersRequest()
        areq.filter.resourceConstraint.minimum.cpuLimit = 1
        areq.filter.quantity.maxHosts = 1
        offer = acquire(areq, timeout=10).hostOffers[0]
        self.assertTrue(offer.id.value)
        req.hostname, req.agentId.value = offer.hostname, offer.agentId.value
        req.tasks[0].taskId.value = "stray-0-1"
        req.id.value = offer.id.value + "-not"
        r = launch(req, timeout=10)
        self.assertIn("not held", r.error.invalidOffers.message)
        req.id.value = offer.id.value  # the lease was kept: the right id spends it
        self.assertFalse(launch(req, timeout=10).HasField("error"))
        r = launch(req, timeout=10)  # spent
        self.assertIn("not held", r.error.invalidOffers.message)
        kill = ch.unary_unary(
            "/peloton.private.hostmgr.hostsvc.InternalHostService/KillTasks",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=hs.KillTasksResponse.FromString)
        self.assertTrue(kill(hs.KillTasksRequest(), timeout=10).error.HasField("invalidTaskIDs"))
        ch.close()

    def test_zz_each_manager_restarts_mid_job(self):
        # 16 of an agent's 32 cpus each: 40 at a time, 200 in waves of 2 s
        cfg = batch(200)
        cfg["defaultConfig"]["resource"]["cpuLimit"] = 16
        jid = self.create(cfg)
        self.wait(jid, set(), secs=60, stats={"SUCCEEDED": 20})
        self.stop_role("jm")
        self.start("jm")
        self.jm.close()
        self.jm = grpc.insecure_channel("127.0.0.1:%d" % self.ports["jm"][0])
        self.wait(jid, set(), secs=60, stats={"SUCCEEDED": 80})
        # the resource manager restarts and has forgotten its queues: the job
        # manager enqueues its waiting tasks again once it answers
        self.stop_role("rm")
        time.sleep(1)
        self.start("rm")
        self.wait(jid, set(), secs=60, stats={"SUCCEEDED": 120})
        # the host manager restarts: a new event stream; the job manager opens it again
        self.c.d.send_signal(signal.SIGTERM)
        self.assertEqual(self.c.d.wait(30), 0)
        self.c.start_daemon(attempts=1)
        self.assertEqual(self.wait(jid, {"SUCCEEDED", "FAILED"}, secs=180), "SUCCEEDED")
        with open(os.path.join(self.c.dir, "jm.log")) as f:
            log = f.read()
        self.assertIn("the host manager restarted", log)
        self.assertIn("enqueueing every waiting task again", log)


class SplitEngineDies(unittest.TestCase):
    """A placement engine that takes gangs and dies before placing them:
    after --placing-timeout-secs the resource manager makes them READY
    again and another engine places them."""

    def test_gangs_of_a_dead_engine_are_placed_by_another(self):
        c = Cluster(agents=10, daemon_args=["--roles", "jobmgr,resmgr,hostmgr",
                                            "--placing-timeout-secs", "2"])
        engine = None
        try:
            pool = c.create_pool("/dies")
            jid = c.create_job(pool, batch(5))
            # the dead engine: DequeueGangs, then nothing
            from peloton.private.resmgr import resmgrsvc_pb2 as rs
            got = 0
            end = time.time() + 30
            while got < 5 and time.time() < end:
                req = rs.DequeueGangsRequest(limit=10, timeout=500)
                r = c.call("/peloton.private.resmgr.ResourceManagerService/DequeueGangs",
                           req, rs.DequeueGangsResponse)
                got += sum(len(g.tasks) for g in r.gangs)
            self.assertEqual(got, 5)
            engine, _ = start_engine(c, 0)
            self.assertEqual(c.wait_job(jid, {"SUCCEEDED", "FAILED"}, 60), "SUCCEEDED")
        finally:
            if engine is not None and engine.poll() is None:
                engine.send_signal(signal.SIGTERM)
                engine.wait(30)
            c.stop()


class Reload(unittest.TestCase):
    """SIGHUP reloads the config files and the environment, and the command
    line still wins: flags > environment > files."""

    def test_sighup_keeps_flags(self):
        d = tempfile.mkdtemp()
        cfg = os.path.join(d, "pelotond.yaml")
        with open(cfg, "w") as f:
            f.write("log-level: debug\n")
        c = Cluster(agents=2, daemon_args=["--config", cfg])  # (and --log-level info)
        try:
            url = "http://127.0.0.1:%d/logging-level" % c.http
            self.assertEqual(urllib.request.urlopen(url).read().strip(), b"info")
            c.d.send_signal(signal.SIGHUP)
            time.sleep(1.5)
            self.assertEqual(urllib.request.urlopen(url).read().strip(), b"info")
            self.assertIn("SIGHUP: configuration reloaded (log level info)", c.log_tail(200))
        finally:
            c.stop()
            shutil.rmtree(d, ignore_errors=True)


class Restart(unittest.TestCase):
    def test_sigkill_mid_job_runs_each_instance_once(self):
        c = Cluster(agents=20, task_secs=1.0)
        try:
            pool = c.create_pool("/restart")
            jid = c.create_job(pool, batch(400))
            end = time.time() + 30
            while time.time() < end and len(c.launches()) < 120:
                time.sleep(0.05)
            c.d.send_signal(signal.SIGKILL)
            c.d.wait()
            c.start_daemon()
            self.assertEqual(c.wait_job(jid, {"SUCCEEDED", "FAILED"}, 120), "SUCCEEDED")
            per = {}
            for l in c.launches():
                if l.startswith(jid):
                    inst = l[len(jid) + 1:].split("-")[0]
                    per[inst] = per.get(inst, 0) + 1
            self.assertEqual(len(per), 400)
            twice = {k: v for k, v in per.items() if v != 1}
            self.assertEqual(twice, {}, "instances launched more than once")
        finally:
            c.stop()


class RestartAfterUpdate(unittest.TestCase):
    def test_updated_config_survives_a_restart(self):
        # the config an UpdateJob stores is read back whole after a restart
        c = Cluster(agents=5)
        try:
            pool = c.create_pool("/upd")
            cfg = batch(2, labels=[{"key": "team", "value": "infra"}])
            jid = c.create_job(pool, cfg)
            c.wait_job(jid, {"SUCCEEDED"})
            req = job_pb2.UpdateRequest()
            json_format.ParseDict({"id": {"value": jid},
                                   "config": dict(cfg, instanceCount=4)}, req)
            req.config.respoolID.value = pool
            r = c.call("/peloton.api.job.JobManager/Update", req, job_pb2.UpdateResponse)
            self.assertFalse(r.HasField("error"), r)
            self.assertEqual(c.wait_job(jid, {"SUCCEEDED"}), "SUCCEEDED")
            c.d.send_signal(signal.SIGTERM)
            self.assertEqual(c.d.wait(30), 0)
            c.start_daemon()
            info = c.job(jid).jobInfo
            self.assertEqual(info.config.instanceCount, 4)
            self.assertEqual(info.config.name, "e2e")
            self.assertEqual([(l.key, l.value) for l in info.config.labels], [("team", "infra")])
            self.assertEqual(info.config.respoolID.value, pool)
            self.assertEqual(dict(info.runtime.taskStats), {"SUCCEEDED": 4})
        finally:
            c.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
