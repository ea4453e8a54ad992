#!/usr/bin/env python3
"""Side-by-side timing of whole commands, as BENCHMARKS.md quotes it since the seventh session.

    python3 scripts/bench/pairs.py N "REFERENCE COMMAND" "COMMAND" ["COMMAND" ...]

One warm-up run each, then N rounds; each round runs every command once, in the given order on
even rounds and reversed on odd ones (so neither side always runs first). Commands are split
with shlex and run directly (no shell: wrap pipelines in a script). Prints, per command, the
median wall time and the median CPU time (user + system of the process tree, RUSAGE_CHILDREN),
and, for each command after the first, the median of the per-round ratios to the first.
"""
import resource, statistics, subprocess, sys, time, shlex
n = int(sys.argv[1]); cmds = sys.argv[2:]
def one(c):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN); t = time.perf_counter()
    p = subprocess.run(shlex.split(c), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    w = time.perf_counter() - t; r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return w, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), p.returncode
res = [[] for _ in cmds]
for c in cmds: one(c)
for i in range(n):
    order = list(range(len(cmds))) if i % 2 == 0 else list(reversed(range(len(cmds))))
    for k in order: res[k].append(one(cmds[k]))
for k, c in enumerate(cmds):
    w = [x[0] for x in res[k]]; cpu = [x[1] for x in res[k]]
    print(f"{k}: wall med {statistics.median(w)*1000:.1f} ms (min {min(w)*1000:.1f}) cpu med {statistics.median(cpu)*1000:.1f} ms rc {res[k][0][2]}  {c[:90]}")
if len(cmds) >= 2:
    for k in range(1, len(cmds)):
        print(f"ratio {k}/0 wall med {statistics.median(a[0]/b[0] for a,b in zip(res[k],res[0])):.4f} cpu {statistics.median(a[1]/b[1] for a,b in zip(res[k],res[0])):.4f}")
