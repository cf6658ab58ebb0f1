#!/usr/bin/python3
"""Checks proto/ against the reference and the upstream field tables.

Reads the descriptor set protoc produced from proto/ (--descriptor_set_out)
and fails on any of:
  - a message, enum or service of the reference missing from the schema;
  - a field of the reference missing from its message;
  - a field whose number, type or (proto2) label differs from its TSV row;
  - a field with no TSV row other than the ones the reference documents
    and upstream lacks, or one reusing a number an upstream field has;
  - an enum value whose number differs from the TSV (or is missing).

Usage: check_schema.py DESCRIPTORS.pb SPEC_DIR SCRIPTS_DIR
(SPEC_DIR = proto/spec: seed/, protocol/ and divergences.tsv)
"""
import collections
import csv
import os
import sys

TYPE_NAMES = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32",
              6: "fixed64", 7: "fixed32", 8: "bool", 9: "string", 13: "uint32",
              12: "bytes", 15: "sfixed32", 16: "sfixed64", 17: "sint32",
              18: "sint64"}
LABELS = {1: "optional", 2: "required", 3: "repeated"}


def walk(fds):
    msgs, enums, services = {}, {}, set()
    for fd in fds.file:
        pkg = fd.package

        def add_msg(prefix, m, syntax):
            name = prefix + "." + m.name
            msgs[name] = (m, syntax)
            for e in m.enum_type:
                enums[name + "." + e.name] = e
            for n in m.nested_type:
                add_msg(name, n, syntax)

        for m in fd.message_type:
            add_msg(pkg, m, fd.syntax or "proto2")
        for e in fd.enum_type:
            enums[pkg + "." + e.name] = e
        for s in fd.service:
            services.add(pkg + "." + s.name)
    return msgs, enums, services


def main():
    desc_path, spec, scripts = sys.argv[1:4]
    shared = os.path.join(spec, "protocol")
    from google.protobuf import descriptor_pb2
    sys.path.insert(0, scripts)
    import gen_protos

    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(open(desc_path, "rb").read())
    msgs, enums, services = walk(fds)

    rows = collections.defaultdict(dict)
    evals = collections.defaultdict(dict)
    for name in ("mesos-fields.tsv", "peloton-fields.tsv"):
        with open(os.path.join(shared, name)) as f:
            for r in csv.DictReader(f, delimiter="\t"):
                if r["kind"] == "field":
                    rows[r["message"]][r["name"]] = r
                else:
                    evals[r["message"]][r["name"]] = int(r["number"])

    items = gen_protos.parse_reference(
        os.path.join(spec, "seed", "peloton-api-reference.md"))
    # Documented differences between the reference (the spec) and the newer
    # upstream tables; each must still occur exactly as written.
    allowed = {}
    with open(os.path.join(shared, "divergences.tsv")) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            allowed[(r["item"], r["what"], r["ours"], r["upstream"])] = False
    
    class Errors(list):
        def divergence(self, item, what, ours, up, text):
            key = (item, what, str(ours), str(up))
            if key in allowed:
                allowed[key] = True
            else:
                self.append(text)

    errors = Errors()
    checked_fields = 0
    checked_values = 0
    unnumbered = []
    for it in items:
        if it.kind == "service":
            if it.fqn not in services:
                errors.append("service %s missing" % it.fqn)
        elif it.kind == "enum":
            e = enums.get(it.fqn)
            if e is None:
                errors.append("enum %s missing" % it.fqn)
                continue
            ours = {v.name: v.number for v in e.value}
            for name, num, _ in it.rows:
                if ours.get(name) != int(num):
                    errors.append("enum %s.%s: %s, reference says %s"
                                  % (it.fqn, name, ours.get(name), num))
            for name, num in evals.get(it.fqn, {}).items():
                if name in ours and ours[name] != num:
                    errors.divergence("%s.%s" % (it.fqn, name), "enum",
                                      ours[name], num,
                                      "enum %s.%s = %d, upstream %d"
                                      % (it.fqn, name, ours[name], num))
            checked_values += len(ours)
        else:
            if it.fqn not in msgs:
                errors.append("message %s missing" % it.fqn)
                continue
            m, syntax = msgs[it.fqn]
            fields = {f.name: f for f in m.field}
            for row in it.rows:
                if row[0] not in fields:
                    errors.append("field %s.%s missing" % (it.fqn, row[0]))
            up = rows.get(it.fqn, {})
            upnums = {int(r["number"]) for r in up.values()}
            for f in m.field:
                checked_fields += 1
                r = up.get(f.name)
                if r is None:
                    unnumbered.append("%s.%s" % (it.fqn, f.name))
                    if f.number in upnums:
                        errors.append("%s.%s = %d reuses an upstream number"
                                      % (it.fqn, f.name, f.number))
                    continue
                if int(r["number"]) != f.number:
                    errors.append("%s.%s = %d, upstream %s"
                                  % (it.fqn, f.name, f.number, r["number"]))
                t = TYPE_NAMES.get(f.type, f.type_name)
                if t != r["type"]:
                    errors.divergence("%s.%s" % (it.fqn, f.name), "type",
                                      t, r["type"],
                                      "%s.%s type %s, upstream %s"
                                      % (it.fqn, f.name, t, r["type"]))
                lab = LABELS[f.label]
                want = r["label"] or ("repeated" if lab == "repeated" else "")
                if syntax == "proto3" and lab == "optional":
                    lab = ""
                if lab != want and not (r["oneof"] and lab == "optional"):
                    errors.append("%s.%s label %s, upstream %s"
                                  % (it.fqn, f.name, lab, want))
    for key, used in allowed.items():
        if not used:
            errors.append("divergences.tsv lists %s but it no longer occurs"
                          % (key,))
    # The reference documents exactly 19 fields upstream lacks.
    if len(unnumbered) != 19:
        errors.append("%d fields without an upstream row (expected 19): %s"
                      % (len(unnumbered), unnumbered))
    for e in errors:
        print(e)
    print("check_schema: %d items, %d fields, %d enum values, %d errors"
          % (len(items), checked_fields, checked_values, len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
