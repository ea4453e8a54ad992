#!/usr/bin/env python3
"""record / apply / retire in a big registry, and process start: whole-process times.

Builds an app of --patches + 50 small files, deploys it, records --patches patches one by one
with the real binary (one file each), then times, each --runs times on a fresh file or id:
  record    patchkeeper record FILE       (one more patch in the registry)
  apply     patchkeeper apply X.patch     (a git diff of another file)
  retire    patchkeeper retire ID
  version   patchkeeper --version  vs  git --version (process start)
With --baseline OTHER, OTHER runs the same commands in the same rounds on its own copy of the
registry (DIR.baseline; before/after side by side; each round retires the lowest active ids).
Usage:
  python3 scripts/bench/registry.py --patchkeeper .build/release/patchkeeper
           [--patches 1000] [--runs 7] [--dir DIR] [--baseline OTHER-BINARY] [--quick]
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME="/nonexistent", GIT_AUTHOR_NAME="Bench",
           GIT_AUTHOR_EMAIL="bench@example.org", GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.org")


def run(cmd, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, shell=isinstance(cmd, str))
    if r.returncode != 0:
        sys.exit(f"registry.py: {cmd} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r


CPU = {}


def timed(cmd, row=None):
    """Wall time of the whole command; its CPU time (user+system) is kept per row: on a loaded
    machine the steadier figure."""
    u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    run(cmd)
    wall = time.perf_counter() - t
    u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if row:
        CPU.setdefault(row, []).append(u1.ru_utime - u0.ru_utime + u1.ru_stime - u0.ru_stime)
    return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patchkeeper", required=True)
    ap.add_argument("--patches", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dir")
    ap.add_argument("--baseline", help="a second patchkeeper binary, timed in the same rounds")
    ap.add_argument("--quick", action="store_true", help="50 patches, 1 run each: a smoke run, no claims")
    a = ap.parse_args()
    n, runs = (50, 1) if a.quick else (a.patches, a.runs)
    d = a.dir or tempfile.mkdtemp(prefix="patchkeeper-registry.")
    pk = os.path.abspath(a.patchkeeper)
    app, live, reg = f"{d}/app", f"{d}/live", f"{d}/registry"
    extra = 600  # fresh files for later rounds (record and apply each take one)
    if not os.path.exists(f"{reg}/.git"):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(f"{app}/src")
        for i in range(n + extra):
            with open(f"{app}/src/f{i}.txt", "w") as f:
                f.write(f"line1\nvalue = {i}\nline3\n")
        run(["git", "init", "-q", app])
        run("git add -A && git commit -qm v1", cwd=app)
        os.makedirs(live)
        run(f"git -C {app} archive HEAD:src | tar -x -C {live}")
        open(f"{live}/REVISION", "w").write(run(["git", "-C", app, "rev-parse", "HEAD"]).stdout.decode())
        flags = ["--root", live, "--repo", app, "--subdir", "src", "--registry", reg]
        run([pk, "init"] + flags)
        t0 = time.perf_counter()
        for i in range(n):
            open(f"{live}/f{i}.txt", "w").write(f"line1\nvalue = hot {i}\nline3\n")
            run([pk, "record", f"f{i}.txt", "--title", f"Hot patch {i}", "--reason", "bench"] + flags)
        print(f"registry: {n} patches recorded one by one in {time.perf_counter() - t0:.1f} s")
    count = len([f for f in os.listdir(reg) if f.endswith(".patch")])
    # Each binary writes its own copy (DIR.baseline, copied from DIR by the first call that names
    # a baseline, kept after): two versions may keep the registry differently (the image branch's
    # layout, their caches), and one writing after the other would pay for, or profit from, the
    # other's way. For a fair start, build DIR with the baseline binary.
    dirs = {"": d}
    copy = d.rstrip("/") + ".baseline"
    if a.baseline and not os.path.exists(f"{copy}/registry/.git"):
        shutil.rmtree(copy, ignore_errors=True)
        os.makedirs(copy)
        for sub in ("app", "live", "registry"):
            run(["cp", "-a", f"{d}/{sub}", f"{copy}/{sub}"])
        run(["git", "-C", f"{copy}/registry", "status", "--porcelain"])  # the index's stat data, after the copy
    if a.baseline:
        dirs["base "] = copy
    flags_of = {tag: ["--root", f"{x}/live", "--repo", f"{x}/app", "--subdir", "src", "--registry", f"{x}/registry"] for tag, x in dirs.items()}
    bins = [("", pk)] + ([("base ", os.path.abspath(a.baseline))] if a.baseline else [])
    rows = {}
    for tag, _ in bins:
        rows.update({f"{tag}record": [], f"{tag}apply": [], f"{tag}retire": [], f"{tag}version": []})
    rows["git --version"] = []
    # Live files not yet recorded, and patches still active (lowest ids first).
    k = max([int(f[1:-4]) for f in os.listdir(live) if f.startswith("f") and f.endswith(".txt")
             and open(f"{live}/{f}").read() != f"line1\nvalue = {f[1:-4]}\nline3\n"] + [n - 1]) + 1
    active = sorted(int(f[:4]) for f in os.listdir(reg) if f.endswith(".patch") and "Status: retired" not in open(f"{reg}/{f}").read())
    active_of = {tag: list(active) for tag, _ in bins}
    k0 = k
    for r in range(runs):
        for tag, b in bins:
            k = k0 + 2 * r
            flags, live, active = flags_of[tag], f"{dirs[tag]}/live", active_of[tag]
            open(f"{live}/f{k}.txt", "w").write("line1\nvalue = recorded\nline3\n")
            rows[f"{tag}record"].append(timed(row=f"{tag}record", cmd=[b, "record", f"f{k}.txt", "--title", "bench record", "--reason", "bench"] + flags))
            k += 1
            patch = f"{dirs[tag]}/apply-{k}.patch"
            open(patch, "w").write(f"diff --git a/src/f{k}.txt b/src/f{k}.txt\n--- a/src/f{k}.txt\n+++ b/src/f{k}.txt\n"
                                   f"@@ -1,3 +1,3 @@\n line1\n-value = {k}\n+value = applied\n line3\n")
            rows[f"{tag}apply"].append(timed(row=f"{tag}apply", cmd=[b, "apply", patch, "--title", "bench apply", "--reason", "bench"] + flags))
            k += 1
            rows[f"{tag}retire"].append(timed(row=f"{tag}retire", cmd=[b, "retire", str(active.pop(0)), "--reason", "bench"] + flags))
            rows[f"{tag}version"].append(timed(row=f"{tag}version", cmd=[b, "--version"]))
        rows["git --version"].append(timed(["git", "--version"], row="git --version"))
    print(f"{count} patches in the registry; medians of {runs} runs; load average {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print(f"{'command':<14} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'CPU ms':>8}")
    for key, v in rows.items():
        print(f"{key:<14} {statistics.median(v) * 1000:10.1f} {min(v) * 1000:8.1f} {max(v) * 1000:8.1f} {statistics.median(CPU[key]) * 1000:8.1f}")
    print(f"version ÷ git --version: {statistics.median(rows['version']) / statistics.median(rows['git --version']):.2f}")
    if a.quick:
        print("(quick run: no timing claims)")
    if not a.dir:
        shutil.rmtree(d)
    if a.baseline and not a.dir:
        shutil.rmtree(dirs["base "], ignore_errors=True)


if __name__ == "__main__":
    main()
