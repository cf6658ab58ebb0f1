#!/usr/bin/env python3
"""What clients written for upstream Peloton rely on, on mesos-sim:
JobConfig.placementStrategy (spread puts each task on a host of its own,
pack fills one host first) and task queries by name and by host
(QuerySpec.names, QuerySpec.hosts, with the task states).

usage: test_compat.py BIN_DIR PYGEN_DIR EXAMPLE_DIR [unittest args]
"""
import sys
import unittest

BIN, PYGEN, EXAMPLES = sys.argv[1], sys.argv[2], sys.argv[3]
del sys.argv[1:4]
sys.path.insert(0, PYGEN)

import pelcluster  # noqa: E402
from pelcluster import Cluster, batch, wait_until  # noqa: E402
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
