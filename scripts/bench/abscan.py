#!/usr/bin/env python3
"""Cold scan (`scan --no-cache`) of two patchkeeper binaries and git's temp-index refresh, in
rounds A B G A B G ... on a tree bench.py made, page cache warm: before/after side by side with
git in the same run. Prints medians of wall, CPU (user+sys) and peak RSS, and the median of the
per-round wall ratios A/G and B/G (so a drift in the machine's speed hits every side of a round).

  python3 scripts/bench/abscan.py --before OLD_BIN --after NEW_BIN --tree $DIR/t100000 --runs 5
"""
import argparse, os, statistics, subprocess, time

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}


def run(argv, prep=None):
    if prep:
        prep()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=dict(os.environ, **GIT_ENV), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{argv[0]} exited {code}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--tree", required=True, help="a tree directory of bench.py (tNNNNN)")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    t = os.path.abspath(a.tree)
    live, gitdir, registry, index = f"{t}/live", f"{t}/app/.git", f"{t}/registry", f"{t}/tmp-index-abscan"

    def scan(binary):
        return [binary, "scan", "--root", live, "--repo", f"{t}/app", "--subdir", "src/api",
                "--registry", registry, "--no-cache"]

    git = ["sh", "-c", 'export GIT_INDEX_FILE="$1"; git --git-dir="$2" --work-tree="$3" read-tree v1:src/api && '
           'git --git-dir="$2" --work-tree="$3" update-index -q --refresh && git --git-dir="$2" --work-tree="$3" diff-files',
           "sh", index, gitdir, live]

    def fresh_index():
        if os.path.exists(index):
            os.remove(index)

    sides = {"before": scan(os.path.abspath(a.before)), "after": scan(os.path.abspath(a.after)), "git": git}
    res = {k: [] for k in sides}
    load0 = os.getloadavg()[0]
    for i in range(a.runs + 1):  # the first round warms the page cache, uncounted
        round_ = {k: run(argv, fresh_index if k == "git" else None) for k, argv in sides.items()}
        if i > 0:
            for k, v in round_.items():
                res[k].append(v)
    load1 = os.getloadavg()[0]
    med = lambda xs: statistics.median(xs)
    print(f"tree {t}, {a.runs} rounds, load {load0:.1f} -> {load1:.1f}")
    print("| side | wall (median) | CPU s user+sys | peak RSS | wall ÷ git's, per round (median, min–max) |")
    print("|---|---|---|---|---|")
    for k, v in res.items():
        ratios = [v[j][0] / res["git"][j][0] for j in range(len(v))]
        print(f"| {k} | {med([x[0] for x in v]):.3f} s | {med([x[1] for x in v]):.2f} | "
              f"{med([x[2] for x in v]) / 1024:.0f} MB | {med(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
