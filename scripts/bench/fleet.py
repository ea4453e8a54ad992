#!/usr/bin/env python3
"""patchkeeper fleet over a simulated fleet, against a naive git loop.

Generates an app repository (a base revision and a target that changes some patched lines) and a
bare fleet remote holding --hosts hosts x --per-host patches drawn from --distinct distinct
patches, in the layout `patchkeeper` publishes (docs/FLEET.md): per host, a registry chain (one
commit per recorded patch, patch files as `record` writes them, ids and dates differing per host),
an images commit and a summary commit. The refs are written with `git fast-import` in one stream
(no patchkeeper run per host). Some hosts have a stale scan, some patches are expired, some
overwritten. Then times, each --runs times (median):
  cold     patchkeeper fleet, empty cache (first fetch from the local bare remote + report)
  warm     patchkeeper fleet, nothing changed (must transfer 0 objects)
  gate     patchkeeper fleet gate --target v2 --no-fetch
  naive    per host: git fetch of its refs + git ls-tree/cat-file of every patch file and the
           summary (what a shell loop over the hosts would do), cold and warm
and checks the answers (distinct patches, hosts, gate verdicts mapped to hosts).
Usage: python3 scripts/bench/fleet.py --patchkeeper .build/release/patchkeeper
           [--hosts 1000] [--per-host 10] [--distinct 40] [--runs 3] [--dir DIR] [--quick]
"""
import argparse
import json
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
           GIT_AUTHOR_EMAIL="bench@example.org", GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.org",
           GIT_AUTHOR_DATE="2026-11-01T00:00:00Z", GIT_COMMITTER_DATE="2026-11-01T00:00:00Z")
ENV.pop("PATCHKEEPER_CONFIG", None)

NOW = int(time.time())


def run(cmd, cwd=None, input=None, ok=(0,)):
    r = subprocess.run(cmd, cwd=cwd, env=ENV, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       shell=isinstance(cmd, str))
    if r.returncode not in ok:
        sys.exit(f"fleet.py: {cmd if isinstance(cmd, str) else ' '.join(cmd)} failed ({r.returncode}): "
                 f"{r.stderr.decode(errors='replace')[:2000]}")
    return r


def git(args, cwd, input=None):
    return run(["git"] + args, cwd=cwd, input=input).stdout.decode().strip()


def file_text(i, variant=0):
    lines = [f"# file {i}", "module App", f"  class Thing{i}"]
    for k in range(20):
        lines.append(f"    def m{k}; {k * i + variant}; end")
    lines += ["  end", "end"]
    return "\n".join(lines) + "\n"


def make_app(d, distinct):
    """The app repo: base (tag) and v2 (tag). Patch k edits line 6 of src/f{k}.rb; v2 edits the same
    line of every 4th patched file (a conflict there) and a far line of every 4th+1 (reapplies)."""
    app = f"{d}/app"
    os.makedirs(f"{app}/src")
    for i in range(distinct + 10):
        with open(f"{app}/src/f{i}.rb", "w") as f:
            f.write(file_text(i))
    git(["init", "-q", app], d)
    git(["add", "-A"], app)
    git(["commit", "-qm", "base"], app)
    git(["tag", "base"], app)
    base = git(["rev-parse", "HEAD"], app)
    diffs = []
    for k in range(distinct):
        path = f"src/f{k}.rb"
        lines = file_text(k).split("\n")
        lines[5] = lines[5].replace("end", "end  # hot fix %d" % k)
        with open(f"{app}/{path}", "w") as f:
            f.write("\n".join(lines))
        post = git(["hash-object", "-w", path], app)
        pre = git(["rev-parse", f"base:{path}"], app)
        diff = git(["diff", "--full-index", "--", path], app) + "\n"
        git(["checkout", "-q", "--", path], app)
        diffs.append((path, pre, post, diff))
    for k in range(distinct):
        path = f"{app}/src/f{k}.rb"
        lines = file_text(k).split("\n")
        if k % 4 == 0:
            lines[5] = lines[5].replace("end", "end  # upstream change")
        elif k % 4 == 1:
            lines[18] = lines[18].replace("end", "end  # upstream, far away")
        with open(path, "w") as f:
            f.write("\n".join(lines))
    git(["commit", "-qam", "v2"], app)
    git(["tag", "v2"], app)
    return app, base, diffs


def patch_text(base, pid, title, date, diff, expires=None):
    trailers = [f"Patch-Id: {pid}", f"Base: {base}"]
    if expires:
        trailers.append(f"Expires: {expires}")
    trailers.append("Status: active")
    path = diff.split("\n", 1)[0].split(" b/", 1)[1]
    return (f"From {base} Mon Sep 17 00:00:00 2001\nFrom: Admin <admin@example.org>\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(date))}\n"
            f"Subject: [PATCH] {title}\n\nA hot fix.\n\n" + "\n".join(trailers) + "\n---\n"
            f" {path} | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\n" + diff)


def data(b):
    return b"data %d\n" % len(b) + b + b"\n"


def make_remote(d, hosts, per_host, distinct, base, diffs, app):
    """One git fast-import stream: every host's registry chain, images and summary."""
    remote = f"{d}/remote.git"
    git(["init", "-q", "--bare", remote], d)
    # The images' blobs come from the app repo's objects (post-images were written there).
    blobs = {}
    for (_, pre, post, _) in diffs:
        for oid in (pre, post):
            blobs[oid] = run(["git", "cat-file", "blob", oid], cwd=app).stdout
    rnd = random.Random(16)
    out = []
    mark = 1
    blob_marks = {}
    for oid, content in blobs.items():
        out.append(b"blob\nmark :%d\n" % mark + data(content))
        blob_marks[oid] = mark
        mark += 1
    expected = {"stale": 0, "expired_hosts": 0}
    for h in range(hosts):
        host = f"web{h:04d}"
        ref = f"refs/patchkeeper/{host}/shop/registry"
        chosen = sorted(rnd.sample(range(distinct), per_host))
        t = NOW - 86400 * 30 + h
        out.append(f"commit {ref}\ncommitter Admin <admin@example.org> {t} +0000\n".encode()
                   + data(b"Create patch registry for shop\n\nAction: init\n")
                   + b"M 100644 inline .gitignore\n" + data(b"/.patchkeeper/\n")
                   + b"M 100644 inline .patchkeeper-app\n" + data(b"shop\n"))
        states = {}
        expired = False
        for n, k in enumerate(chosen, 1):
            pid = "%04d" % n
            title = f"Hot fix {k}"
            exp = "2026-01-31" if (k == 7 and h % 10 == 0) else None
            expired = expired or bool(exp)
            text = patch_text(base, pid, title, t + n * 60, diffs[k][3], exp)
            name = f"{pid}-hot-fix-{k}.patch"
            out.append(f"commit {ref}\ncommitter Admin <admin@example.org> {t + n * 60} +0000\n".encode()
                       + data(f"record {pid}: {title}\n\nPatch-Id: {pid}\nAction: record\n".encode())
                       + f"M 100644 inline {name}\n".encode() + data(text.encode()))
            states[pid] = "overwritten" if (h % 50 == 0 and n == 1) else "applied"
        expected["expired_hosts"] += expired
        tree = b"".join(b"M 100644 :%d %s\n" % (blob_marks[oid], oid.encode())
                        for k in chosen for oid in (diffs[k][1], diffs[k][2]))
        out.append(f"commit refs/patchkeeper/{host}/shop/images\ncommitter p <p@x> {t} +0000\n".encode()
                   + data(b"Patch images\n") + tree)
        stale = h % 100 == 0
        expected["stale"] += stale
        checked = NOW - (5 * 3600 if stale else 600)
        summary = {"schema_version": 1, "host": host, "app": "shop", "published_at": "2026-12-01T00:00:00Z",
                   "scan": {"checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(checked)), "deployed_revision": base,
                            "states": states, "expired": [], "unregistered": 1 if h % 200 == 0 else 0,
                            "unregistered_paths": [], "problems": 0}}
        out.append(f"commit refs/patchkeeper/{host}/shop/summary\ncommitter p <p@x> {t} +0000\n".encode()
                   + data(b"Summary\n") + b"M 100644 inline summary.json\n" + data(json.dumps(summary).encode()))
    run(["git", "fast-import", "--quiet"], cwd=remote, input=b"".join(out))
    run(["git", "gc", "-q"], cwd=remote)
    return remote, expected


CPU = {}


def timed(cmd, ok=(0, 1), label=None):
    """Wall seconds; with a label, the child's user + system CPU seconds go to CPU[label] (the
    steadier figure on a shared machine, where wall time is mostly waiting for a core)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = run(cmd, ok=ok)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if label:
        CPU.setdefault(label, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, r


def peak_rss(cmd):
    if not os.path.exists("/usr/bin/time"):
        return None
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for line in r.stderr.decode(errors="replace").splitlines():
        if "Maximum resident set size" in line:
            return int(line.split()[-1]) // 1024
    return None


def naive(remote, work, hosts):
    """One git fetch per host into one repo, then ls-tree and cat-file of every file of its refs."""
    for h in range(hosts):
        host = f"web{h:04d}"
        run(["git", "fetch", "-q", remote, f"+refs/patchkeeper/{host}/*:refs/patchkeeper/{host}/*"], cwd=work)
        for kind in ("registry", "summary"):
            names = run(["git", "ls-tree", "--name-only", f"refs/patchkeeper/{host}/shop/{kind}"], cwd=work).stdout.decode().split()
            for n in names:
                if n.endswith(".patch") or n == "summary.json":
                    run(["git", "cat-file", "blob", f"refs/patchkeeper/{host}/shop/{kind}:{n}"], cwd=work)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patchkeeper", required=True)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--per-host", type=int, default=10)
    ap.add_argument("--distinct", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--naive-hosts", type=int, help="run the naive loop over this many hosts and scale (default: all)")
    ap.add_argument("--dir")
    ap.add_argument("--quick", action="store_true", help="50 hosts, 1 run each, naive loop over 10 hosts: a smoke run, no claims")
    a = ap.parse_args()
    hosts, runs = (50, 1) if a.quick else (a.hosts, a.runs)
    d = a.dir or tempfile.mkdtemp(prefix="patchkeeper-fleet.")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    pk = os.path.abspath(a.patchkeeper)
    t0 = time.perf_counter()
    app, base, diffs = make_app(d, a.distinct)
    remote, expected = make_remote(d, hosts, a.per_host, a.distinct, base, diffs, app)
    print(f"fleet.py: generated {hosts} hosts x {a.per_host} patches ({a.distinct} distinct) in {time.perf_counter() - t0:.1f} s: {remote}",
          file=sys.stderr)
    cache = f"{d}/cache"
    fleet = [pk, "fleet", "--remote", remote, "--cache", cache, "--format", "json"]

    cold, warm, gate = [], [], []
    for _ in range(runs):
        shutil.rmtree(cache, ignore_errors=True)
        s, r = timed(fleet, label="cold")
        cold.append(s)
        j = json.loads(r.stdout)
        s, r = timed(fleet, label="warm")
        warm.append(s)
        jw = json.loads(r.stdout)
        assert jw["fetch"]["received_objects"] == 0, jw["fetch"]
        s, r = timed([pk, "fleet", "gate", "--remote", remote, "--cache", cache, "--no-fetch", "--target", "v2",
                      "--repo", app, "--format", "json"], label="gate")
        gate.append(s)
        g = json.loads(r.stdout)
    # The answers.
    assert len(j["hosts"]) == hosts, len(j["hosts"])
    used = {k for p in j["patches"] for k in p["titles"]}
    assert len(j["patches"]) == len(used) <= a.distinct, (len(j["patches"]), len(used))
    assert sum(p["host_count"] for p in j["patches"]) == hosts * a.per_host
    assert sum(h["stale"] for h in j["hosts"]) == expected["stale"], sum(h["stale"] for h in j["hosts"])
    assert sum(1 for h in j["hosts"] if h["expired"]) == expected["expired_hosts"]  # expired: the ids
    for p in g["patches"]:
        k = int(p["titles"][0].split()[-1])
        want = {0: "conflicts", 1: "reapplies", 2: "reapplies", 3: "reapplies"}[k % 4]
        assert list(p["verdicts"]) == [want], (k, p["verdicts"])
    assert g["decisions"] == len(g["patches"]), (g["decisions"], len(g["patches"]))

    rss_cold = rss_warm = rss_gate = None
    shutil.rmtree(cache, ignore_errors=True)
    rss_cold = peak_rss(fleet)
    rss_warm = peak_rss(fleet)
    rss_gate = peak_rss([pk, "fleet", "gate", "--remote", remote, "--cache", cache, "--no-fetch", "--target", "v2", "--repo", app])

    nh = min(a.naive_hosts or (10 if a.quick else hosts), hosts)
    work = f"{d}/naive"
    shutil.rmtree(work, ignore_errors=True)
    git(["init", "-q", "--bare", work], d)
    t = time.perf_counter()
    naive(remote, work, nh)
    naive_cold = (time.perf_counter() - t) * hosts / nh
    t = time.perf_counter()
    naive(remote, work, nh)
    naive_warm = (time.perf_counter() - t) * hosts / nh

    med = statistics.median
    print(f"\nfleet: {hosts} hosts x {a.per_host} patches, {len(j['patches'])} distinct, runs={runs} (median)")
    print(f"| measurement | patchkeeper | naive git loop{'' if nh == hosts else f' ({nh} hosts, scaled)'} | ratio | peak RSS |")
    print("|---|---|---|---|---|")
    print(f"| `fleet`, first fetch (cold cache) | {med(cold):.2f} s | {naive_cold:.2f} s | {naive_cold / med(cold):.0f}x | {rss_cold} MB |")
    print(f"| `fleet`, nothing changed (warm) | {med(warm):.2f} s | {naive_warm:.2f} s | {naive_warm / med(warm):.0f}x | {rss_warm} MB |")
    print(f"| `fleet gate --target v2` ({g['decisions']} decisions for {hosts * a.per_host} host patches) | {med(gate):.2f} s | - | - | {rss_gate} MB |")
    print(f"\nCPU (user + sys, median): cold {med(CPU['cold']):.2f} s, warm {med(CPU['warm']):.2f} s, gate {med(CPU['gate']):.2f} s; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"all runs: cold {', '.join(f'{x:.2f}' for x in cold)}; warm {', '.join(f'{x:.2f}' for x in warm)}; "
          f"gate {', '.join(f'{x:.2f}' for x in gate)}")
    if not a.dir:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
