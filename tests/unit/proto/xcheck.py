#!/usr/bin/python3
"""Cross-implementation check: protobuf-c bytes <-> Google's Python protobuf.

For each representative message below:
  1. proto_xcheck (protobuf-c) fills every field and writes its bytes;
     Python parses them: no unknown fields (every field number agrees), as
     many fields set as the C side set, and Python's deterministic
     re-encoding is byte-identical to protobuf-c's.
  2. Python fills every field with its own values and writes its bytes;
     protobuf-c parses and re-encodes them byte-identically.

Usage: xcheck.py PROTO_XCHECK_BINARY PY_GEN_DIR
Must run under Debian's /usr/bin/python3 (python3-protobuf lives there).
"""
import os
import subprocess
import sys
import tempfile

MESSAGES = [
    "mesos.v1.scheduler.Call",
    "mesos.v1.scheduler.Event",
    "mesos.v1.scheduler.Event.Offers",
    "mesos.v1.scheduler.Event.Update",
    "mesos.v1.scheduler.Call.Accept",
    "mesos.v1.Offer",
    "mesos.v1.Offer.Operation",
    "mesos.v1.TaskInfo",
    "mesos.v1.TaskStatus",
    "mesos.v1.Resource",
    "mesos.v1.FrameworkInfo",
    "mesos.v1.master.Response",
    "peloton.api.job.JobConfig",
    "peloton.api.job.JobInfo",
    "peloton.api.job.CreateRequest",
    "peloton.api.task.TaskConfig",
    "peloton.api.task.TaskInfo",
    "peloton.api.task.Constraint",
    "peloton.api.task.RuntimeInfo",
    "peloton.api.respool.ResourcePoolConfig",
    "peloton.private.hostmgr.hostsvc.HostFilter",
    "peloton.private.hostmgr.hostsvc.AcquireHostOffersResponse",
    "peloton.private.hostmgr.hostsvc.LaunchTasksRequest",
    "peloton.private.resmgr.Gang",
    "peloton.private.resmgr.Placement",
    "peloton.private.resmgr.EnqueueGangsRequest",
    "peloton.private.eventstream.WaitForEventsResponse",
]


def load_classes(gen_dir):
    sys.path.insert(0, gen_dir)
    from google.protobuf import descriptor_pb2, descriptor_pool
    from google.protobuf import message_factory
    fds = descriptor_pb2.FileDescriptorSet()
    with open(os.path.join(gen_dir, "descriptors.pb"), "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    factory = message_factory.MessageFactory(pool)
    out = {}
    for name in MESSAGES:
        try:
            desc = pool.FindMessageTypeByName(name)
        except KeyError:
            continue
        out[name] = factory.GetPrototype(desc)
    return out


def count_set(msg):
    n = 0
    for fd, value in msg.ListFields():
        n += 1
        if fd.type == fd.TYPE_MESSAGE:
            if fd.label == fd.LABEL_REPEATED:
                if fd.message_type.GetOptions().map_entry:
                    continue
                for v in value:
                    n += count_set(v)
            else:
                n += count_set(value)
    return n


def fill(msg, depth, seed):
    """Python's own filler (different values from the C side)."""
    from google.protobuf.descriptor import FieldDescriptor as FD
    seen_oneofs = set()
    for fd in msg.DESCRIPTOR.fields:
        if fd.containing_oneof is not None:
            if fd.containing_oneof.name in seen_oneofs:
                continue
            seen_oneofs.add(fd.containing_oneof.name)
        h = (seed * 131 + fd.number * 7) % 100000 + 1
        rep = fd.label == FD.LABEL_REPEATED
        if fd.type == FD.TYPE_MESSAGE:
            if fd.message_type.GetOptions().map_entry:
                kf = fd.message_type.fields_by_name["key"]
                vf = fd.message_type.fields_by_name["value"]
                field = getattr(msg, fd.name)
                for i in range(2):
                    key = "key%d" % i if kf.type == FD.TYPE_STRING else i + 1
                    if vf.type == FD.TYPE_MESSAGE:
                        if depth > 0:
                            fill(field[key], depth - 1, h + i)
                    else:
                        field[key] = scalar(vf, h + i)
                continue
            required = fd.label == FD.LABEL_REQUIRED
            if depth == 0 and not required:
                continue
            if rep:
                for i in range(2):
                    fill(getattr(msg, fd.name).add(), max(depth - 1, 0), h + i)
            else:
                fill(getattr(msg, fd.name), max(depth - 1, 0), h)
                if not getattr(msg, fd.name).ListFields():
                    getattr(msg, fd.name).SetInParent()
        elif rep:
            getattr(msg, fd.name).extend([scalar(fd, h), scalar(fd, h + 1)])
        else:
            setattr(msg, fd.name, scalar(fd, h))


def scalar(fd, h):
    from google.protobuf.descriptor import FieldDescriptor as FD
    t = fd.type
    if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return h / 4.0
    if t == FD.TYPE_BOOL:
        return True
    if t == FD.TYPE_STRING:
        return "py-%s-%d" % (fd.name, h)
    if t == FD.TYPE_BYTES:
        return bytes([0, 255, h % 256, 10])
    if t == FD.TYPE_ENUM:
        vals = [v.number for v in fd.enum_type.values if v.number != 0]
        return vals[h % len(vals)] if vals else 0
    if t in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32, FD.TYPE_INT64,
             FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return -h
    return h


def main():
    tool, gen_dir = sys.argv[1], sys.argv[2]
    classes = load_classes(gen_dir)
    missing = [m for m in MESSAGES if m not in classes]
    if missing:
        print("messages missing from the schema: %s" % missing)
        return 1
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([tool, "emit", tmp] + MESSAGES, check=True)
        for name in MESSAGES:
            cls = classes[name]
            data = open(os.path.join(tmp, name + ".c.bin"), "rb").read()
            msg = cls()
            msg.ParseFromString(data)
            again = msg.SerializeToString(deterministic=True)
            if count_set(msg) == 0:
                print("%s: Python saw no fields in C's bytes" % name)
                failures += 1
            if again != data:
                print("%s: Python re-encoding of C bytes differs (%d vs %d)"
                      % (name, len(again), len(data)))
                failures += 1
            pymsg = cls()
            fill(pymsg, 3, len(name))
            with open(os.path.join(tmp, name + ".py.bin"), "wb") as f:
                f.write(pymsg.SerializeToString(deterministic=True))
        r = subprocess.run([tool, "recode", tmp] + MESSAGES)
        if r.returncode != 0:
            failures += 1
    print("xcheck: %d messages, %d failures" % (len(MESSAGES), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
