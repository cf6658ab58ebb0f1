"""Helpers the integration tests share: mesos-sim and pelotond as real
processes on loopback ports (Cluster), waiting, metrics, job specs.

The importing test sets BIN (the binaries' directory) and EXAMPLES before
using them, after putting the generated Python messages on sys.path.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import grpc
from google.protobuf import json_format
from peloton.api.job import job_pb2
from peloton.api.task import task_pb2

BIN = EXAMPLES = None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_http(url, secs=90, proc=None, log=None):
    """Waits for url (sanitizer builds on a loaded machine start slowly);
    fails at once, with the log's tail, if proc exits meanwhile."""
    end = time.time() + secs
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.1)
    tail = ""
    if log:
        with open(log) as f:
            lines = f.readlines()
        # a sanitizer report: from its first line; otherwise the last lines
        first = [i for i, l in enumerate(lines) if "Sanitizer" in l or "runtime error" in l]
        tail = "".join(lines[first[0]:first[0] + 60] if first else lines[-20:])
    raise RuntimeError("%s did not come up (exit %s)\n%s" %
                       (url, proc.poll() if proc else "?", tail))


def wait_line(path, offset, text, proc, secs):
    """Waits for text in the file at path (from offset on) while proc runs:
    False once proc has exited, True otherwise (found, or out of time:
    the caller's health check decides then)."""
    end = time.time() + secs
    while time.time() < end and proc.poll() is None:
        with open(path) as f:
            f.seek(offset)
            if text in f.read():
                break
        time.sleep(0.05)
    return proc.poll() is None


class Cluster:
    def __init__(self, agents=20, task_secs=0.5, daemon_args=(), sim_args=()):
        self.daemon_args = list(daemon_args)
        self.dir = tempfile.mkdtemp(prefix="pel-e2e-")
        self.logs = []
        self.http, self.grpc = free_port(), free_port()
        self.launch_log = os.path.join(self.dir, "launches.log")
        self.outcome_log = os.path.join(self.dir, "outcomes.log")
        # as for the daemon (start_daemon): the simulator's own word that it
        # listens on our port, or fresh ports and another try
        for attempt in range(3):
            self.sim_port = free_port()
            out = os.path.join(self.dir, "sim.out")
            with open(out, "w") as f:
                self.sim = subprocess.Popen(
                    [os.path.join(BIN, "mesos-sim"), "--port", str(self.sim_port), "--agents",
                     str(agents), "--task-secs", str(task_secs), "--launch-log",
                     self.launch_log, "--outcome-log", self.outcome_log,
                     "--log-level", "warn"] + list(sim_args),
                    stdout=f, stderr=self._log("sim.log"))
            if wait_line(out, 0, "listening on 127.0.0.1:%d " % self.sim_port, self.sim, 60):
                break
        wait_http("http://127.0.0.1:%d/health" % self.sim_port, proc=self.sim)
        self.d = None
        self.start_daemon()

    def _log(self, name):
        f = open(os.path.join(self.dir, name), "a")
        self.logs.append(f)
        return f

    def start_daemon(self, attempts=3):
        """Starts pelotond and waits for it to serve. free_port() can race
        with other processes (ctest runs tests in parallel): a port taken
        in between makes pelotond exit, and /health may even be answered by
        whoever took it. So the daemon's own log line that it serves HTTP on
        our port is the proof; without it, fresh ports and another try."""
        log = os.path.join(self.dir, "d.log")
        for attempt in range(attempts):
            start = os.path.getsize(log) if os.path.exists(log) else 0
            self.d = subprocess.Popen(
                [os.path.join(BIN, "pelotond"), "--master", "127.0.0.1:%d" % self.sim_port,
                 "--db", os.path.join(self.dir, "db"), "--grpc-port", str(self.grpc),
                 "--http-port", str(self.http), "--log-level", "info"] + self.daemon_args,
                stdout=subprocess.DEVNULL, stderr=self._log("d.log"))
            if wait_line(log, start, "serving HTTP on port %d" % self.http, self.d, 90):
                wait_http("http://127.0.0.1:%d/health" % self.http, proc=self.d, log=log)
                break
            if attempt + 1 == attempts:
                with open(log) as f:
                    f.seek(start)
                    raise RuntimeError("pelotond exited %d\n%s" % (self.d.returncode,
                                                                   f.read()[-3000:]))
            self.http, self.grpc = free_port(), free_port()  # taken meanwhile: others
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % self.grpc)

    def stop(self):
        if self.d and self.d.poll() is None:
            self.d.send_signal(signal.SIGTERM)
            rc = self.d.wait(30)
            assert rc == 0, "pelotond exited %d on SIGTERM\n%s" % (rc, self.log_tail(60))
        self.sim.send_signal(signal.SIGTERM)
        self.sim.wait(10)
        for f in self.logs:
            f.close()
        if os.environ.get("PEL_E2E_KEEP"):
            print("logs kept in", self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def call(self, path, req, resp_cls, timeout=10):
        f = self.channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=resp_cls.FromString)
        return f(req, timeout=timeout)

    def http_call(self, proc, body, enc="json", headers=None):
        h = {"Rpc-Procedure": proc, "Rpc-Encoding": enc, "Rpc-Caller": "test"}
        h.update(headers or {})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1" % self.http, data=data,
                                     headers=h, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def cli(self, *args):
        env = dict(os.environ, JOBMGR_URL="127.0.0.1:%d" % self.grpc)
        return subprocess.run([os.path.join(BIN, "peloton")] + list(args), env=env,
                              capture_output=True, text=True, timeout=60)

    # helpers over the API
    def create_pool(self, path="/e2e"):
        r = self.cli("respool", "create", path, os.path.join(EXAMPLES, "respool.yaml"))
        assert r.returncode == 0, r.stderr
        return r.stdout.split()[-1]

    def create_job(self, pool_id, cfg):
        req = job_pb2.CreateRequest()
        json_format.ParseDict({"config": cfg}, req)
        req.config.respoolID.value = pool_id
        r = self.call("/peloton.api.job.JobManager/Create", req, job_pb2.CreateResponse)
        assert not r.HasField("error"), r.error
        return r.jobId.value

    def job(self, jid):
        req = job_pb2.GetRequest()
        req.id.value = jid
        return self.call("/peloton.api.job.JobManager/Get", req, job_pb2.GetResponse)

    def wait_job(self, jid, states, secs=120):
        end = time.time() + secs
        while time.time() < end:
            info = self.job(jid).jobInfo
            st = job_pb2.JobState.Name(info.runtime.state)
            if st in states:
                return st
            time.sleep(0.2)
        # (a job may pass through a final state: stopped, then started again)
        raise AssertionError("job %s still %s after %ds; tasks %s\n%s" % (
            jid, st, secs, dict(info.runtime.taskStats), self.log_tail()))

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "d.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def task(self, jid, inst):
        req = task_pb2.GetRequest()
        req.jobId.value = jid
        req.instanceId = inst
        return self.call("/peloton.api.task.TaskManager/Get", req, task_pb2.GetResponse).result

    def launches(self):
        with open(self.launch_log) as f:
            return [l.strip() for l in f if l.strip()]

    def outcomes(self):
        """[(task id, final state)] of every task that ran to its end."""
        with open(self.outcome_log) as f:
            return [tuple(l.split()) for l in f if l.strip()]

    def fault(self, query):
        url = "http://127.0.0.1:%d/sim/fault?%s" % (self.sim_port, query)
        urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"),
                               timeout=10).read()


def batch(n, cmd="true", **extra):
    cfg = {"name": "e2e", "type": "BATCH", "instanceCount": n,
           "defaultConfig": {"resource": {"cpuLimit": 0.5, "memLimitMb": 64},
                             "command": {"shell": True, "value": cmd}}}
    cfg.update(extra)
    return cfg


def metric(port, name):
    """A sample of a daemon's /metrics by its full name (labels included)."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return None


def sim_stats(c):
    with urllib.request.urlopen("http://127.0.0.1:%d/sim/stats" % c.sim_port, timeout=10) as r:
        return json.loads(r.read())


def runs_of(c, jid):
    """Launches per instance of job jid, from the simulator's launch log."""
    out = {}
    for t in c.launches():
        if t.startswith(jid + "-"):
            inst = int(t[len(jid) + 1:].split("-")[0])
            out[inst] = out.get(inst, 0) + 1
    return out


def wait_until(what, fn, secs=60):
    end = time.time() + secs
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("no %s within %d s" % (what, secs))


def start_engine(c, i):
    """A placement engine apart (--roles placement) for cluster c's daemon."""
    log = os.path.join(c.dir, "pl%d.log" % i)
    for attempt in range(3):
        http, grpcp = free_port(), free_port()
        start = os.path.getsize(log) if os.path.exists(log) else 0
        p = subprocess.Popen(
            [os.path.join(BIN, "pelotond"), "--roles", "placement",
             "--resmgr-address", "127.0.0.1:%d" % c.grpc,
             "--hostmgr-address", "127.0.0.1:%d" % c.grpc,
             "--grpc-port", str(grpcp), "--http-port", str(http), "--log-level", "info"],
            stdout=subprocess.DEVNULL, stderr=c._log("pl%d.log" % i))
        if wait_line(log, start, "serving HTTP on port %d" % http, p, 60):
            return (p, http)
        p.kill()
        p.wait()
    raise RuntimeError("placement engine %d did not start" % i)
