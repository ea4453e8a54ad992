#!/usr/bin/env python3
"""Gate over a real history: the issue's own case, a large public Ruby monorepo.

rails/rails, deployed at v8.0.0 (4,749 files), gate --target v8.1.0 (1,719 non-merge commits in
between, 2,870 in all). Three hot patches of the kinds an admin makes, recorded with the real
binary on the live tree of v8.0.0:
  0001  a one-line change in activerecord/lib/active_record/base.rb        -> reapplies
  0002  the cache pool raised in activesupport/lib/active_support/cache.rb -> conflicts
        (upstream rewrote those lines; gate must name the commits that did)
  0003  upstream commit e9fa6fa backported by hand                         -> upstreamed
        (patch-id matches e9fa6fa; upstream changed a neighbouring line later)
The verdicts are checked against the git CLI in a throw-away clone (`git apply --3way --check`
on the target, and `git cherry`), then timed, alternating, medians quoted:
  git-full    git log -p --no-merges v8.0.0..v8.1.0 | git patch-id --stable   (the reference)
  git-paths   the same pass limited to the patches' paths
  gate-cold   patchkeeper gate --target v8.1.0, patch-id cache removed before each run
  gate-warm   the same, cache from the previous run
Usage (REPO is any clone of https://github.com/rails/rails with its tags, bare or not):
  python3 scripts/bench/realgate.py --patchkeeper .build/release/patchkeeper --repo REPO [--runs 7]
      [--baseline OTHER-BINARY]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from history import rounds, run, timed  # noqa: E402

BASE, TARGET, BACKPORT = "v8.0.0", "v8.1.0", "e9fa6faae66781b71a9fade02234927d3b8e4b94"
P1 = "activerecord/lib/active_record/base.rb"
P2 = "activesupport/lib/active_support/cache.rb"
P3 = "activerecord/lib/active_record/connection_adapters/abstract/quoting.rb"


def setup(d, pk, source):
    repo, live, reg = f"{d}/app", f"{d}/live", f"{d}/registry"
    run(["git", "clone", "-q", "--shared", "--no-checkout", source, repo])
    os.makedirs(live)
    run(f"git -C {repo} archive {BASE} | tar -x -C {live}")
    with open(f"{live}/REVISION", "w") as f:
        f.write(run(["git", "-C", repo, "rev-parse", f"{BASE}^{{commit}}"]).stdout.decode())
    flags = ["--root", live, "--repo", repo, "--registry", reg]
    run([pk, "init"] + flags)
    # 0001: the third "def " line of base.rb gets a trailing comment.
    lines = open(f"{live}/{P1}").readlines()
    n = [i for i, l in enumerate(lines) if "def " in l][2]
    lines[n] = lines[n].rstrip("\n") + " # hot patch 1\n"
    open(f"{live}/{P1}", "w").writelines(lines)
    run([pk, "record", P1, "--title", "Hot patch 1", "--reason", "bench"] + flags)
    # 0002: a bigger connection pool for the cache store.
    text = open(f"{live}/{P2}").read()
    old = "DEFAULT_POOL_OPTIONS = { size: 5, timeout: 5 }"
    if old not in text:
        sys.exit(f"realgate.py: {P2} at {BASE} has no '{old}': not rails {BASE}?")
    open(f"{live}/{P2}", "w").write(text.replace(old, "DEFAULT_POOL_OPTIONS = { size: 10, timeout: 5 }"))
    run([pk, "record", P2, "--title", "Bigger cache pool", "--reason", "bench"] + flags)
    # 0003: upstream's e9fa6fa, applied by hand.
    diff = run(["git", "-C", repo, "diff-tree", "-p", BACKPORT]).stdout
    run(["patch", "-s", "-p1", "-d", live], input=diff)
    run([pk, "record", P3, "--title", "Backport e9fa6fa", "--reason", "bench"] + flags)
    return repo, reg, flags


def cross_check(d, repo, reg):
    """git's own answers, in a throw-away clone (git apply --3way writes objects)."""
    x = f"{d}/xcheck"
    run(["git", "clone", "-q", "--shared", "--no-checkout", repo, x])
    run(["git", "-C", x, "checkout", "-q", TARGET])
    patches = sorted(p for p in os.listdir(reg) if p.endswith(".patch"))
    out = {}
    for p in patches:
        r = run(["git", "-C", x, "apply", "--3way", "--check", f"{reg}/{p}"], check=False)
        out[p[:4]] = "conflicts" if "with conflicts" in r.stderr.decode() or r.returncode != 0 else "clean"
    run(["git", "-C", x, "checkout", "-q", "-b", "hp", BASE])
    run(["git", "-C", x, "-c", "user.name=B", "-c", "user.email=b@example.org", "am", "-q", f"{reg}/{patches[2]}"])
    cherry = run(["git", "-C", x, "cherry", TARGET, "hp", BASE]).stdout.decode().split()
    shutil.rmtree(x)
    return out, cherry


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patchkeeper", required=True)
    ap.add_argument("--repo", required=True, help="a clone of rails/rails with its tags")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dir")
    ap.add_argument("--baseline", help="a second patchkeeper binary, timed in the same rounds")
    a = ap.parse_args()
    d = a.dir or tempfile.mkdtemp(prefix="patchkeeper-realgate.")
    if os.path.exists(f"{d}/app"):
        shutil.rmtree(d)
        os.makedirs(d)
    pk = os.path.abspath(a.patchkeeper)
    repo, reg, flags = setup(d, pk, os.path.abspath(a.repo))
    time.sleep(2.1)  # settled, then scanned: as the hourly timer leaves it (see history.py)
    run([pk, "scan"] + flags, check=False)
    n = run(["git", "-C", repo, "rev-list", "--count", "--no-merges", f"{BASE}..{TARGET}"]).stdout.decode().strip()
    files = run(f"git -C {repo} ls-tree -r {BASE} | wc -l").stdout.decode().strip()
    print(f"realgate: rails {BASE}..{TARGET}: {n} non-merge commits, {files} files, 3 patches")

    gate = [pk, "gate", "--target", TARGET, "--format", "json"] + flags
    _, r = timed(gate)
    verdicts = {p["id"]: p["verdict"] for p in __import__("json").loads(r.stdout)["patches"]}
    want = {"0001": "reapplies", "0002": "conflicts", "0003": "upstreamed"}
    if verdicts != want:
        sys.exit(f"realgate.py: gate said {verdicts}, expected {want}:\n{r.stdout.decode()}")
    if not re.search(r"changed there by|ffa9f3b", r.stdout.decode()):
        sys.exit("realgate.py: the conflict does not name the upstream commits that changed the lines")
    applied, cherry = cross_check(d, repo, reg)
    if applied != {"0001": "clean", "0002": "conflicts", "0003": "clean"} or cherry[:1] != ["-"]:
        sys.exit(f"realgate.py: git disagrees: apply --3way {applied}, cherry {cherry}")
    print("verdicts: 0001 reapplies, 0002 conflicts, 0003 upstreamed; git agrees "
          "(apply --3way: clean, conflicts, clean = already there; cherry: '-' for 0003)")

    cache = f"{reg}/.patchkeeper/patchids"
    full = f"git -C {repo} log -p --no-merges {BASE}..{TARGET} | git patch-id --stable"
    limited = f"git -C {repo} log -p --no-merges {BASE}..{TARGET} -- {P1} {P2} {P3} | git patch-id --stable"
    rounds(full, limited, gate, cache, a.runs, a.baseline)
    if not a.dir:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
