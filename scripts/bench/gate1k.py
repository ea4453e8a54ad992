#!/usr/bin/env python3
"""gate over a big registry on a big tree: 1,000 patches, 100k files, against a git apply loop.

    python3 scripts/bench/gate1k.py --patchkeeper .build/release/patchkeeper [--files 100000]
        [--patches 1000] [--runs 5] [--dir DIR] [--baseline OTHER-BINARY]... [--quick]

Recording 1,000 patches one by one with `record` on a 100k-file tree does not fit a session
(each `record` re-reads the registry). So the registry is made like this, and checked:
 1. Tree: gen_tree.generate (the tree bench.py uses: v1 deployed, v2 changes 1% of the .rb files,
    renames 0.2%, deletes 0.2%), cached in DIR/t<files> (DIR: --dir, default
    $PATCHKEEPER_BENCH_DIR/gate1k; not bench.py's own trees, which stage other patches). The patch plan is gen_tree.patch_plan
    (per 100: 1 on a file v2 deletes, 1 conflicting, 5 on renamed files, 10 on files v2 changes
    elsewhere, the rest on untouched files). Two patches in 100 (i % 50 == 25, untouched files)
    are taken upstream: the target, tag `gate1k-target`, is v2 plus one commit per such patch
    that makes exactly the patch's change (gate must say `upstreamed`, rule patch-id, that commit).
 2. Format: two patches (one line inserted after the first, one appended where v2 appends) are
    recorded with the real `patchkeeper record` into a scratch registry, and the generator below
    must reproduce both files byte for byte (the Date line aside); otherwise the script stops.
 3. Registry: `patchkeeper init`, patches 1..N-1 written by the generator and committed with
    the git CLI, the `images-complete` marker removed, the live tree made to carry all N edits,
    and patch N recorded with the real `record` — which upgrades the registry as patchkeeper does
    for any registry without images: it stores every patch's pre- and postimage in its own
    object database (branch patchkeeper-images). Patch N must equal the generator's text too.
 4. Checks: `scan --format json` says all N patches `applied`, nothing unregistered, no problems;
    the images branch holds every image; `gate --format json` gives each patch the verdict its
    kind predicts (removed, conflicts, reapplies-renamed, reapplies, upstreamed by patch-id).
Then it times, alternating in every round (median of --runs; wall and CPU = user+sys of the
process tree, from wait4):
  gate warm         `gate --target gate1k-target --policy reapply` with every cache as the previous
                    gate left it (the state a deploy hook meets after the periodic scan)
  gate cold         the same with gate's own caches removed first (.patchkeeper/validated, the
                    patch-id cache): the registry parsed and history walked from scratch; the
                    scan's stat cache and deployed listing kept
  gate no caches    every cache removed (also the stat cache: the scan hashes all files)
  scan warm         `scan` alone with its caches warm: the part of every gate that walks the tree
  git apply loop    in a checkout of the target (git worktree), per registry patch P:
                    `git apply --check P; git apply -R --check P` (BENCHMARKS.md's reference)
Each --baseline binary runs the same commands in the same rounds on its own copy of the registry.
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the work tree
import gen_tree  # noqa: E402

TREE_FORMAT = 1       # gen_tree.generate's output (bench.py's TREE_FORMAT)
SETUP_FORMAT = 1      # bump when the registry built here changes
PREFIX = gen_tree.PREFIX
AUTHOR = gen_tree.AUTHOR
TARGET = "gate1k-target"
GIT_ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
               GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.org",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.org",
               GIT_AUTHOR_DATE="2026-01-02T00:00:00Z", GIT_COMMITTER_DATE="2026-01-02T00:00:00Z")


TEMP_DIRS = []  # removed on exit, also after a failed check


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def git(args, cwd=None, input=None, env=None):
    r = subprocess.run(["git"] + args, cwd=cwd, env=env or GIT_ENV, input=input, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"gate1k: git {' '.join(args[:4])} failed: {r.stderr.decode(errors='replace')}")
    return r.stdout


def run(cmd, ok=(0,)):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in ok:
        sys.exit(f"gate1k: {' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---- the plan ---------------------------------------------------------------------------------

def plan(app, n):
    """[(index, path, how, kind)]: gen_tree's plan, with 2 in 100 marked 'upstream'."""
    out = []
    for i, (path, how, kind) in enumerate(gen_tree.patch_plan(app, n)):
        if i % 50 == 25 and kind == "untouched":
            kind = "upstream"
        out.append((i, path, how, kind))
    return out


EXPECTED = {"deleted": "removed", "conflict": "conflicts", "renamed": "reapplies-renamed",
            "changed": "reapplies", "untouched": "reapplies", "upstream": "upstreamed"}


def blobs(app, specs):
    """Contents of `rev:path` specs through one git cat-file --batch."""
    out = git(["cat-file", "--batch"], cwd=app, input="".join(s + "\n" for s in specs).encode())
    res, pos = [], 0
    for _ in specs:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split()
        size = int(header[2])
        res.append(out[nl + 1:nl + 1 + size])
        pos = nl + 1 + size + 1
    return res


# ---- the patch file generator -----------------------------------------------------------------

def slug(title):
    """Text.slug: lower-case letters and digits, other runs as one dash, at most 48 characters."""
    out, dash = "", False
    for c in title.lower():
        if "a" <= c <= "z" or "0" <= c <= "9":
            out += c
            dash = False
        elif not dash and out:
            out += "-"
            dash = True
        if len(out) >= 48:
            break
    return out.rstrip("-") or "patch"


def title_of(i, kind):
    return "Bench hot patch %04d (%s)" % (i + 1, kind)


def reason_of(kind):
    return "Benchmark patch: %s." % {"upstream": "upstream takes this fix"}.get(kind, "v2 %s this file" % kind)


def diffs(app, base, edits):
    """{repo path: `diff --git` section} for files edited as `edits` {repo path: new bytes}: one
    tree with every edit, one `git diff-tree -p --full-index` against base, split per file."""
    env = dict(GIT_ENV, GIT_INDEX_FILE=os.path.join(app, ".git", "gate1k-index"))
    git(["read-tree", base], cwd=app, env=env)
    paths = sorted(edits)
    tmp = os.path.join(app, ".git", "gate1k-tmp")
    os.makedirs(tmp, exist_ok=True)
    for k, p in enumerate(paths):
        with open(os.path.join(tmp, str(k)), "wb") as f:
            f.write(edits[p])
    ids = git(["hash-object", "-w", "--stdin-paths", "--no-filters"], cwd=app, env=env,
              input="".join(os.path.join(tmp, str(k)) + "\n" for k in range(len(paths))).encode()).decode().split()
    info = "".join(f"100644 {i}\t{p}\n" for p, i in zip(paths, ids))
    # Keep each file's mode (plan files are .rb: 100644, checked below).
    git(["update-index", "--index-info"], cwd=app, env=env, input=info.encode())
    tree = git(["write-tree"], cwd=app, env=env).decode().strip()
    shutil.rmtree(tmp)
    os.remove(env["GIT_INDEX_FILE"])
    text = git(["diff-tree", "-p", "--full-index", "--no-renames", "--no-color", "--no-ext-diff", "--no-textconv",
                base, tree], cwd=app).decode()
    out = {}
    for section in re.split(r"(?m)^(?=diff --git )", text):
        if section.startswith("diff --git "):
            m = re.match(r"diff --git a/(\S+) b/", section)
            out[m.group(1)] = section
    if set(out) != set(paths):
        sys.exit("gate1k: git diff-tree did not give one section per edited file")
    return out


def patch_text(i, path, kind, base, date, diff):
    """The registry file `record` writes for a one-line insertion (checked against real records)."""
    pid = "%04d" % (i + 1)
    repo_path = PREFIX + path
    head = (f"From {base} Mon Sep 17 00:00:00 2001\nFrom: {AUTHOR}\nDate: {date}\n"
            f"Subject: [PATCH] {title_of(i, kind)}\n\n{reason_of(kind)}\n\n"
            f"Patch-Id: {pid}\nBase: {base}\nStatus: active\n---\n")
    stat = f" {repo_path} | 1 +\n 1 file changed, 1 insertion(+)\n\n"
    return pid + "-" + slug(title_of(i, kind)) + ".patch", head + stat + diff


# ---- setup ------------------------------------------------------------------------------------

class Setup:
    def __init__(self, d, files, n, pk):
        self.d, self.files, self.n, self.pk = d, files, n, pk
        self.tree = os.path.join(d, f"t{files}")
        self.app, self.live = os.path.join(self.tree, "app"), os.path.join(self.tree, "live")
        self.registry = os.path.join(self.tree, f"registry-{n}")
        self.checkout = os.path.join(self.tree, "target")
        self.state = os.path.join(self.tree, f"gate1k-{n}.json")

    def flags(self, registry=None):
        return ["--root", self.live, "--repo", self.app, "--subdir", PREFIX.rstrip("/"), "--registry", registry or self.registry]

    def ensure(self):
        want_tree = {"format": TREE_FORMAT, "files": self.files, "seed": 42}
        stamp = os.path.join(self.tree, "stamp.json")
        try:
            have = json.load(open(stamp))
        except (OSError, ValueError):
            have = None
        if have != want_tree:
            shutil.rmtree(self.tree, ignore_errors=True)
            os.makedirs(self.tree)
            t0 = time.time()
            log(f"generating {self.files} files in {self.tree}")
            old = sys.stdout
            sys.stdout = open(os.devnull, "w")
            try:
                gen_tree.generate(self.tree, self.files)
            finally:
                sys.stdout = old
            json.dump(want_tree, open(stamp, "w"))
            log(f"  generated in {time.time() - t0:.0f} s")
        want = {"format": SETUP_FORMAT, "patches": self.n}
        try:
            if json.load(open(self.state)) == want and os.path.isdir(self.registry):
                return False
        except (OSError, ValueError):
            pass
        t0 = time.time()
        self.build()
        json.dump(want, open(self.state, "w"))
        log(f"  registry of {self.n} patches built and checked in {time.time() - t0:.0f} s")
        return True

    def build(self):
        p = plan(self.app, self.n)
        base = git(["rev-parse", "v1"], cwd=self.app).decode().strip()
        # Other setups' edits out of the live tree: every .rb file the largest plan may touch back at v1.
        for name in os.listdir(self.tree):
            m = re.fullmatch(r"gate1k-(\d+)\.json", name)
            if m and int(m.group(1)) != self.n:
                self.reset_live(plan(self.app, int(m.group(1))))
                os.remove(os.path.join(self.tree, name))
                shutil.rmtree(os.path.join(self.tree, f"registry-{m.group(1)}"), ignore_errors=True)
        origs = blobs(self.app, [f"v1:{PREFIX}{path}" for _, path, _, _ in p])
        modes = git(["ls-tree", "v1", "--"] + [PREFIX + path for _, path, _, _ in p], cwd=self.app).decode()
        if any(not line.startswith("100644 ") for line in modes.splitlines()) or len(modes.splitlines()) != len(p):
            sys.exit("gate1k: a planned file is not a regular 100644 blob in v1")
        edited = {PREFIX + path: gen_tree.hot_edit(o, i, how) for (i, path, how, _), o in zip(p, origs)}
        sections = diffs(self.app, "v1", edited)
        self.make_target(p, edited)

        # 2. The generator against two real records (scratch registry).
        scratch = os.path.join(self.tree, "scratch-gate1k")
        shutil.rmtree(scratch, ignore_errors=True)
        run([self.pk, "init"] + self.flags(scratch))
        samples = [e for e in p if e[2] == "insert"][:1] + [e for e in p if e[2] == "append"][:1]
        for (i, path, how, kind), orig in [(e, origs[e[0]]) for e in samples]:
            gen_tree._write(os.path.join(self.live, path), gen_tree.hot_edit(orig, i, how))
            real = self.record(i, path, kind, scratch)
            name = os.path.basename(real)
            text = open(real).read()
            text = re.sub(r"\nPatch-Id: \d+\n", "\nPatch-Id: %04d\n" % (i + 1), text, count=1)
            name = "%04d" % (i + 1) + name[4:]
            self.check_same(i, path, kind, base, name, text, sections)
            gen_tree._write(os.path.join(self.live, path), orig)
        shutil.rmtree(scratch)
        for f in os.listdir(self.tree):
            if f.startswith("scratch-gate1k"):
                os.remove(os.path.join(self.tree, f))

        # 3. The registry: N-1 generated and committed, the live tree carrying all N, patch N recorded.
        shutil.rmtree(self.registry, ignore_errors=True)
        run([self.pk, "init"] + self.flags())
        date = "Tue, 01 Dec 2026 00:00:00 +0000"
        for i, path, _, kind in p[:-1]:
            name, text = patch_text(i, path, kind, base, date, sections[PREFIX + path])
            with open(os.path.join(self.registry, name), "w") as f:
                f.write(text)
        if self.n > 1:
            git(["add", "-A"], cwd=self.registry)
            git(["commit", "-qm", f"import {self.n - 1} generated benchmark patches (format checked against record)"],
                cwd=self.registry)
        os.remove(os.path.join(self.registry, ".patchkeeper", "images-complete"))
        for (i, path, how, _), o in zip(p, origs):
            full = os.path.join(self.live, path)
            if open(full, "rb").read() != gen_tree.hot_edit(o, i, how):
                gen_tree._write(full, gen_tree.hot_edit(o, i, how))
        i, path, _, kind = p[-1]
        real = self.record(i, path, kind, self.registry)
        self.check_same(i, path, kind, base, os.path.basename(real), open(real).read(), sections)
        if not os.path.exists(os.path.join(self.registry, ".patchkeeper", "images-complete")):
            sys.exit("gate1k: record did not complete the registry's images")
        kept = {n.split("/")[-1] for n in git(["ls-tree", "-r", "--name-only", "patchkeeper-images"], cwd=self.registry).decode().split()}
        want = set()
        for s in sections.values():
            m = re.search(r"(?m)^index ([0-9a-f]{40})\.\.([0-9a-f]{40})", s)
            want |= {m.group(1), m.group(2)}
        if not want <= kept:
            sys.exit(f"gate1k: the registry keeps {len(want & kept)} of {len(want)} images")
        # The checkout the git apply loop runs in.
        if not os.path.isdir(self.checkout):
            git(["worktree", "add", "-q", "--detach", self.checkout, TARGET], cwd=self.app)
        else:
            git(["checkout", "-q", "--detach", TARGET], cwd=self.checkout)

    def reset_live(self, p):
        origs = blobs(self.app, [f"v1:{PREFIX}{path}" for _, path, _, _ in p])
        for (_, path, _, _), o in zip(p, origs):
            full = os.path.join(self.live, path)
            if open(full, "rb").read() != o:
                gen_tree._write(full, o)

    def make_target(self, p, edited):
        """gate1k-target: v2, then one commit per upstreamed patch making exactly its change."""
        head = git(["rev-parse", "v2"], cwd=self.app).decode().strip()
        env = dict(GIT_ENV, GIT_INDEX_FILE=os.path.join(self.app, ".git", "gate1k-index"))
        git(["read-tree", "v2"], cwd=self.app, env=env)
        for i, path, _, kind in p:
            if kind != "upstream":
                continue
            repo_path = PREFIX + path
            blob = git(["hash-object", "-w", "--stdin"], cwd=self.app, input=edited[repo_path]).decode().strip()
            git(["update-index", "--cacheinfo", f"100644,{blob},{repo_path}"], cwd=self.app, env=env)
            tree = git(["write-tree"], cwd=self.app, env=env).decode().strip()
            head = git(["commit-tree", tree, "-p", head, "-m", f"Upstream fix of hot patch {i + 1:04d}"],
                       cwd=self.app).decode().strip()
        os.remove(env["GIT_INDEX_FILE"])
        git(["tag", "-f", TARGET, head], cwd=self.app)

    def record(self, i, path, kind, registry):
        out = run([self.pk, "record", path, "--title", title_of(i, kind), "--reason", reason_of(kind),
                   "--author", AUTHOR, "--format", "json"] + self.flags(registry))
        return json.loads(out.stdout)["registry_file"]

    def check_same(self, i, path, kind, base, name, text, sections):
        date = re.search(r"(?m)^Date: (.*)$", text).group(1)
        gname, gtext = patch_text(i, path, kind, base, date, sections[PREFIX + path])
        if (gname, gtext) != (name, text):
            sys.exit(f"gate1k: the generator does not reproduce what record wrote for patch {i + 1}:\n"
                     f"--- record ({name})\n{text}\n--- generator ({gname})\n{gtext}")

    def check(self, pk, registry):
        """scan: all N applied and nothing else; gate: every verdict as the plan predicts."""
        p = plan(self.app, self.n)
        out = run([pk, "scan", "--format", "json"] + self.flags(registry), ok=(0, 1))
        report = json.loads(out.stdout)
        states = [x["state"] for x in report["patches"]]
        if len(states) != self.n or set(states) != {"applied"} or report["unregistered"] or report["problems"]:
            sys.exit(f"gate1k: scan does not see {self.n} applied patches and nothing else: {len(states)} patches, "
                     f"states {sorted(set(states))}, {len(report['unregistered'])} unregistered, problems {report['problems'][:3]}")
        out = run([pk, "gate", "--target", TARGET, "--policy", "reapply", "--format", "json"] + self.flags(registry), ok=(1,))
        gate = json.loads(out.stdout)
        commits = {}
        for line in git(["log", "--format=%H %s", f"v2..{TARGET}"], cwd=self.app).decode().splitlines():
            h, s = line.split(" ", 1)
            commits[int(s.rsplit(" ", 1)[1])] = h
        got = {x["id"]: x for x in gate["patches"]}
        counts = {}
        for i, _, _, kind in p:
            x = got.get("%04d" % (i + 1))
            want = EXPECTED[kind]
            if x is None or x["verdict"] != want:
                sys.exit(f"gate1k: patch {i + 1} ({kind}): gate says {x and x['verdict']}, expected {want}")
            if kind == "upstream" and (x["rule"], x["commit"]) != ("patch-id", commits[i + 1]):
                sys.exit(f"gate1k: patch {i + 1} upstreamed by {x['rule']} {x['commit']}, expected patch-id {commits[i + 1]}")
            counts[want] = counts.get(want, 0) + 1
        if len(got) != self.n or not gate["blocked"] or gate["lost"] or gate["problems"]:
            sys.exit("gate1k: gate report is not the expected one (patch count, blocked, lost, problems)")
        return counts


# ---- timing -----------------------------------------------------------------------------------

def timed(cmd, ok, cwd=None, prep=None):
    if prep:
        prep()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=GIT_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        sys.exit(f"gate1k: {' '.join(cmd[:6])} ... exited {code}")
    return wall, ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patchkeeper", required=True)
    ap.add_argument("--files", type=int, default=100000)
    ap.add_argument("--patches", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", help="cache for the tree and registry (default $PATCHKEEPER_BENCH_DIR/gate1k, else /tmp/patchkeeper-bench/gate1k)")
    ap.add_argument("--baseline", action="append", default=[],
                    help="another patchkeeper binary, timed in the same rounds (may be given more than once)")
    ap.add_argument("--no-full-cold", action="store_true", help="skip 'gate no caches' (it hashes the whole tree)")
    ap.add_argument("--quick", action="store_true", help="1k files, 50 patches, 1 run: a smoke run, no claims")
    a = ap.parse_args()
    if a.quick:
        a.files, a.patches, a.runs = 1000, 50, 1
    if a.dir:
        d = a.dir
    elif a.quick:
        d = tempfile.mkdtemp(prefix="patchkeeper-gate1k.")
        TEMP_DIRS.append(d)
    else:
        # Its own trees: bench.py's t<files> stage other patches on the same files.
        d = os.path.join(os.environ.get("PATCHKEEPER_BENCH_DIR", "/tmp/patchkeeper-bench"), "gate1k")
    pk = os.path.abspath(a.patchkeeper)
    s = Setup(os.path.abspath(d), a.files, a.patches, pk)
    s.ensure()
    bins = [("", pk, s.registry)]
    for k, other in enumerate(a.baseline):
        # Its own copy of the registry: each binary's caches stay its own.
        copy = s.registry + f"-baseline{k}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(s.registry, copy, symlinks=True)
        git(["update-index", "-q", "--refresh"], cwd=copy)
        bins.append((f"{os.path.basename(other)}: ", os.path.abspath(other), copy))
    for _, b, reg in bins:
        counts = s.check(b, reg)
    log(f"gate1k: {a.patches} patches on {a.files} files; verdicts {counts}; load {loadavg()}")
    time.sleep(2.2)  # edits older than the racy window, so warm scans hash nothing

    def rm_gate_caches(reg):
        return lambda: [os.remove(f) for f in (os.path.join(reg, ".patchkeeper", n) for n in ("validated", "patchids"))
                        if os.path.exists(f)]

    def rm_all_caches(reg):
        return lambda: [os.remove(f) for f in (os.path.join(reg, ".patchkeeper", n)
                                               for n in ("validated", "patchids", "statcache", "deployed-listing"))
                        if os.path.exists(f)]

    rows = {}
    loop = ["sh", "-c", 'for p in "$1"/*.patch; do git apply --check "$p"; git apply -R --check "$p"; done; exit 0',
            "sh", s.registry]
    kinds = [("warm", None), ("cold", rm_gate_caches)] + ([] if a.no_full_cold else [("no caches", rm_all_caches)])
    loads = [loadavg()]
    for _ in range(a.runs):
        for tag, b, reg in bins:
            gate = [b, "gate", "--target", TARGET, "--policy", "reapply"] + s.flags(reg)
            for kind, prep in kinds:
                rows.setdefault(f"{tag}gate {kind}", []).append(timed(gate, (1,), prep=prep and prep(reg)))
            # Leave the caches warm for the next round's warm run.
            timed(gate, (1,))
            # The warm scan gate starts with (the part of gate that walks and stats the tree).
            rows.setdefault(f"{tag}scan warm (in gate)", []).append(timed([b, "scan"] + s.flags(reg), (0, 1)))
        rows.setdefault("git apply loop", []).append(timed(loop, (0,), cwd=s.checkout))
    loads.append(loadavg())
    print(f"gate over {a.patches} patches, {a.files} files, target {TARGET}; median of {a.runs} rounds; "
          f"load average (1/5/15 min) before {loads[0]}, after {loads[1]}")
    print(f"verdicts: {', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}")
    print(f"{'command':<34} {'wall s':>8} {'min':>7} {'max':>7} {'CPU s':>7}   loop ÷ it (wall, CPU)")
    lw = statistics.median(w for w, _ in rows["git apply loop"])
    lc = statistics.median(c for _, c in rows["git apply loop"])
    for k, v in rows.items():
        w = statistics.median(x for x, _ in v)
        c = statistics.median(x for _, x in v)
        print(f"{k:<34} {w:8.3f} {min(x for x, _ in v):7.3f} {max(x for x, _ in v):7.3f} {c:7.3f}   {lw / w:5.1f}× {lc / c:5.1f}×")
    print("commands:")
    print(f"  gate: {pk} gate --target {TARGET} --policy reapply {' '.join(s.flags())}")
    print(f"  loop: (cd {s.checkout} && for p in {s.registry}/*.patch; do git apply --check $p; git apply -R --check $p; done)")
    if a.quick:
        print("(quick run: no timing claims)")


if __name__ == "__main__":
    try:
        main()
    finally:
        for d in TEMP_DIRS:
            shutil.rmtree(d, ignore_errors=True)
