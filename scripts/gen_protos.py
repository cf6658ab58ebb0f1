#!/usr/bin/env python3
"""Writes proto/**.proto from the API reference and the upstream field tables.

The reference (../shared/seed/peloton-api-reference.md) documents every
message, enum and service with its fields, types and labels but without field
numbers; the tables (../shared/protocol/*-fields.tsv) give numbers, proto2
labels, defaults and oneofs as the upstream schemas have them. This script
joins the two and writes one .proto file per reference section, in a folder
named after its package (mesos.v1.scheduler -> proto/mesos/v1/scheduler/).

Rules:
  - Only what the reference documents is emitted, plus the upstream fields and
    enums listed in protocol/adopted.tsv (each with its reason); other upstream
    fields are left out (their numbers are never reused).
  - A reference field with no upstream row is numbered after the highest
    number any upstream field of that message uses, in reference order.
  - mesos.* files are proto2 (labels and defaults from the tables), the
    peloton.* files proto3.
  - `XEntry` messages with key/value fields become `map<K, V>` fields.

The output is committed (it is the schema); rerun after changing the inputs:
    scripts/gen_protos.py proto/spec

    scripts/gen_protos.py --upstream-v0 DIR
writes instead, for the compatibility tests, upstream's view of the public
API: every field the tables hold (not only the reference's), packages named
peloton.api.v0.X as upstream renamed them, under DIR/peloton/api/v0/.
"""
import collections
import csv
import os
import re
import sys

SCALARS = {
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32",
    "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64", "bool",
    "string", "bytes",
}

ROW_FIELD = re.compile(
    r"^\| (\w+) \| \[([\w.]+)\]\(#([\w.]+)\) \| (\w*) \| ?(.*)$")
ROW_ENUM = re.compile(r"^\| (\w+) \| (-?\d+) \| ?(.*)$")
ROW_METHOD = re.compile(
    r"^\| (\w+) \| \[([\w.]+)\]\(#([\w.]+)\) \| \[([\w.]+)\]\(#([\w.]+)\) \| ?(.*)$")
ANCHOR = re.compile(r'^<a name="([\w.]+)"/>\s*$')


def clean(text):
    text = text.strip()
    if text.endswith("|"):
        text = text[:-1].rstrip()
    for a, b in (("&#39;", "'"), ("&#34;", '"'), ("&#43;", "+"), ("&lt;", "<"),
                 ("&gt;", ">"), ("&amp;", "&")):
        text = text.replace(a, b)
    return text


class Item:
    def __init__(self, fqn, short, section):
        self.fqn = fqn
        self.short = short
        self.section = section
        self.package = fqn[: len(fqn) - len(short) - 1]
        self.kind = None  # message, enum, service
        self.doc = []
        self.rows = []


def parse_reference(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    items = []
    section = None
    cur = None
    in_table = False
    for line in lines:
        m = re.match(r"^## ([\w]+\.proto)\s*$", line)
        if m:
            section = m.group(1)
            cur = None
            continue
        if line.startswith("## Scalar Value Types"):
            break
        m = ANCHOR.match(line)
        if m and section:
            name = m.group(1)
            if name.endswith(".proto"):
                continue
            cur = ("anchor", name)
            continue
        if line.startswith("### ") and isinstance(cur, tuple):
            short = line[4:].strip()
            cur = Item(cur[1], short, section)
            items.append(cur)
            in_table = False
            continue
        if not isinstance(cur, Item):
            continue
        if line.startswith("| Field | Type"):
            cur.kind = "message"
            in_table = True
            continue
        if line.startswith("| Name | Number"):
            cur.kind = "enum"
            in_table = True
            continue
        if line.startswith("| Method Name"):
            cur.kind = "service"
            in_table = True
            continue
        if line.startswith("| ---") or line.startswith("| -----"):
            continue
        if not in_table:
            if cur.kind is None and line.strip():
                cur.doc.append(clean(line))
            continue
        m = None
        if cur.kind == "message":
            m = ROW_FIELD.match(line)
        elif cur.kind == "enum":
            m = ROW_ENUM.match(line)
        elif cur.kind == "service":
            m = ROW_METHOD.match(line)
        if m:
            cur.rows.append([*m.groups()])
        elif line.startswith("<") or line.startswith("##"):
            in_table = False  # the table (and any description) ended
        elif cur.rows and line.strip():
            # continuation of a multi-line description
            cur.rows[-1][-1] += " " + line.strip()
    for it in items:
        if it.kind is None:
            it.kind = "message"  # a message with no fields has no table
    return items


def load_tsv(paths):
    fields = collections.defaultdict(dict)  # msg -> name -> row
    maxnum = collections.defaultdict(int)
    values = collections.defaultdict(list)  # enum -> [(name, number)]
    for p in paths:
        with open(p, encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row["kind"] == "enum_value":
                    values[row["message"]].append((row["name"], row["number"]))
                if row["kind"] != "field":
                    continue
                fields[row["message"]][row["name"]] = row
                maxnum[row["message"]] = max(maxnum[row["message"]],
                                             int(row["number"]))
    return fields, maxnum, values


def adopt(items, fields, values, path):
    """Adds the upstream enums and fields adopted.tsv lists to the items."""
    by_fqn = {it.fqn: it for it in items}
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        fqn, kind, why = row["item"], row["kind"], row["reason"]
        if kind == "enum":
            if fqn in by_fqn or fqn not in values:
                raise SystemExit("adopted enum %s: already there or unknown" % fqn)
            pkg, _, short = fqn.rpartition(".")
            home = by_fqn.get(pkg)  # an enum nested in a message
            if home is not None:
                short = home.short + "." + short
            else:
                home = next(it for it in items if it.package == pkg)
            it = Item(fqn, short, home.section)
            it.kind = "enum"
            it.doc = ["Adopted from upstream: " + why]
            it.rows = [[n, v, ""] for n, v in values[fqn]]
            items.append(it)
            by_fqn[fqn] = it
        elif kind == "message":
            if fqn in by_fqn or fqn not in fields:
                raise SystemExit("adopted message %s: already there or unknown" % fqn)
            pkg, _, short = fqn.rpartition(".")
            home = by_fqn.get(pkg)  # a message nested in another
            if home is not None:
                short = home.short + "." + short
            else:
                home = next(it for it in items if it.package == pkg)
            it = Item(fqn, short, home.section)
            it.kind = "message"
            it.doc = ["Adopted from upstream: " + why]
            for name, up in fields[fqn].items():
                t = up["type"].lstrip(".")
                it.rows.append([name, t.rpartition(".")[2], t, up["label"], ""])
            items.append(it)
            by_fqn[fqn] = it
        elif kind == "field":
            msg, _, name = fqn.rpartition(".")
            up = fields.get(msg, {}).get(name)
            if msg not in by_fqn or not up:
                raise SystemExit("adopted field %s: unknown" % fqn)
            t = up["type"].lstrip(".")
            by_fqn[msg].rows.append([name, t.rpartition(".")[2], t,
                                     up["label"], "Adopted from upstream: " + why])
        elif kind == "enum_value":
            enum, _, name = fqn.rpartition(".")
            num = dict(values.get(enum, [])).get(name)
            if enum not in by_fqn or num is None:
                raise SystemExit("adopted enum value %s: unknown" % fqn)
            by_fqn[enum].rows.append([name, num, "Adopted from upstream: " + why])
        else:
            raise SystemExit("adopted.tsv: kind %s" % kind)


def package_dir(pkg):
    return pkg.replace(".", "/")


def wrap_comment(text, indent):
    out = []
    for para in text.split("\n"):
        words = para.split()
        line = ""
        for w in words:
            if len(line) + len(w) + 1 > 76 - len(indent):
                out.append(indent + "// " + line)
                line = w
            else:
                line = (line + " " + w).strip()
        if line:
            out.append(indent + "// " + line)
    return out


class Generator:
    def __init__(self, items, fields, maxnum):
        self.items = items
        self.fields = fields
        self.maxnum = maxnum
        self.by_fqn = {it.fqn: it for it in items}
        self.file_of = {}
        for it in items:
            self.file_of[it.fqn] = self.file_path(it)
        self.entries = {it.fqn for it in items
                        if it.kind == "message" and it.short.endswith("Entry")
                        and [r[0] for r in it.rows] == ["key", "value"]}
        self.unnumbered = []

    def file_path(self, it):
        return package_dir(it.package) + "/" + it.section

    def resolve(self, text, anchor, pkg):
        """Fully qualified name of a type written `text` linking `anchor`."""
        if text in SCALARS:
            return text
        if text.startswith("."):
            # already fully qualified (the anchor is then malformed)
            if text[1:] in self.by_fqn:
                return text[1:]
            raise SystemExit("unknown type %s in %s" % (text, pkg))
        if anchor in self.by_fqn and anchor.endswith(text):
            return anchor
        # service tables link responses to requests: resolve by name
        p = pkg
        while True:
            cand = (p + "." if p else "") + text
            if cand in self.by_fqn:
                return cand
            if not p:
                break
            p = p.rpartition(".")[0]
        raise SystemExit("cannot resolve type %s (%s) in %s" %
                         (text, anchor, pkg))

    def tref(self, fqn):
        return fqn if fqn in SCALARS else "." + fqn

    def field_line(self, msg, row, proto2, numbers, indent, imports, myfile):
        name, ttext, anchor, label, desc = row
        fqn_t = self.resolve(ttext, anchor, msg.package)
        if fqn_t not in SCALARS:
            f = self.file_of[fqn_t]
            if f != myfile:
                imports.add(f)
        up = self.fields.get(msg.fqn, {}).get(name)
        if up:
            num = int(up["number"])
            ulabel = up["label"]
            default = up["default"]
            oneof = up["oneof"]
        else:
            num = numbers[msg.fqn] + 1
            numbers[msg.fqn] = num
            ulabel = label
            default = ""
            oneof = ""
            self.unnumbered.append("%s.%s = %d" % (msg.fqn, name, num))
        if fqn_t in self.entries and label == "repeated":
            e = self.by_fqn[fqn_t]
            k = dict((r[0], r) for r in e.rows)
            kt = self.resolve(k["key"][1], k["key"][2], e.package)
            vt = self.resolve(k["value"][1], k["value"][2], e.package)
            if vt not in SCALARS and self.file_of[vt] != myfile:
                imports.add(self.file_of[vt])
            decl = "map<%s, %s> %s = %d" % (kt, self.tref(vt), name, num)
        else:
            lab = ""
            if proto2 and not oneof:
                lab = (ulabel or label or "optional") + " "
            elif not proto2 and (label == "repeated" or ulabel == "repeated"):
                lab = "repeated "
            decl = "%s%s %s = %d" % (lab, self.tref(fqn_t), name, num)
            if default and proto2:
                if fqn_t in ("string", "bytes"):
                    default = '"%s"' % default.replace('"', '\\"')
                decl += " [default = %s]" % default
        out = []
        if desc.strip():
            out += wrap_comment(clean(desc), indent)
        out.append(indent + decl + ";")
        return oneof, out

    def emit_message(self, it, proto2, children, numbers, indent, imports,
                     myfile):
        out = []
        if it.doc:
            out += wrap_comment("\n".join(it.doc), indent)
        name = it.short.rpartition(".")[2]
        out.append("%smessage %s {" % (indent, name))
        inner = indent + "  "
        for child in children.get(it.fqn, []):
            if child.fqn in self.entries:
                continue
            out += self.emit(child, proto2, children, numbers, inner,
                             imports, myfile)
        numbers.setdefault(it.fqn, self.maxnum.get(it.fqn, 0))
        oneofs = collections.OrderedDict()
        for row in it.rows:
            oneof, lines = self.field_line(it, row, proto2, numbers, inner,
                                           imports, myfile)
            if oneof:
                if oneof not in oneofs:
                    oneofs[oneof] = []
                    out.append("%s@@ONEOF:%s" % (inner, oneof))
                oneofs[oneof] += ["  " + l for l in lines]
            else:
                out += lines
        res = []
        for line in out:
            if line.strip().startswith("@@ONEOF:"):
                o = line.strip()[len("@@ONEOF:"):]
                res.append("%soneof %s {" % (inner, o))
                res += oneofs[o]
                res.append(inner + "}")
            else:
                res.append(line)
        res.append(indent + "}")
        return res

    def emit_enum(self, it, indent):
        out = []
        if it.doc:
            out += wrap_comment("\n".join(it.doc), indent)
        out.append("%senum %s {" % (indent, it.short.rpartition(".")[2]))
        for name, num, desc in it.rows:
            if desc.strip():
                out += wrap_comment(clean(desc), indent + "  ")
            out.append("%s  %s = %s;" % (indent, name, num))
        out.append(indent + "}")
        return out

    def emit_service(self, it, imports, myfile):
        out = []
        if it.doc:
            out += wrap_comment("\n".join(it.doc), "")
        out.append("service %s {" % it.short)
        for name, rq, rqa, rs, rsa, desc in it.rows:
            rqf = self.resolve(rq, rqa, it.package)
            rsf = self.resolve(rs, rsa, it.package)
            for t in (rqf, rsf):
                if self.file_of[t] != myfile:
                    imports.add(self.file_of[t])
            if desc.strip():
                out += wrap_comment(clean(desc), "  ")
            out.append("  rpc %s(%s) returns (%s);" %
                       (name, self.tref(rqf), self.tref(rsf)))
        out.append("}")
        return out

    def emit(self, it, proto2, children, numbers, indent, imports, myfile):
        if it.kind == "enum":
            return self.emit_enum(it, indent)
        return self.emit_message(it, proto2, children, numbers, indent,
                                 imports, myfile)

    def generate(self, outdir, source_note):
        files = collections.OrderedDict()
        for it in self.items:
            files.setdefault(self.file_of[it.fqn], []).append(it)
        written = []
        for path, its in files.items():
            pkg = its[0].package
            proto2 = pkg.startswith("mesos")
            children = collections.defaultdict(list)
            tops = []
            for it in its:
                if it.kind == "service" or "." not in it.short:
                    tops.append(it)
                else:
                    parent = pkg + "." + it.short.rpartition(".")[0]
                    children[parent].append(it)
            imports = set()
            numbers = {}
            body = []
            for it in tops:
                if it.fqn in self.entries:
                    continue
                body.append("")
                if it.kind == "service":
                    body += self.emit_service(it, imports, path)
                else:
                    body += self.emit(it, proto2, children, numbers, "",
                                      imports, path)
            head = ["// Generated by scripts/gen_protos.py from %s;"
                    " do not edit." % source_note,
                    "",
                    'syntax = "%s";' % ("proto2" if proto2 else "proto3"),
                    "",
                    "package %s;" % pkg,
                    ""]
            for imp in sorted(imports):
                head.append('import "%s";' % imp)
            text = "\n".join(head + body) + "\n"
            full = os.path.join(outdir, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)
            written.append(path)
        return written


def widen_to_upstream(items, fields, values):
    """Upstream's whole schema for the messages and enums: every field and
    value the tables hold, messages and enums only upstream has included
    (nested ones under their parent), fields whose type is unknown left
    out. For the compatibility tests' stand-in for upstream's own protos."""
    by_fqn = {it.fqn: it for it in items}
    pending = sorted(set(fields) | set(values), key=lambda f: f.count("."))
    for fqn in pending:
        if fqn in by_fqn:
            continue
        pkg, _, short = fqn.rpartition(".")
        home = by_fqn.get(pkg)
        if home is not None:
            short = home.short + "." + short
        else:
            home = next((it for it in items if it.package == pkg), None)
            if home is None:
                continue  # a package the reference lacks: not served
        it = Item(fqn, short, home.section)
        it.kind = "enum" if fqn in values else "message"
        it.doc = ["Upstream's, not in the reference."]
        items.append(it)
        by_fqn[fqn] = it
    for it in items:
        if it.kind == "enum" and it.fqn in values:
            # upstream's values as upstream numbers them (update.State was
            # renumbered upstream after the reference)
            it.rows = [[n, v, ""] for n, v in values[it.fqn]]
        elif it.kind == "message" and it.fqn in fields:
            have = {r[0] for r in it.rows}
            for name, up in fields[it.fqn].items():
                t = up["type"].lstrip(".")
                if name in have or (t not in SCALARS and t not in by_fqn):
                    continue
                it.rows.append([name, t.rpartition(".")[2], t, up["label"], ""])


def write_upstream_v0(items, fields, maxnum, values, outdir):
    """The peloton.api files as upstream names them (peloton.api.v0.X, under
    peloton/api/v0/), importing our mesos files as they are."""
    import tempfile
    widen_to_upstream(items, fields, values)
    gen = Generator(items, fields, maxnum)
    with tempfile.TemporaryDirectory() as tmp:
        written = gen.generate(tmp, "the upstream tables (compatibility tests)")
        out = []
        for path in written:
            if not path.startswith("peloton/api/"):
                continue
            with open(os.path.join(tmp, path), encoding="utf-8") as f:
                text = f.read()
            text = re.sub(r"\bpeloton\.api\.(?!v0\.)", "peloton.api.v0.", text)
            text = text.replace('import "peloton/api/', 'import "peloton/api/v0/')
            dest = os.path.join(outdir, "peloton/api/v0", path[len("peloton/api/"):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w", encoding="utf-8") as f:
                f.write(text)
            out.append(os.path.relpath(dest, outdir))
    print("\n".join(out))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--upstream-v0":
        top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        shared = os.path.join(top, "proto", "spec")
        items = parse_reference(os.path.join(shared, "seed", "peloton-api-reference.md"))
        fields, maxnum, values = load_tsv([os.path.join(shared, "protocol", n)
                                           for n in ("mesos-fields.tsv", "peloton-fields.tsv")])
        adopt(items, fields, values, os.path.join(shared, "protocol", "adopted.tsv"))
        write_upstream_v0(items, fields, maxnum, values, sys.argv[2])
        return
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "proto", "spec")
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    items = parse_reference(os.path.join(shared, "seed",
                                         "peloton-api-reference.md"))
    fields, maxnum, values = load_tsv([os.path.join(shared, "protocol", n)
                                       for n in ("mesos-fields.tsv",
                                                 "peloton-fields.tsv")])
    adopt(items, fields, values,
          os.path.join(top, "proto", "spec", "protocol", "adopted.tsv"))
    gen = Generator(items, fields, maxnum)
    written = gen.generate(os.path.join(top, "proto"),
                           "seed/peloton-api-reference.md and "
                           "protocol/*-fields.tsv")
    with open(os.path.join(top, "proto", "FILES"), "w") as f:
        f.write("".join(p + "\n" for p in written))
    for u in gen.unnumbered:
        print("numbered here (no upstream row): " + u, file=sys.stderr)
    print("wrote %d files, %d items" % (len(written), len(items)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
