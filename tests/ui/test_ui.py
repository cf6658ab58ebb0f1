#!/usr/bin/env python3
"""The web UI end to end: mesos-sim and pelotond started, a pool, a
4-instance service and a job that cannot be placed created through the
API, then tests/ui/test_ui.js drives the UI in headless Chromium; midway
the daemon is stopped for a few seconds and started again on the same
ports (the page must say so and come back). Screenshots go to OUTDIR.

usage: test_ui.py BIN_DIR PYGEN_DIR EXAMPLE_DIR OUTDIR
"""
import os
import signal
import subprocess
import sys
import time

BIN, PYGEN, EXAMPLES, OUT = sys.argv[1:5]
sys.path.insert(0, PYGEN)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import pelcluster  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from pelcluster import Cluster, batch  # noqa: E402
from peloton.api.job import job_pb2  # noqa: E402

pelcluster.BIN, pelcluster.EXAMPLES = BIN, EXAMPLES
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if not os.path.isdir(os.path.join(HERE, "node_modules", "puppeteer-core")):
        sys.exit("test_ui: tests/ui/node_modules is missing: run scripts/deps.sh")
    c = Cluster(agents=4, task_secs=3600)
    try:
        pool = c.create_pool("/ui")
        svc = batch(4, "sleep 3600")
        svc["type"] = "SERVICE"
        jid = c.create_job(pool, svc)
        # a second config version (only the name: no instance restarts)
        req = job_pb2.UpdateRequest()
        json_format.ParseDict({"id": {"value": jid}, "config": dict(svc, name="e2e-v2")}, req)
        r = c.call("/peloton.api.job.JobManager/Update", req, job_pb2.UpdateResponse)
        assert not r.HasField("error"), r.error
        big = batch(1, "true")
        big["defaultConfig"]["resource"]["cpuLimit"] = 1000  # fits on no host
        # in a pool of its own: PriorityFIFO admits nothing past a pool's head, and an
        # instance the update above enqueues again must not queue behind this one
        pending = c.create_job(c.create_pool("/ui-big"), big)
        node = subprocess.Popen(
            ["node", os.path.join(HERE, "test_ui.js"), str(c.http), jid, pending, "/ui", OUT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for line in node.stdout:
            print(line, end="", flush=True)
            if line.strip() == "RESTART":
                c.d.send_signal(signal.SIGTERM)
                c.d.wait(30)
                time.sleep(3)  # the page polls meanwhile and must say so
                c.start_daemon(attempts=1)
                node.stdin.write("go\n")
                node.stdin.close()
        rc = node.wait(120)
        if rc != 0:
            sys.exit("test_ui: the browser test failed (screenshots so far in %s)\n%s"
                     % (OUT, c.log_tail()))
        print("screenshots in", OUT)
    finally:
        c.stop()


if __name__ == "__main__":
    main()
