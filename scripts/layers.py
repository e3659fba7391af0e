#!/usr/bin/env python3
"""No import circles: the module graph of each crate, read from its `use` paths.

For every crate under the workspace (a `src/` with `lib.rs` or `main.rs`) it reads each
file's module path from its location, every `use` tree and every inline `crate::…` /
`super::…` / `self::…` path, and draws an edge between two sibling modules when code in
one names something in the other. A strongly connected set of siblings (any depth: the
crate's top-level modules, the files of one folder, …) is a circle, and it is reported
with one file:line per edge. Edges from a child to its own ancestors are not circles
(`super::` reaching the parent's façade is how folders are built).

Also the UI: relative imports between `ui/src` modules, same rule.

Usage: `python3 scripts/layers.py` (exit 1 and a list when there is a circle). `--graph`
prints the top-level edges of each crate.
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USE_RE = re.compile(r"\buse\s+([^;]+);", re.S)
INLINE_RE = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("lib", "main", "mod"):
        rel = rel[:-1]
    return rel


def expand(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, s):
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:i])
                start = i + 1
        parts.append(s[start:])
        for p in parts:
            if not p:
                continue
            if "{" in p:
                head, rest = p.split("{", 1)
                walk(prefix + head, rest[: rest.rfind("}")])
            else:
                out.append(prefix + re.sub(r"\bas\b.*$", "", p))

    walk("", tree)
    return out


def resolve(path, here):
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        return segs[1:]
    if segs[0] in ("super", "self"):
        base = list(here)
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                if not base:
                    return None
                base = base[:-1]
            segs = segs[1:]
        return base + segs
    return None  # another crate, std, or a local name: not ours


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def crate_cycles(src):
    files = []
    for d, _, names in os.walk(src):
        files += [os.path.join(d, n) for n in names if n.endswith(".rs")]
    modules = {tuple(module_of(src, f)) for f in files}
    # A module declared inline (`mod tests { … }`) is part of its file's module here.
    edges = defaultdict(dict)  # (parent) -> {(a, b): where}
    for f in files:
        here = module_of(src, f)
        text = strip_comments(open(f, encoding="utf-8").read())
        refs = []
        for m in USE_RE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            for p in expand(m.group(1)):
                refs.append((p, line))
        for m in INLINE_RE.finditer(text):
            refs.append((m.group(1), text.count("\n", 0, m.start()) + 1))
        for p, line in refs:
            target = resolve(p, here)
            if target is None:
                continue
            # Deepest known module the path names.
            while target and tuple(target) not in modules:
                target = target[:-1]
            common = 0
            while common < min(len(here), len(target)) and here[common] == target[common]:
                common += 1
            if common >= len(target) or common >= len(here):
                continue  # into itself, its own child, or an ancestor
            a, b = here[common], target[common]
            parent = tuple(here[:common])
            edges[parent].setdefault((a, b), f"{os.path.relpath(f, ROOT)}:{line}")
    return edges


def sccs(nodes, adj):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj.get(v, ()):
            if w not in index:
                strong(w)
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
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out


def report(label, edges, graph):
    bad = 0
    for parent, es in sorted(edges.items()):
        adj = defaultdict(set)
        for a, b in es:
            adj[a].add(b)
        nodes = {a for a, _ in es} | {b for _, b in es}
        if graph and not parent:
            print(f"{label}:")
            for (a, b) in sorted(es):
                print(f"  {a} -> {b}")
        for comp in sccs(nodes, adj):
            bad += 1
            scope = "::".join(parent) or "(crate root)"
            print(f"circle in {label} {scope}: {' ⇄ '.join(comp)}")
            for (a, b), where in sorted(es.items()):
                if a in comp and b in comp:
                    print(f"    {a} -> {b}  ({where})")
    return bad


def ui_edges(src):
    edges = defaultdict(dict)
    imp = re.compile(r"""(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]""")
    for d, _, names in os.walk(src):
        for n in names:
            if not n.endswith((".ts", ".tsx")):
                continue
            f = os.path.join(d, n)
            here = os.path.relpath(f, src).rsplit(".", 1)[0]
            text = open(f, encoding="utf-8").read()
            for m in imp.finditer(text):
                t = os.path.normpath(os.path.join(os.path.dirname(here), m.group(1)))
                line = text.count("\n", 0, m.start()) + 1
                edges[()].setdefault((here, t), f"{os.path.relpath(f, ROOT)}:{line}")
    return edges


def main():
    graph = "--graph" in sys.argv
    bad = 0
    for name in sorted(os.listdir(ROOT)):
        src = os.path.join(ROOT, name, "src")
        if name in ("target", "ui", "node_modules") or not os.path.isdir(src):
            continue
        if not any(os.path.exists(os.path.join(src, f)) for f in ("lib.rs", "main.rs")):
            continue
        bad += report(name, crate_cycles(src), graph)
    ui = os.path.join(ROOT, "ui", "src")
    if os.path.isdir(ui):
        bad += report("ui", ui_edges(ui), False)
    if bad:
        print(f"layers: {bad} import circle(s)")
        return 1
    print("layers: no import circles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
