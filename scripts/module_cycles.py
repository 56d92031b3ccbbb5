"""Reads `cargo modules dependencies` (Graphviz) on stdin and fails when the
crate's modules use each other in a cycle.

Every item stands for the module that holds it; module A uses B when an
item of A uses an item of B. A submodule's use of its own ancestors is not
counted: a child is part of its parent (`super::` is its own namespace).
Cycles made only of modules under an allowed prefix (the ORM's entities,
whose relations name each other) are reported but allowed.

    cargo modules dependencies -p server --lib --no-externs --no-sysroot \\
      | python3 scripts/module_cycles.py server::platform::entity::
"""

import re
import sys
from collections import defaultdict

allowed = tuple(sys.argv[1:])
kinds, uses = {}, []
for line in sys.stdin:
    if node := re.match(r'\s*"([^"]+)" \[label="[^"]*"[^;]*\]; // "([^"]+)" node', line):
        kinds[node.group(1)] = node.group(2)
    elif edge := re.match(r'\s*"([^"]+)" -> "([^"]+)" \[label="uses"', line):
        uses.append(edge.groups())
if not kinds:
    sys.exit("no graph on stdin: did `cargo modules` fail?")


def module(path):
    while kinds.get(path) not in ("mod", "crate") and "::" in path:
        path = path.rsplit("::", 1)[0]
    return path


graph = defaultdict(set)
for a, b in uses:
    user, used = module(a), module(b)
    if user != used and not user.startswith(used + "::"):
        graph[user].add(used)

# Tarjan's strongly connected components, iteratively.
index, low, on_stack, stack, cycles = {}, {}, set(), [], []
for root in list(graph):
    if root in index:
        continue
    work = [(root, iter(sorted(graph[root])))]
    index[root] = low[root] = len(index)
    stack.append(root)
    on_stack.add(root)
    while work:
        node, targets = work[-1]
        for target in targets:
            if target not in index:
                index[target] = low[target] = len(index)
                stack.append(target)
                on_stack.add(target)
                work.append((target, iter(sorted(graph[target]))))
                break
            if target in on_stack:
                low[node] = min(low[node], index[target])
        else:
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))

failing = 0
for group in cycles:
    ok = allowed and all(member.startswith(allowed) for member in group)
    failing += not ok
    print(("allowed: " if ok else "CYCLE: ") + " <-> ".join(group))
    for member in group:
        print(f"    {member} uses {', '.join(sorted(graph[member] & set(group)))}")
modules = len(set(graph) | {m for targets in graph.values() for m in targets})
print(f"{modules} modules, {sum(map(len, graph.values()))} uses between them, {failing} cycles")
sys.exit(1 if failing else 0)
