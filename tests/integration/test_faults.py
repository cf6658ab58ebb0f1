#!/usr/bin/env python3
"""The fault matrix: each Mesos fault mesos-sim offers, injected while a job
runs and while the daemon is idle before a job is created, and then the job
must complete with every instance run to success exactly once. The
simulator's outcome log (each task that ran to its end) is the witness.

usage: test_faults.py BIN_DIR PYGEN_DIR EXAMPLE_DIR [unittest args]
"""
import base64
import collections
import json
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

import pelcluster  # noqa: E402
from pelcluster import Cluster, batch  # noqa: E402

pelcluster.BIN, pelcluster.EXAMPLES = BIN, EXAMPLES

INSTANCES = 24


def dead_address():
    """A loopback port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "127.0.0.1:%d" % port


# name: (faults to inject, how long they last in seconds, what ends them)
FAULTS = collections.OrderedDict([
    ("drop-stream", (["action=drop-stream"], 0, [])),
    ("503-window", (["action=unavailable&secs=2"], 2, [])),
    ("redirect-to-itself", (["action=redirect&to={sim}&secs=2"], 2, [])),
    ("redirect-to-dead-leader", (["action=redirect&to={dead}&secs=3"], 3, [])),
    ("agent-loss-and-return", (["action=agent-down&agent=0", "action=agent-down&agent=1"], 2,
                               ["action=agent-up&agent=0", "action=agent-up&agent=1"])),
    ("duplicate-updates", (["action=duplicate-updates&rate=0.5"], 3,
                           ["action=duplicate-updates&rate=0"])),
    ("stalled-heartbeats", (["action=stall-heartbeats&secs=7"], 7, [])),
    ("lost-launches", (["action=lose-launches&rate=0.5"], 2, ["action=lose-launches&rate=0"])),
])
FAULTS["all-at-once"] = (
    sum((v[0] for k, v in FAULTS.items() if k not in ("redirect-to-itself",)), []),
    7, sum((v[2] for v in FAULTS.values()), []))


class FaultMatrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # heartbeats every second: a stalled stream is noticed in ~5 s;
        # silent launches reconciled after 2 s
        cls.c = Cluster(agents=6, task_secs=1.5,
                        sim_args=["--heartbeat-secs", "1", "--retry-secs", "1"],
                        daemon_args=["--reconcile-launch-secs", "2"])
        cls.pool = cls.c.create_pool("/faults")

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def inject(self, name):
        faults, secs, ends = FAULTS[name]
        subst = {"sim": "127.0.0.1:%d" % self.c.sim_port, "dead": dead_address()}
        for f in faults:
            self.c.fault(f.format(**subst))
        return secs, ends

    def end(self, ends):
        for f in ends:
            self.c.fault(f)
        self.c.fault("action=clear")

    def check_exactly_once(self, jid):
        """Every instance ran to success once and only once."""
        finished = collections.Counter()
        for task, state in self.c.outcomes():
            if task.startswith(jid + "-"):
                self.assertEqual(state, "TASK_FINISHED", task)
                finished[int(task[len(jid) + 1:].split("-")[0])] += 1
        twice = {i: n for i, n in finished.items() if n != 1}
        self.assertEqual(twice, {}, "instances that succeeded more than once")
        self.assertEqual(sorted(finished), list(range(INSTANCES)))

    def run_job(self, name, while_running):
        if not while_running:
            secs, ends = self.inject(name)
            time.sleep(secs)
            self.end(ends)
        jid = self.c.create_job(self.c_pool(), batch(INSTANCES))
        if while_running:
            time.sleep(0.5)
            secs, ends = self.inject(name)
            time.sleep(secs)
            self.end(ends)
        state = self.c.wait_job(jid, {"SUCCEEDED", "FAILED", "KILLED"}, 150)
        self.assertEqual(state, "SUCCEEDED")
        self.check_exactly_once(jid)
        self.assertIsNone(self.c.d.poll())

    def c_pool(self):
        return self.pool

    def health(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.c.http,
                                        timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_zz_health_tells_the_truth(self):
        """/health is 503 with the reason while the master is unreachable,
        and 200 again once subscribed."""
        self.assertEqual(self.health()[0], 200)
        self.c.fault("action=unavailable&secs=4")
        seen = None
        end = time.time() + 4
        while time.time() < end and seen is None:
            st, body = self.health()
            if st == 503:
                seen = body
            time.sleep(0.05)
        self.assertIsNotNone(seen, "/health stayed 200 while the master answered 503")
        self.assertIn("not subscribed to the Mesos master", seen)
        end = time.time() + 60
        while time.time() < end and self.health()[0] != 200:
            time.sleep(0.2)
        self.assertEqual(self.health()[0], 200)


class FrameworkEnded(unittest.TestCase):
    """The master removes the framework (an operator's teardown): pelotond
    does not subscribe again with its burnt id, /health says why, and the
    daemon keeps serving (and stops cleanly)."""

    def test_teardown_is_reported_not_fought(self):
        c = Cluster(agents=3, task_secs=0.5)
        try:
            c.fault("action=teardown")
            end = time.time() + 30
            body = ""
            while time.time() < end:
                try:
                    urllib.request.urlopen("http://127.0.0.1:%d/health" % c.http, timeout=5)
                except urllib.error.HTTPError as e:
                    body = e.read().decode()
                    if "framework ended" in body:
                        break
                time.sleep(0.1)
            self.assertIn("Mesos framework ended", body)
            self.assertIn("removed this framework", body)
            time.sleep(1)
            with open(c.dir + "/d.log") as f:
                log = f.read()
            self.assertIn("not subscribing again", log)
            self.assertEqual(log.count("subscribed as framework"), 1)
            self.assertIsNone(c.d.poll())
        finally:
            c.stop()


def make(name, while_running):
    def test(self):
        self.run_job(name, while_running)
    test.__doc__ = "%s, injected %s" % (
        name, "while the job runs" if while_running else "while idle, before the job")
    return test


for i, fault in enumerate(FAULTS):
    for running in (False, True):
        setattr(FaultMatrix, "test_%02d_%s_%s" % (i, fault.replace("-", "_"),
                                                   "running" if running else "idle"),
                make(fault, running))


class MesosAuthentication(unittest.TestCase):
    """A master that authenticates HTTP frameworks (mesos-sim
    --authenticate-http-frameworks --credentials): pelotond with
    --mesos-principal and --mesos-secret-file subscribes and runs a job; a
    wrong secret gets 401 and nothing more; a call with no credentials is
    401 with the master's realm; a FrameworkInfo principal other than the
    authenticated one is refused."""

    def test_framework_authentication(self):
        d = tempfile.mkdtemp()
        creds = os.path.join(d, "credentials.json")
        with open(creds, "w") as f:
            json.dump({"credentials": [{"principal": "peloton", "secret": "s3cret"}]}, f)
        secret, wrong = os.path.join(d, "secret"), os.path.join(d, "wrong")
        for path, text in ((secret, "s3cret\n"), (wrong, "guess\n")):
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o600)
        c = Cluster(agents=4, sim_args=["--authenticate-http-frameworks", "--credentials", creds],
                    daemon_args=["--mesos-principal", "peloton", "--mesos-secret-file", secret])
        try:
            pool = c.create_pool("/auth")
            jid = c.create_job(pool, batch(4))
            self.assertEqual(c.wait_job(jid, {"SUCCEEDED", "FAILED"}), "SUCCEEDED")
            url = "http://127.0.0.1:%d/api/v1/scheduler" % c.sim_port
            body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {
                "user": "u", "name": "n", "principal": "someone-else"}}}
            req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(e.exception.code, 401)
            self.assertEqual(e.exception.headers["WWW-Authenticate"], 'Basic realm="Mesos master"')
            req.add_header("Authorization",
                           "Basic " + base64.b64encode(b"peloton:s3cret").decode())
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(e.exception.code, 400)
            self.assertIn("does not match principal", e.exception.read().decode())
            # the wrong secret: refused, said in the log, never subscribed
            r = subprocess.run([os.path.join(BIN, "pelotond"), "--master",
                                "127.0.0.1:%d" % c.sim_port, "--grpc-port", "0", "--http-port",
                                "0", "--mesos-principal", "peloton", "--mesos-secret-file",
                                wrong, "--db", os.path.join(d, "db")],
                               capture_output=True, text=True, timeout=60,
                               preexec_fn=lambda: signal.alarm(6))
            self.assertIn("HTTP 401", r.stderr)
            self.assertNotIn("subscribed as framework", r.stderr)
            self.assertNotIn("guess", r.stderr)  # the secret is never logged
            for bad in ([], ["--mesos-principal", "peloton", "--mesos-secret-file",
                             os.path.join(d, "missing")]):
                r = subprocess.run([os.path.join(BIN, "pelotond"), "--mesos-secret-file",
                                    secret] if not bad else [os.path.join(BIN, "pelotond")] + bad,
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("--mesos-secret-file", r.stderr)
        finally:
            c.stop()
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
