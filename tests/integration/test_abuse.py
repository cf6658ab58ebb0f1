#!/usr/bin/env python3
"""A hostile client against mesos-sim + pelotond on loopback: each case
once crashed, stalled or bloated the daemon. Every case asserts the daemon
stays alive, changes nothing it should not, and keeps serving other
clients within a bound (generous: a regression here took 20 s or forever).

usage: test_abuse.py BIN_DIR PYGEN_DIR EXAMPLE_DIR [unittest args]
"""
import json
import sys
import time
import unittest
import urllib.request

BIN, PYGEN, EXAMPLES = sys.argv[1], sys.argv[2], sys.argv[3]
del sys.argv[1:4]
sys.path.insert(0, PYGEN)

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from peloton.api.job import job_pb2  # noqa: E402
from peloton.api.respool import respool_pb2  # noqa: E402
from peloton.api.task import task_pb2  # noqa: E402
from peloton.private.resmgr import resmgrsvc_pb2  # noqa: E402

import pelcluster  # noqa: E402
from pelcluster import Cluster, batch  # noqa: E402

pelcluster.BIN, pelcluster.EXAMPLES = BIN, EXAMPLES

SERVE_BOUND_S = 5  # another client's call while the abuse goes on


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, payload):
    """A length-delimited field: tag, length, bytes."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def num(msg_cls, name):
    return msg_cls.DESCRIPTOR.fields_by_name[name].number


def constraint_bomb(depth):
    """A Constraint nested `depth` constraints deep (AND in AND ...), as bytes."""
    and_f = num(task_pb2.Constraint, "andConstraint")
    kids_f = num(task_pb2.AndConstraint, "constraints")
    b = b""
    for _ in range(depth):
        b = field(and_f, field(kids_f, b))
    return b


def sanitized(binary):
    """True for a sanitizer build (its runtime is linked in)."""
    with open(binary, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


class Abuse(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(agents=10, task_secs=0.5)
        cls.pool = cls.c.create_pool("/abuse")

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()  # asserts a clean exit on SIGTERM

    def alive(self):
        self.assertIsNone(self.c.d.poll(), "pelotond died\n" + self.c.log_tail(60))

    def served(self):
        """Another client's call answers within the bound."""
        t0 = time.time()
        req = job_pb2.GetRequest()
        req.id.value = "nope"
        r = self.c.call("/peloton.api.job.JobManager/Get", req, job_pb2.GetResponse,
                        timeout=SERVE_BOUND_S)
        self.assertTrue(r.error.HasField("notFound"))
        self.assertLess(time.time() - t0, SERVE_BOUND_S)

    def rss(self):
        with open("/proc/%d/status" % self.c.d.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def jobs(self):
        req = job_pb2.QueryRequest()
        r = self.c.call("/peloton.api.job.JobManager/Query", req, job_pb2.QueryResponse)
        return r.pagination.total

    def create_bytes(self, constraint):
        """CreateRequest bytes with a valid config whose default task config
        carries `constraint` (raw Constraint bytes)."""
        req = job_pb2.CreateRequest()
        json_format.ParseDict({"config": batch(1)}, req)
        req.config.respoolID.value = self.pool
        req.config.ClearField("defaultConfig")
        cfg = req.config.SerializeToString()
        tc = task_pb2.TaskConfig()
        json_format.ParseDict(batch(1)["defaultConfig"], tc)
        tc_bytes = tc.SerializeToString() + field(num(task_pb2.TaskConfig, "constraint"),
                                                  constraint)
        cfg += field(num(job_pb2.JobConfig, "defaultConfig"), tc_bytes)
        return field(num(job_pb2.CreateRequest, "config"), cfg)

    def test_depth_bombs_are_refused(self):
        before = self.jobs()
        # within the decoder's bound: refused by validation, in the answer
        body = self.create_bytes(constraint_bomb(20))
        st, out = self.c.http_call("JobManager::Create", body, enc="proto")
        self.assertEqual(st, 200, out)
        r = job_pb2.CreateResponse.FromString(out)
        self.assertTrue(r.error.HasField("invalidConfig"), r)
        for depth in (5000, 100000):
            body = self.create_bytes(constraint_bomb(depth))
            st, out = self.c.http_call("JobManager::Create", body, enc="proto")
            self.assertEqual(st, 400, out)
            self.assertIn(b"more than 64 levels deep", out)
            f = self.c.channel.unary_unary("/peloton.api.job.JobManager/Create")
            with self.assertRaises(grpc.RpcError) as e:
                f(body, timeout=10)
            self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.alive()
        # JSON the same
        deep = {}
        for _ in range(200):
            deep = {"andConstraint": {"constraints": [deep]}}
        cfg = dict(batch(1), respoolID={"value": self.pool})
        cfg["defaultConfig"]["constraint"] = deep
        st, out = self.c.http_call("JobManager::Create", {"config": cfg})
        self.assertEqual(st, 400, out)
        self.assertIn(b"64 levels", out)
        self.assertEqual(self.jobs(), before)
        self.served()

    def test_invalid_numbers_and_names_change_nothing(self):
        before = self.jobs()
        for key, value in (("gpuLimit", "NaN"), ("diskLimitMb", "Infinity"),
                           ("cpuLimit", "-Infinity"), ("memLimitMb", "NaN")):
            cfg = dict(batch(1), respoolID={"value": self.pool})
            cfg["defaultConfig"]["resource"][key] = value
            st, out = self.c.http_call("JobManager::Create", {"config": cfg})
            self.assertEqual(st, 200, out)  # the v0 API answers errors in the body
            err = json.loads(out)["error"]
            self.assertIn("finite", json.dumps(err), out)
        for name in ("bad\nname", "esc\x1b[31m", "nul\x00"):
            cfg = dict(batch(1), respoolID={"value": self.pool}, name=name)
            st, out = self.c.http_call("JobManager::Create", {"config": cfg})
            # NUL: the JSON parser refuses it already
            self.assertTrue(b"control character" in out or st == 400, out)
        self.assertEqual(self.jobs(), before)
        pools = []
        for name in ("tab\tpool", "line\npool", "del\x7f"):
            req = respool_pb2.CreateRequest()
            req.config.name = name
            req.config.parent.value = "root"
            r = self.c.call("/peloton.api.respool.ResourceManager/CreateResourcePool", req,
                            respool_pb2.CreateResponse)
            self.assertTrue(r.HasField("error"), name)
            pools.append(r)
        self.alive()
        self.served()

    def test_long_polls_never_stall_other_calls(self):
        """Far more parked long polls than serving threads: unary calls go
        on, and long polls past the cap are refused at once."""
        f = self.c.channel.unary_unary(
            "/peloton.private.resmgr.ResourceManagerService/DequeueGangs",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=resmgrsvc_pb2.DequeueGangsResponse.FromString)
        req = resmgrsvc_pb2.DequeueGangsRequest(limit=1, timeout=8000)
        futures = [f.future(req, timeout=30) for _ in range(40)]
        time.sleep(1)
        for _ in range(5):
            self.served()
        exhausted = 0
        for fu in futures:
            try:
                fu.result()
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, e)
                exhausted += 1
        self.assertGreaterEqual(exhausted, 40 - 32)
        self.alive()

    def test_amplification_is_bounded(self):
        """Memory per request in proportion to its size: before, 30,000
        whole-job ranges (60 kB) took the RSS up 340 MB, a 3 MB list of
        keywords 90 MB. Sanitizer builds keep freed memory in quarantine
        and pad every allocation, so they get three times the bound."""
        slack = 3 if sanitized(self.c.d.args[0]) else 1
        jid = self.c.create_job(self.pool, batch(200, cmd="sleep 30"))
        rss0 = self.rss()
        req = task_pb2.StopRequest()
        req.jobId.value = jid
        for _ in range(30000):
            req.ranges.add()  # {0, 0}: the whole job, 30,000 times
        self.assertLess(len(req.SerializeToString()), 100 << 10)
        r = self.c.call("/peloton.api.task.TaskManager/Stop", req, task_pb2.StopResponse,
                        timeout=60)
        self.assertEqual(len(r.stoppedInstanceIds), 200)  # each instance once
        grew = self.rss() - rss0
        self.assertLess(grew, slack * (24 << 20), "Stop: RSS grew %d MB" % (grew >> 20))
        rss0 = self.rss()
        q = job_pb2.QueryRequest()
        q.spec.keywords.extend(["k"] * 1000000)
        f = self.c.channel.unary_unary("/peloton.api.job.JobManager/Query",
                                       request_serializer=lambda m: m.SerializeToString(),
                                       response_deserializer=job_pb2.QueryResponse.FromString)
        with self.assertRaises(grpc.RpcError) as e:
            f(q, timeout=60)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        grew = self.rss() - rss0
        self.assertLess(grew, slack * (48 << 20), "Query: RSS grew %d MB" % (grew >> 20))
        self.alive()
        self.served()

    def test_health_is_ok_while_serving(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.c.http,
                                    timeout=10) as r:
            self.assertEqual(r.status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
