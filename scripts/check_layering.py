#!/usr/bin/env python3
"""check_layering — enforces eddyd's module graph (docs/architecture.md) on the sources and, given
a build directory, the absence of file-level cycles in the libraries.

  scripts/check_layering.py [--build DIR] [--graph]

1. Includes. Every #include "<module>/<file>" of a file under src/ must name the file's own module
   or one the module order allows:

     common <- net, proto, storage <- broker <- group, registry, metrics <- eddyd
     http (transport only) beside net

   A header named *_int.h or internal.h (and broker/core.h) is private to its module. An include that climbs out of
   its directory ("../") is refused: modules are reached through their include roots only.
   No weak symbols in src/, no whole-archive or deferred linking in any CMakeLists.txt: a
   missing module must be a link error.
2. Links (--build). Which library calls which (nm: a library's undefined symbols defined by
   another library of src/, eddyd's objects included) must follow the same order — this catches
   an upward call made through a hand-written declaration that no #include shows.
3. File cycles (--build). For every static library of the build, which member calls which;
   a pair of files that call each other, or any longer loop, is a failure: one of them belongs
   below the other.

Exit status 0 when clean, 1 with one line per violation. --graph prints the module edges found.
"""
import argparse
import collections
import glob
import os
import re
import subprocess
import sys

# module -> modules it may include (directly); the closure is taken below.
ALLOWED = {
    "common": [],
    "net": ["common"],
    "proto": ["common"],
    "storage": ["common"],
    "http": ["net", "common"],
    # authentication below the broker: SASL mechanisms, SCRAM credentials, principals
    "security": ["common"],
    # authorization and quotas (ACL store, decision, quota accounting): no sockets, no requests
    "authz": ["common"],
    "broker": ["net", "proto", "storage", "security", "authz", "common"],
    "group": ["broker"],
    # the transaction coordinator: markers through the broker, TxnOffsetCommit's offsets in
    # the group coordinator
    "txn": ["group", "broker"],
    # the registry: JSON Pointer resolution shared with libeddy's validator (sdkschema)
    "registry": ["broker", "http", "sdkschema"],
    "metrics": ["broker", "http"],
    # the REST produce API: records onto the broker's log, payloads encoded against the
    # registry's schemas (libeddy's schema code for the encoders)
    "rest": ["broker", "http", "registry", "sdkschema"],
    # the web console and JSON admin API: topics and logs through the broker, groups' views;
    # DLQ redrive's rules shared with libeddy (sdkschema/dlqrule.h, the lowest module both link)
    "console": ["broker", "group", "registry", "http", "sdkschema"],
    "eddyd": ["broker", "group", "txn", "registry", "metrics", "rest", "console", "http"],
    # libeddy and its schema part: the public headers (include/eddy) and nothing of the broker
    "sdkschema": [],
    "sdk": ["sdkschema"],
    # the on-ramp programs beside the broker: change data capture and HTTP push (librdkafka
    # clients of any Kafka-protocol broker; only common helpers from the tree)
    "cdc": ["common"],
    "push": ["common"],
    # the CLI: common helpers, libeddy's HTTP client and libeddy (dlq redrive)
    "cli": ["common", "sdkschema", "sdk"],
}

# Files whose module is not their directory (none today: every file sits in its module's folder).
FILE_MODULE = {}

# Headers private to their module beyond the *_int.h / internal.h naming rule.
PRIVATE = {"broker/core.h"}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def closure():
    out = {}
    for m in ALLOWED:
        seen, todo = set(), list(ALLOWED[m])
        while todo:
            x = todo.pop()
            if x in seen:
                continue
            seen.add(x)
            todo.extend(ALLOWED.get(x, []))
        out[m] = seen
    return out


def module_of(rel):
    if rel in FILE_MODULE:
        return FILE_MODULE[rel]
    parts = rel.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "src" else None


def check_includes(src_root, errors, edges):
    allowed = closure()
    for path in sorted(glob.glob(os.path.join(src_root, "src", "**", "*.[ch]"), recursive=True)):
        rel = os.path.relpath(path, src_root)
        mod = module_of(rel)
        if mod is None:
            continue
        if mod not in ALLOWED:
            errors.append("%s: module %s is not in the module order (scripts/check_layering.py)"
                          % (rel, mod))
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for lineno, inc in ((text.count("\n", 0, m.start()) + 1, m.group(1))
                            for m in INCLUDE_RE.finditer(text)):
            where = "%s:%d" % (rel, lineno)
            if inc.startswith("../") or "/../" in inc:
                errors.append('%s: #include "%s" climbs out of the directory' % (where, inc))
                continue
            if "/" not in inc:
                continue  # same directory
            top = inc.split("/")[0]
            if top == "eddy":  # include/eddy: the public SDK headers
                if mod not in ("sdk", "sdkschema", "cli", "rest"):
                    errors.append('%s: #include "%s": only the SDK side uses include/eddy'
                                  % (where, inc))
                continue
            target = module_of("src/" + inc) or top
            if target == mod:
                continue
            edges[(mod, target)].append(where)
            base = os.path.basename(inc)
            if base.endswith("_int.h") or base == "internal.h" or inc in PRIVATE:
                errors.append('%s: #include "%s" is private to %s' % (where, inc, target))
            elif target not in allowed[mod]:
                errors.append('%s: #include "%s": %s may not depend on %s (module order: %s)'
                              % (where, inc, mod, target,
                                 ", ".join(sorted(allowed[mod])) or "nothing"))


def cmake_files(src_root):
    """CMakeLists.txt and *.cmake of the project (not build trees, node_modules or .git)."""
    out = []
    for d, dirs, files in os.walk(src_root):
        dirs[:] = [x for x in dirs if not (x.startswith("build") or x.startswith(".")
                                           or x == "node_modules")]
        out += [os.path.join(d, f) for f in files if f == "CMakeLists.txt" or f.endswith(".cmake")]
    return sorted(out)


def check_link_tricks(src_root, errors):
    for path in sorted(glob.glob(os.path.join(src_root, "src", "**", "*.[ch]"), recursive=True)):
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if re.search(r"__attribute__\s*\(\(\s*weak|#\s*pragma\s+weak", line):
                    errors.append("%s:%d: weak symbol (a missing module must be a link error)"
                                  % (os.path.relpath(path, src_root), n))
    for path in cmake_files(src_root):
        rel = os.path.relpath(path, src_root)
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                code = line.split("#", 1)[0]
                if "WHOLE_ARCHIVE" in code or "--whole-archive" in code or \
                        "cmake_language(DEFER" in code:
                    errors.append("%s:%d: whole-archive / deferred linking" % (rel, n))


# static library (file name without lib/.a) -> module
LIB_MODULE = {"eddy": "sdk", "eddy_schema": "sdkschema"}


def lib_module(archive):
    name = os.path.basename(archive)[3:-2]
    return LIB_MODULE.get(name, name[5:] if name.startswith("eddy_") else name)


def check_links(build, errors, edges):
    allowed = closure()
    defs = collections.defaultdict(set)  # symbol -> modules defining it
    undefs = {}  # module -> {symbol: member}
    objs = {}
    for a in sorted(glob.glob(os.path.join(build, "src", "**", "lib*.a"), recursive=True)):
        objs[lib_module(a)] = nm_members(a)
    eddyd = sorted(glob.glob(os.path.join(build, "src", "eddyd", "CMakeFiles", "eddyd.dir",
                                          "*.o")))
    if eddyd:
        objs["eddyd"] = {}
        for o in eddyd:
            objs["eddyd"].update(nm_members(o, os.path.basename(o)))
    for mod, members in objs.items():
        u = {}
        for m, (d, un) in members.items():
            for sym in d:
                defs[sym].add(mod)
            for sym in un:
                u.setdefault(sym, m)
        undefs[mod] = u
    for mod, u in undefs.items():
        if mod not in ALLOWED:
            continue
        for sym, member in sorted(u.items()):
            owners = defs.get(sym, set()) - {mod}
            if not owners or mod in defs.get(sym, ()):
                continue
            if owners & (allowed[mod] | {mod}):
                continue
            for o in sorted(owners):
                edges[(mod, o)].append(member)
            errors.append("%s (%s) calls %s of %s: %s may not depend on %s"
                          % (member, mod, sym, "/".join(sorted(owners)), mod,
                             "/".join(sorted(owners))))


NM_RE = re.compile(r"^(.*):[0-9a-f]*\s+([A-Za-z])\s+(\S+)$")


def nm_members(archive, single=None):
    """{member: (defined symbols, undefined symbols)} of a static library."""
    out = subprocess.run(["nm", "-A", archive], capture_output=True, text=True).stdout
    members = collections.defaultdict(lambda: (set(), set()))
    for line in out.splitlines():
        m = NM_RE.match(line)
        if not m:
            continue
        head, kind, sym = m.group(1), m.group(2), m.group(3)
        member = single or head.split(":")[-1]
        if kind in "TDBRCGV":
            members[member][0].add(sym)
        elif kind in "Uw":
            members[member][1].add(sym)
    return members


def find_cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return sccs


def check_cycles(build, errors):
    archives = sorted(glob.glob(os.path.join(build, "src", "**", "lib*.a"), recursive=True))
    if not archives:
        errors.append("%s: no static libraries found under src/ (is it a build directory?)" % build)
        return
    for a in archives:
        members = nm_members(a)
        owner = {}
        for m, (defs, _) in members.items():
            for s in defs:
                owner[s] = m
        graph = collections.defaultdict(set)
        why = {}
        for m, (_, undefs) in members.items():
            for s in undefs:
                d = owner.get(s)
                if d and d != m:
                    graph[m].add(d)
                    why.setdefault((m, d), s)
        for comp in find_cycles(graph):
            detail = "; ".join("%s -> %s (%s)" % (x, y, why[(x, y)]) for x in comp for y in comp
                               if (x, y) in why)
            errors.append("%s: file cycle %s: %s" % (os.path.relpath(a, build),
                                                     " <-> ".join(comp), detail))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", help="build directory: also check file cycles in its libraries")
    ap.add_argument("--graph", action="store_true", help="print the module edges found")
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args()
    errors, edges = [], collections.defaultdict(list)
    check_includes(args.source, errors, edges)
    check_link_tricks(args.source, errors)
    if args.build:
        check_links(args.build, errors, edges)
        check_cycles(args.build, errors)
    if args.graph:
        for (a, b), where in sorted(edges.items()):
            print("%s -> %s (%d includes)" % (a, b, len(where)))
    for e in errors:
        print(e)
    if errors:
        print("check_layering: %d violation(s); the module order is in docs/architecture.md"
              % len(errors))
        return 1
    print("check_layering: module order and file cycles clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
