#!/usr/bin/env python3
"""Gate over a long history: patchkeeper gate vs git's own patch-id pass, same run, same repo.

Generates (deterministically, with git fast-import) an app repository whose target revision is
--commits commits after the deployed one: random one-line edits to random files, some of them in
files that carry hot patches (away from the patched lines), one commit that is exactly patch 3's
change (upstream took the fix: gate must say upstreamed and name it by patch-id), and patch 2's
fix applied upstream and reverted later (gate must say reapplies). The live tree is the deployed
revision plus the three patches, recorded with the real binary.

Then it times, alternating runs, medians quoted:
  git-full    git log -p --no-merges BASE..TARGET | git patch-id --stable   (the reference)
  git-paths   the same pass limited to the patches' paths
  gate-cold   patchkeeper gate --target TARGET, patch-id cache removed before each run
  gate-warm   patchkeeper gate --target TARGET, cache from the previous run
and prints each as a ratio of git-full. With --baseline OTHER, OTHER's gate runs are timed in the
same rounds (before/after side by side). Usage:
  python3 scripts/bench/history.py --patchkeeper .build/release/patchkeeper [--commits 2000]
      [--files 400] [--runs 5] [--dir DIR] [--baseline OTHER-BINARY] [--quick]
"""
import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME="/nonexistent", GIT_AUTHOR_NAME="Bench",
           GIT_AUTHOR_EMAIL="bench@example.org", GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.org")


def run(cmd, cwd=None, input=None, check=True):
    r = subprocess.run(cmd, cwd=cwd, input=input, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, shell=isinstance(cmd, str))
    if check and r.returncode != 0:
        sys.exit(f"history.py: {cmd} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r


def file_lines(i, n=40):
    return [f"  setting_{i}_{k} = {k * 7 % 101}\n" for k in range(n)]


def generate(repo, files, commits, seed):
    rnd = random.Random(seed)
    content = {f"src/app/{'lib' if i < 3 else f'dir{i % 20:02d}'}/mod{i:04d}.rb": file_lines(i) for i in range(files)}
    paths = sorted(content)
    patched = [p for p in paths if "/lib/" in p][:3]  # patch 1, 2, 3 files
    out = []
    t = 1_700_000_000
    mark = 0

    def commit(msg, changes):
        nonlocal mark, t
        mark += 1
        t += 60
        body = msg.encode()
        out.append(f"commit refs/heads/main\nmark :{mark}\ncommitter Bench <bench@example.org> {t} +0000\n".encode())
        out.append(f"data {len(body)}\n".encode() + body + b"\n")
        if mark > 1:
            out.append(f"from :{mark - 1}\n".encode())
        for p in changes:
            data = "".join(content[p]).encode()
            out.append(f"M 100644 inline {p}\ndata {len(data)}\n".encode() + data + b"\n")
        return mark

    base = commit("base", paths)
    out.append(f"reset refs/tags/base\nfrom :{base}\n\n".encode())
    fix3_at = commits // 3
    fix2_at, revert2_at = commits // 4, (commits * 3) // 4
    for n in range(1, commits + 1):
        if n == fix3_at:
            content[patched[2]][5] = "  setting_patched_3 = true\n"
            commit("Upstream takes hot patch 3", [patched[2]])
            continue
        if n == fix2_at:
            original2 = content[patched[1]][5]
            content[patched[1]][5] = "  setting_patched_2 = true\n"
            commit("Upstream takes hot patch 2", [patched[1]])
            continue
        if n == revert2_at:
            content[patched[1]][5] = original2
            commit("Revert \"Upstream takes hot patch 2\"", [patched[1]])
            continue
        # Like a real app's history: a commit touches a few files, a few lines each.
        touched = rnd.sample(paths, rnd.randint(1, 5))
        if n % 50 == 0:
            touched = [rnd.choice(patched)]  # a patched file, far from the patched line
        for p in touched:
            for _ in range(rnd.randint(1, 8)):
                k = rnd.randint(20, 39)
                content[p][k] = f"  setting_{p[-7:-3]}_{k} = {n}\n"
        commit(f"change {n}", touched)
    out.append(f"reset refs/tags/target\nfrom :{mark}\n\n".encode())
    run(["git", "init", "-q", repo])
    run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(out))
    run(["git", "checkout", "-q", "-f", "main"], cwd=repo)
    return patched


def setup(d, pk, files, commits):
    repo, live, reg = f"{d}/app", f"{d}/live", f"{d}/registry"
    patched = generate(repo, files, commits, seed=2026)
    os.makedirs(live)
    run(f"git -C {repo} archive base:src/app | tar -x -C {live}")
    with open(f"{live}/REVISION", "w") as f:
        f.write(run(["git", "-C", repo, "rev-parse", "base"]).stdout.decode())
    flags = ["--root", live, "--repo", repo, "--subdir", "src/app", "--registry", reg]
    run([pk, "init"] + flags)
    for i, p in enumerate(patched, 1):
        rel = p[len("src/app/"):]
        os.makedirs(os.path.dirname(f"{live}/{rel}"), exist_ok=True)
        lines = open(f"{live}/{rel}").readlines()
        lines[5] = f"  setting_patched_{i} = true\n"
        open(f"{live}/{rel}", "w").writelines(lines)
        run([pk, "record", rel, "--title", f"Hot patch {i}", "--reason", "bench"] + flags)
    return repo, reg, flags, patched


CPU = {}


def timed(cmd, before=None, row=None):
    """Wall time of the whole command (and its CPU time, user+system of all its processes, kept
    per row: on a loaded machine the CPU time is the steadier figure)."""
    if before:
        before()
    u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, shell=isinstance(cmd, str))
    wall = time.perf_counter() - t
    u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if row:
        CPU.setdefault(row, []).append(u1.ru_utime - u0.ru_utime + u1.ru_stime - u0.ru_stime)
    return wall, r


def rounds(full, limited, gate, cache, runs, baseline=None):
    """Times git's full and path-limited patch-id passes and gate cold (patch-id cache removed)
    and warm, alternating, `runs` rounds; with `baseline`, a second binary in the same rounds.
    Prints medians, min, max and ratios to git's full pass (wall and CPU)."""
    rows = {"git-full": [], "git-paths": [], "gate-cold": [], "gate-warm": []}
    base_gate = None
    if baseline:
        base_gate = [os.path.abspath(baseline)] + gate[1:]
        rows.update({"base-cold": [], "base-warm": []})
    drop = lambda: os.path.exists(cache) and os.remove(cache)
    for _ in range(runs):
        rows["git-full"].append(timed(full, row="git-full")[0])
        rows["git-paths"].append(timed(limited, row="git-paths")[0])
        rows["gate-cold"].append(timed(gate, before=drop, row="gate-cold")[0])
        rows["gate-warm"].append(timed(gate, row="gate-warm")[0])
        if base_gate:
            rows["base-cold"].append(timed(base_gate, before=drop, row="base-cold")[0])
            rows["base-warm"].append(timed(base_gate, row="base-warm")[0])
    ref = statistics.median(rows["git-full"])
    print(f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}")
    cref = statistics.median(CPU["git-full"])
    print(f"{'command':<10} {'median s':>9} {'min s':>8} {'max s':>8} {'÷ git-full':>10} {'CPU s':>8} {'CPU ÷ git':>9}")
    for k, v in rows.items():
        m, c = statistics.median(v), statistics.median(CPU[k])
        print(f"{k:<10} {m:9.3f} {min(v):8.3f} {max(v):8.3f} {m / ref:10.3f} {c:8.3f} {c / cref:9.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patchkeeper", required=True)
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir")
    ap.add_argument("--baseline", help="a second patchkeeper binary, timed in the same rounds")
    ap.add_argument("--quick", action="store_true", help="1 run each, no ratios claimed (CI smoke run)")
    a = ap.parse_args()
    runs = 1 if a.quick else a.runs
    d = a.dir or tempfile.mkdtemp(prefix="patchkeeper-history.")
    if os.path.exists(f"{d}/app"):
        shutil.rmtree(d)
        os.makedirs(d)
    pk = os.path.abspath(a.patchkeeper)
    t0 = time.perf_counter()
    repo, reg, flags, patched = setup(d, pk, a.files, a.commits)
    # The tree as production has it before a deploy: settled since the last write, and scanned
    # since (the hourly timer). A file changed within two seconds of the stat cache's write is
    # racy and hashed again by every scan until a later scan rewrites the cache.
    time.sleep(2.1)
    run([pk, "scan"] + flags, check=False)
    count = run(["git", "-C", repo, "rev-list", "--count", "base..target"]).stdout.decode().strip()
    print(f"history: {count} commits in base..target, {a.files} files, 3 patches (setup {time.perf_counter() - t0:.1f} s)")

    gate = [pk, "gate", "--target", "target", "--format", "json"] + flags
    _, r = timed(gate)
    verdicts = r.stdout.decode()
    for want in ['"verdict" : "reapplies"', '"verdict" : "upstreamed"', '"rule" : "patch-id"']:
        if want not in verdicts:
            sys.exit(f"history.py: gate did not say {want}:\n{verdicts}\n{r.stderr.decode()}")
    cache = f"{reg}/.patchkeeper/patchids"
    full = f"git -C {repo} log -p --no-merges base..target | git patch-id --stable"
    limited = f"git -C {repo} log -p --no-merges base..target -- {' '.join(patched)} | git patch-id --stable"
    rounds(full, limited, gate, cache, runs, a.baseline)
    if a.quick:
        print("(quick run: one run each, no timing claims)")
    if not a.dir:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
