#!/usr/bin/env python3
"""patchkeeper benchmarks: scan and gate against git and AIDE, in the same run, on the same tree.

Run it through scripts/bench/run.sh (which builds the binary); see BENCHMARKS.md for what each
comparison means. Every figure is whole-process wall time (fork to exit, start-up included),
taken in pairs A B A B ... so that the ratio of each pair is fair when the machine's speed
drifts; tables give the medians of the A and B times and the median of the per-pair ratios.

Trees are cached under $PATCHKEEPER_BENCH_DIR (default /tmp/patchkeeper-bench): a rerun skips
generation and patch recording. --fresh remakes them.
"""
import argparse, json, os, platform, re, shlex, shutil, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the work tree
import gen_tree  # noqa: E402

TREE_FORMAT = 1  # bump when gen_tree.generate changes what it writes
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
RACY_SECONDS = 2.1  # the stat cache (like git's index) does not trust files changed within 2 s of its write


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout.strip()


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ---- running and timing ------------------------------------------------------------------------

PASSED = set()  # the commands that ran and exited as expected (the smoke run's checks)


class Cmd:
    """One command as measured: argv, the exit codes that count as working, an untimed prep."""

    def __init__(self, name, argv, ok=(0,), cwd=None, env=None, prep=None):
        self.name, self.argv, self.ok, self.cwd, self.prep = name, argv, ok, cwd, prep
        self.env = dict(os.environ, **GIT_ENV, **(env or {}))

    def shell(self):
        """The command as one shell line, for the report."""
        env = " ".join(f"{k}={v}" for k, v in GIT_ENV.items()) + " "
        line = " ".join(shlex.quote(a) for a in self.argv)
        return (f"(cd {shlex.quote(self.cwd)} && " if self.cwd else "") + env + line + (")" if self.cwd else "")

    def run(self):
        """(wall seconds, peak RSS kB, exit code, CPU seconds); stdout/stderr discarded."""
        if self.prep:
            self.prep()
        t0 = time.perf_counter()
        p = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode in self.ok:
            PASSED.add(self.name)
        else:
            out = subprocess.run(self.argv, cwd=self.cwd, env=self.env, capture_output=True, text=True)
            raise SystemExit(f"bench: {self.name} exited {p.returncode} (expected {self.ok}):\n  {self.shell()}\n"
                             f"{out.stdout[-2000:]}{out.stderr[-2000:]}")
        return wall, ru.ru_maxrss, p.returncode, ru.ru_utime + ru.ru_stime


class Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b
        self.ta, self.tb, self.ra, self.rb, self.ratios, self.load = [], [], [], [], [], []
        self.ca, self.cb = [], []

    @property
    def med_a(self): return statistics.median(self.ta)
    @property
    def med_b(self): return statistics.median(self.tb)
    @property
    def ratio(self): return statistics.median(self.ratios)
    @property
    def rss_a(self): return statistics.median(self.ra)
    @property
    def rss_b(self): return statistics.median(self.rb)

    def spread(self):
        return f"{min(self.ratios):.2f}–{max(self.ratios):.2f}"


def paired(a, b, runs, warmup):
    """A B A B ...: `warmup` uncounted pairs, then `runs` counted ones."""
    pair = Pair(a, b)
    pair.load.append(loadavg())
    for _ in range(warmup):
        a.run()
        b.run()
    for _ in range(runs):
        ta, ra, _, ca = a.run()
        tb, rb, _, cb = b.run()
        pair.ta.append(ta); pair.tb.append(tb); pair.ra.append(ra); pair.rb.append(rb)
        pair.ca.append(ca); pair.cb.append(cb)
        pair.ratios.append(ta / tb)
    pair.load.append(loadavg())
    return pair


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def can_drop_caches():
    try:
        drop_caches()
        return True
    except OSError:
        return False


# ---- trees -----------------------------------------------------------------------------------

class Tree:
    def __init__(self, base, files):
        self.files = files
        self.dir = os.path.join(base, f"t{files}")
        self.app = os.path.join(self.dir, "app")
        self.gitdir = os.path.join(self.app, ".git")
        self.live = os.path.join(self.dir, "live")
        self.registry = os.path.join(self.dir, "registry")
        self.index = os.path.join(self.dir, "tmp-index")
        self.status_git = os.path.join(self.dir, "status.git")
        self.v2 = os.path.join(self.dir, "v2")
        self.stamp = os.path.join(self.dir, "stamp.json")
        self.last_write = 0.0

    def ensure(self, fresh):
        want = {"format": TREE_FORMAT, "files": self.files, "seed": 42}
        try:
            with open(self.stamp) as f:
                if json.load(f) == want and not fresh:
                    return False
        except (OSError, ValueError):
            pass
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)
        t0 = time.time()
        with open(os.devnull, "w") as quiet:
            old = sys.stdout
            sys.stdout = quiet
            try:
                gen_tree.generate(self.dir, self.files)
            finally:
                sys.stdout = old
        self._clone_equivalent()
        sh(["git", "-C", self.app, "worktree", "add", "-q", "--detach", self.v2, "v2"], env=dict(os.environ, **GIT_ENV))
        with open(self.stamp, "w") as f:
            json.dump(want, f)
        log(f"  generated {self.files} files in {time.time() - t0:.0f} s")
        return True

    def _clone_equivalent(self):
        """status.git: what a clone deployed at v1 with src/api as its root would hold — HEAD is a
        commit of v1:src/api's tree (objects shared with app through alternates), work tree = live."""
        env = dict(os.environ, **GIT_ENV, GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.org",
                   GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.org",
                   GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
        sh(["git", "init", "-q", "--bare", self.status_git], env=env)
        sh(["git", "--git-dir", self.status_git, "config", "core.bare", "false"], env=env)
        with open(os.path.join(self.status_git, "objects", "info", "alternates"), "w") as f:
            f.write(os.path.join(self.gitdir, "objects") + "\n")
        tree = sh(["git", "--git-dir", self.gitdir, "rev-parse", "v1:src/api"], env=env)
        commit = sh(["git", "--git-dir", self.status_git, "commit-tree", tree, "-m", "v1 (src/api)"], env=env)
        sh(["git", "--git-dir", self.status_git, "update-ref", "HEAD", commit], env=env)

    def git(self, *args):
        return ["git", "--git-dir", self.gitdir, "--work-tree", self.live] + list(args)

    def pk(self, pk, command, *args):
        return [pk, command, "--root", self.live, "--repo", self.app, "--subdir", "src/api",
                "--registry", self.registry] + list(args)

    def stage(self, pk, n):
        """Live tree with exactly the first n recorded patches applied, registry holding them.
        The stat cache survives the registry's rebuild (it is keyed on the root and stat data)."""
        if gen_tree.set_live_patches(self.dir, n):
            self.last_write = time.time()
        cache = os.path.join(self.registry, ".patchkeeper", "statcache")
        kept = None
        if os.path.exists(cache):
            with open(cache, "rb") as f:
                kept = f.read()
        gen_tree.install_patches(self.dir, n, pk)
        if kept is not None:
            with open(cache, "wb") as f:
                f.write(kept)
            os.chmod(cache, 0o600)

    def settle(self):
        """Waits until the newest edit is old enough for stat caches to trust it."""
        wait = self.last_write + RACY_SECONDS - time.time()
        if wait > 0:
            time.sleep(wait)

    def check_scan(self, pk, n):
        """Sanity: the scan sees n patches, all applied, and no other drift (primes the stat cache)."""
        out = subprocess.run(self.pk(pk, "scan", "--format", "json"), capture_output=True, text=True)
        if out.returncode not in (0, 1):
            raise SystemExit(f"bench: scan failed ({out.returncode}): {out.stderr.strip()}")
        report = json.loads(out.stdout)
        states = [p["state"] for p in report["patches"]]
        if len(states) != n or set(states) - {"applied"} or report["unregistered"] or report["problems"]:
            raise SystemExit(f"bench: scan of {self.dir} does not see {n} applied patches and no drift: "
                             f"{len(states)} patches, states {sorted(set(states))}, "
                             f"{len(report['unregistered'])} unregistered, {len(report['problems'])} problems")
        return report["stats"]


# ---- the comparisons --------------------------------------------------------------------------

def git_cold(t, cold_cache=False):
    """git's equivalent of a scan without cache: fresh temp index, read-tree, refresh (hashes
    every file), diff-files."""
    def prep():
        if os.path.exists(t.index):
            os.remove(t.index)
        if cold_cache:
            drop_caches()
    script = ('export GIT_INDEX_FILE="$1"; git --git-dir="$2" --work-tree="$3" read-tree v1:src/api && '
              'git --git-dir="$2" --work-tree="$3" update-index -q --refresh && '
              'git --git-dir="$2" --work-tree="$3" diff-files')
    return Cmd("git temp index (cold)", ["sh", "-c", script, "sh", t.index, t.gitdir, t.live], prep=prep)


def git_warm(t):
    script = ('export GIT_INDEX_FILE="$1"; git --git-dir="$2" --work-tree="$3" update-index -q --refresh && '
              'git --git-dir="$2" --work-tree="$3" diff-files')
    return Cmd("git temp index (warm)", ["sh", "-c", script, "sh", t.index, t.gitdir, t.live])


def git_status(t):
    return Cmd("git status (clone-equivalent)",
               ["git", "--git-dir", t.status_git, "--work-tree", t.live, "status", "--porcelain"])


def pk_scan(t, pk, cache, cold_cache=False):
    prep = drop_caches if cold_cache else None
    args = [] if cache else ["--no-cache"]
    return Cmd("patchkeeper scan" + ("" if cache else " --no-cache"), t.pk(pk, "scan", *args), prep=prep)


def aide_setup(t, work, workers_list):
    """A database of the live tree (sha256 + p+i+n+u+g+s+m+c), built once, and one `aide --check`
    per number of workers (AIDE's num_workers; 1 is its default)."""
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, "aide.db")
    live = os.path.realpath(t.live)
    cmds = []
    for workers in workers_list:
        conf = os.path.join(work, f"aide-{workers}.conf")
        with open(conf, "w") as f:
            f.write(f"database_in=file:{db}\ndatabase_out=file:{db}.new\ngzip_dbout=no\nreport_url=stdout\n"
                    f"num_workers={workers}\n"
                    "R = p+i+n+u+g+s+m+c+sha256\n"
                    f"{re.escape(live)} R\n")
        cmds.append(Cmd(f"aide --check ({workers} worker{'s' if workers != 1 else ''})", ["aide", "--check", "-c", conf]))
    subprocess.run(["aide", "--init", "-c", conf, "--workers", str(os.cpu_count())], check=True, capture_output=True)
    os.replace(db + ".new", db)
    return cmds


def git_apply_loop(t):
    """Per patch file: git apply --check, then git apply -R --check, on a v2 checkout."""
    script = ('cd "$1" || exit 2; for p in "$2"/*.patch; do git apply --check "$p"; git apply -R --check "$p"; done; '
              'exit 0')
    return Cmd("git apply --check loop", ["sh", "-c", script, "sh", t.v2, t.registry])


def time_v_rss(argv, env):
    """Peak RSS (kB) as /usr/bin/time -v reports it; None without /usr/bin/time."""
    if not os.path.exists("/usr/bin/time"):
        return None
    out = subprocess.run(["/usr/bin/time", "-v"] + argv, env=env, capture_output=True, text=True)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    return int(m.group(1)) if m else None


# ---- machine facts -----------------------------------------------------------------------------

def machine(base, pk):
    facts = {}
    facts["nproc"] = os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
        facts["cpu"] = m.group(1).strip() if m else platform.processor()
    except OSError:
        facts["cpu"] = platform.processor()
    with open("/proc/meminfo") as f:
        kb = int(re.search(r"MemTotal:\s*(\d+)", f.read()).group(1))
    facts["ram"] = f"{kb / 1024 / 1024:.1f} GiB"
    facts["kernel"] = platform.release()
    try:
        facts["filesystem"] = sh(["df", "-T", base]).splitlines()[-1].split()[1] + f" ({base})"
    except (subprocess.CalledProcessError, IndexError):
        facts["filesystem"] = "?"
    facts["git"] = sh(["git", "--version"])
    try:
        facts["libgit2"] = sh(["pkg-config", "--modversion", "libgit2"])
    except (subprocess.CalledProcessError, FileNotFoundError):
        facts["libgit2"] = "?"
    lib = None
    try:
        for line in sh(["ldd", pk]).splitlines():
            if "libgit2" in line and "=>" in line:
                lib = line.split("=>")[1].split()[0]
    except subprocess.CalledProcessError:
        pass
    if lib:
        with open(lib, "rb") as f:
            facts["libgit2_sha1"] = ("SHA1DC (collision detecting)" if b"collision attack detected" in f.read()
                                     else "not SHA1DC")
        facts["libgit2"] += f" ({os.path.realpath(lib)})"
    try:
        facts["aide"] = sh(["aide", "--version"]).splitlines()[0]
    except (subprocess.CalledProcessError, FileNotFoundError, IndexError):
        facts["aide"] = "not installed"
    facts["patchkeeper"] = sh([pk, "--version"]) + f" ({pk})"
    return facts


def hash_throughput(base):
    """MB/s of git hash-object (git's SHA-1), sha1sum and sha256sum, and libgit2's
    git_odb_hashfile when a C compiler is around, on one 256 MiB file in the page cache."""
    path = os.path.join(base, "hash-256M.bin")
    size = 256 << 20
    if not os.path.exists(path) or os.path.getsize(path) != size:
        with open(path, "wb") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(256):
                f.write(chunk)
    tools = [("git hash-object (git's SHA-1)", ["git", "hash-object", path]),
             ("sha1sum (coreutils SHA-1)", ["sha1sum", path]),
             ("sha256sum (coreutils SHA-256)", ["sha256sum", path])]
    helper = os.path.join(base, "hashfile")
    src = os.path.join(HERE, "hashfile.c")
    if shutil.which("cc") and (not os.path.exists(helper) or os.path.getmtime(helper) < os.path.getmtime(src)):
        try:
            flags = sh(["pkg-config", "--cflags", "--libs", "libgit2"]).split()
            sh(["cc", "-O2", "-o", helper, src] + flags)
        except (subprocess.CalledProcessError, FileNotFoundError):
            pass
    if os.path.exists(helper):
        tools.insert(0, ("libgit2 git_odb_hashfile", [helper, path]))
    rows = []
    for name, argv in tools:
        subprocess.run(argv, capture_output=True)  # warm
        best = min(Cmd(name, argv).run()[0] for _ in range(3))
        rows.append((name, size / best / 1e6))
    return rows


# ---- report ------------------------------------------------------------------------------------

def fmt_s(s):
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def fmt_kib(kb):
    return "–" if kb is None else f"{kb / 1024:.0f} MB"


def fmt_n(n):
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


QUICK = False  # a smoke run's single runs judge nothing


def verdict(ok):
    if QUICK:
        return "–"
    return "met" if ok else "**missed**"


class Report:
    def __init__(self):
        self.lines = []

    def add(self, *lines):
        self.lines.extend(lines)

    def table(self, head, rows):
        self.add("| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            self.add("| " + " | ".join(str(c) for c in r) + " |")
        self.add("")

    def text(self):
        return "\n".join(self.lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patchkeeper", required=True, help="the binary to measure")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1k files, 10/100 patches, one run each")
    ap.add_argument("--sizes", help="comma-separated file counts (default 10000,50000,100000)")
    ap.add_argument("--patches", help="comma-separated patch counts for gate (default 10,100,1000)")
    ap.add_argument("--runs", type=int, help="counted pairs per comparison (default 5; 3 for the slow ones)")
    ap.add_argument("--no-aide", action="store_true")
    ap.add_argument("--no-cold", action="store_true", help="skip the page-cache-cold runs")
    ap.add_argument("--fresh", action="store_true", help="regenerate the cached trees")
    ap.add_argument("--dir", default=os.environ.get("PATCHKEEPER_BENCH_DIR", "/tmp/patchkeeper-bench"))
    ap.add_argument("--out", help="write results.md and results.json here (default DIR/results)")
    a = ap.parse_args()

    started = time.time()
    pk = os.path.abspath(a.patchkeeper)
    base = os.path.abspath(a.dir)
    os.makedirs(base, exist_ok=True)
    quick = a.quick
    sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else ([1000] if quick else [10000, 50000, 100000])
    patch_counts = [int(s) for s in a.patches.split(",")] if a.patches else ([10, 100] if quick else [10, 100, 1000])
    runs = a.runs or (1 if quick else 5)
    slow_runs = a.runs or (1 if quick else 3)
    warmup = 0 if quick else 1
    scan_patches = min(10, patch_counts[0])
    gate_size = sizes[-1]
    have_aide = shutil.which("aide") is not None and not a.no_aide
    cold_ok = not a.no_cold and can_drop_caches()
    out_dir = a.out or os.path.join(base, "results")
    os.makedirs(out_dir, exist_ok=True)

    facts = machine(base, pk)
    log(f"bench: {'quick' if quick else 'full'} run, trees {sizes}, gate patches {patch_counts}, "
        f"{runs} pairs ({slow_runs} for slow ones), trees in {base}")
    results = {"facts": facts, "quick": quick, "runs": runs, "slow_runs": slow_runs, "sizes": {}, "gate": [],
               "rss": {}, "hash": [], "commands": {}}

    # 1. Trees and patches (cached).
    trees = {}
    for n in sizes:
        t = Tree(base, n)
        log(f"tree {fmt_n(n)}: " + ("generating" if not os.path.exists(t.stamp) or a.fresh else "cached"))
        t.ensure(a.fresh)
        want = max(patch_counts) if n == gate_size else scan_patches
        t0 = time.time()
        made = gen_tree.record_patches(t.dir, want, pk, progress=lambda i, c: log(f"  recorded {i}/{c} patches"))
        if made:
            log(f"  recorded {made} patches with patchkeeper record in {time.time() - t0:.0f} s")
            t.last_write = time.time()
        trees[n] = t

    # 2. Scans, per tree, with `scan_patches` patches applied and registered.
    for n, t in trees.items():
        r = results["sizes"].setdefault(str(n), {})
        t.stage(pk, scan_patches)
        t.settle()
        stats = t.check_scan(pk, scan_patches)  # primes the stat cache
        r["files"] = stats["files"]
        log(f"tree {fmt_n(n)}: {stats['files']} files; load {loadavg():.2f}")

        log("  cold scan vs git temp index (page cache warm)")
        p = paired(pk_scan(t, pk, cache=False), git_cold(t), runs, warmup)
        r["cold"] = vars_of(p)
        if cold_ok:
            log("  cold scan vs git temp index (page cache cold)")
            p = paired(pk_scan(t, pk, cache=False, cold_cache=True), git_cold(t, cold_cache=True), slow_runs, 0)
            r["cold_disk"] = vars_of(p)
        # The temp index is now refreshed; the stat cache was primed by check_scan.
        git_status_prime = git_status(t)
        sh(["git", "--git-dir", t.status_git, "--work-tree", t.live, "read-tree", "HEAD"], env=git_status_prime.env)
        sh(["git", "--git-dir", t.status_git, "--work-tree", t.live, "update-index", "-q", "--refresh"],
           env=git_status_prime.env)
        log("  warm scan vs warm git temp index")
        p = paired(pk_scan(t, pk, cache=True), git_warm(t), runs, warmup)
        r["warm"] = vars_of(p)
        log("  warm scan vs git status --porcelain")
        p = paired(pk_scan(t, pk, cache=True), git_status(t), runs, warmup)
        r["status"] = vars_of(p)
        # Sanity: the warm runs above hashed nothing.
        r["warm_stats"] = t.check_scan(pk, scan_patches)
        if r["warm_stats"]["hashed"] != 0:
            raise SystemExit(f"bench: a warm scan of {t.dir} hashed {r['warm_stats']['hashed']} files")
        if have_aide and n in (sizes[0], sizes[-1]):
            # AIDE's default (1 worker) on the smallest and largest trees (the middle one would add
            # a minute to the run); all cores once, on the smallest tree.
            workers = [1] if quick or os.cpu_count() == 1 or n != sizes[0] else [1, os.cpu_count()]
            for w, aide in zip(workers, aide_setup(t, os.path.join(t.dir, "aide"), workers)):
                log(f"  cold scan vs {aide.name}")
                p = paired(pk_scan(t, pk, cache=False), aide, slow_runs, 0)
                r[f"aide{w}"] = vars_of(p)
                results["commands"].setdefault(f"aide_{w}", aide.shell())
        if n == sizes[-1]:
            results["rss"] = {
                "cold": time_v_rss(t.pk(pk, "scan", "--no-cache"), dict(os.environ)),
                "warm": time_v_rss(t.pk(pk, "scan"), dict(os.environ)),
                "size": n,
            }
        results["commands"].setdefault("scan_cold", pk_scan(t, pk, cache=False).shell())
        results["commands"].setdefault("scan_warm", pk_scan(t, pk, cache=True).shell())
        results["commands"].setdefault("git_cold", "rm -f IDX; " + git_cold(t).shell())
        results["commands"].setdefault("git_warm", git_warm(t).shell())
        results["commands"].setdefault("git_status", git_status(t).shell())

    # 3. Gate over 10/100/1000 patches on the largest tree.
    t = trees[gate_size]
    for count in patch_counts:
        t.stage(pk, count)
        t.settle()
        t.check_scan(pk, count)
        log(f"gate over {count} patches on {fmt_n(gate_size)} files vs git apply loop; load {loadavg():.2f}")
        gate = Cmd("patchkeeper gate", t.pk(pk, "gate", "--target", "v2", "--policy", "reapply"), ok=(0, 1))
        p = paired(gate, git_apply_loop(t), runs if count < 1000 else slow_runs, warmup)
        lst = Cmd("patchkeeper list", t.pk(pk, "list"))
        list_s = statistics.median(lst.run()[0] for _ in range(3 if not quick else 1))
        results["gate"].append(dict(vars_of(p), patches=count, files=gate_size, list_s=list_s))
        results["commands"].setdefault("gate", gate.shell())
        results["commands"].setdefault("git_apply_loop", git_apply_loop(t).shell())
    # Leave the cached tree as the scans want it (and its stat cache primed).
    t.stage(pk, scan_patches)
    t.settle()
    t.check_scan(pk, scan_patches)

    # 4. What limits the numbers: hashing and process start.
    if not quick:
        log("hash throughput, process start")
        results["hash"] = hash_throughput(base)
        start = paired(Cmd("patchkeeper --version", [pk, "--version"]), Cmd("git --version", ["git", "--version"]), 10, 1)
        results["start"] = vars_of(start)

    results["seconds"] = time.time() - started
    report = render(results, sizes, patch_counts, cold_ok, have_aide)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(report)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    print(report)
    log(f"bench: done in {results['seconds']:.0f} s; {out_dir}/results.md")
    if quick:
        # Every command ran and exited as expected (a failure exits earlier, non-zero).
        print(f"bench: {len(PASSED)} passed, 0 failed")


def vars_of(p):
    return {"a": p.a.name, "b": p.b.name, "a_s": p.med_a, "b_s": p.med_b, "ratio": p.ratio,
            "spread": p.spread(), "a_rss": p.rss_a, "b_rss": p.rss_b, "n": len(p.ratios), "load": p.load,
            "a_cpu": statistics.median(p.ca), "b_cpu": statistics.median(p.cb),
            "a_runs": p.ta, "b_runs": p.tb}


def render(res, sizes, patch_counts, cold_ok, have_aide):
    global QUICK
    QUICK = res["quick"]
    r = Report()
    f = res["facts"]
    r.add(f"# patchkeeper benchmark results{' (quick smoke run: no timing claims)' if res['quick'] else ''}", "",
          f"Machine: {f['nproc']} cores, {f['cpu']}, {f['ram']}, kernel {f['kernel']}, filesystem {f['filesystem']}; "
          f"{f['git']}; libgit2 {f['libgit2']}, {f.get('libgit2_sha1', '?')}; {f['aide']}; patchkeeper {f['patchkeeper']}.",
          "",
          f"Whole-process wall time, median of {res['runs']} paired runs (A B A B …; {res['slow_runs']} for page-cache-cold, "
          "AIDE and gate at 1,000 patches); ratio = median of the per-pair ratios A/B (spread min–max). "
          "Page cache warm unless the table says cold (then `sync; echo 3 > /proc/sys/vm/drop_caches` before every run, "
          "outside the timed part). CPU s = median user+system seconds of each side (what the work costs whatever else runs). "
          "Load = 1-minute load average before/after the pairs (other jobs may share the machine).",
          "")
    S = res["sizes"]

    def row(n, key, target=None):
        x = S[str(n)][key]
        cells = [fmt_n(n), f"{S[str(n)]['files']:,}", fmt_s(x["a_s"]), fmt_s(x["b_s"]), f"{x['ratio']:.2f}× ({x['spread']})",
                 f"{x['a_cpu']:.2f} / {x['b_cpu']:.2f}"]
        if target is not None:
            cells.append(verdict(x["ratio"] <= target))
        cells.append("/".join(f"{l:.1f}" for l in x["load"]))
        return cells

    r.add("## Cold scan vs git temp index (page cache warm)", "",
          "A: `patchkeeper scan --no-cache` (hashes every file). B: fresh `GIT_INDEX_FILE`, `read-tree v1:src/api`, "
          "`update-index -q --refresh`, `diff-files`. Target: ratio ≤ 0.7.", "")
    r.table(["tree", "files", "scan --no-cache", "git temp index", "ratio", "CPU s A / B", "≤ 0.7×", "load"],
            [row(n, "cold", 0.7) for n in sizes])
    if cold_ok:
        r.add("## Cold scan vs git temp index (page cache cold)", "",
              "The same two commands, caches dropped before every run (both read the tree, git also its packs, "
              "patchkeeper also its Swift runtime libraries, from disk).", "")
        r.table(["tree", "files", "scan --no-cache", "git temp index", "ratio", "CPU s A / B", "≤ 0.7×", "load"],
                [row(n, "cold_disk", 0.7) for n in sizes])
    r.add("## Warm scan vs warm git", "",
          "A: `patchkeeper scan` with its stat cache primed (every file older than 2 s). "
          "B1: `update-index -q --refresh && diff-files` on the already refreshed temp index. "
          "B2: `git status --porcelain` in a clone-equivalent (HEAD = a commit of v1:src/api's tree, "
          "work tree = live, index refreshed; it also looks for untracked files, as scan does). Target: ratio ≤ 1.0.", "")
    r.table(["tree", "files", "scan (warm)", "git diff-files (warm)", "ratio", "CPU s A / B", "≤ 1.0×", "load"],
            [row(n, "warm", 1.0) for n in sizes])
    r.table(["tree", "files", "scan (warm)", "git status --porcelain", "ratio", "CPU s A / B", "≤ 1.0×", "load"],
            [row(n, "status", 1.0) for n in sizes])
    if have_aide:
        r.add("## Cold scan vs AIDE", "",
              "A: `patchkeeper scan --no-cache`. B: `aide --check` against a database of the same tree "
              "(rule `p+i+n+u+g+s+m+c+sha256`; `num_workers` as shown; 1 is AIDE's default). "
              "Target: AIDE / scan ≥ 10 (ratio scan/AIDE ≤ 0.1).", "")
        rows = []
        for n in sizes:
            for key in sorted(k for k in S[str(n)] if k.startswith("aide")):
                x = S[str(n)][key]
                rows.append([fmt_n(n), key[len("aide"):], fmt_s(x["a_s"]), fmt_s(x["b_s"]),
                             f"{x['ratio']:.2f}× ({x['spread']})", f"{1 / x['ratio']:.1f}×",
                             f"{x['a_cpu']:.2f} / {x['b_cpu']:.2f}",
                             verdict(1 / x["ratio"] >= 10), "/".join(f"{l:.1f}" for l in x["load"])])
        r.table(["tree", "AIDE workers", "scan --no-cache", "aide --check", "ratio", "AIDE / scan", "CPU s A / B", "≥ 10×", "load"], rows)
    else:
        r.add("## Cold scan vs AIDE", "", "AIDE is not installed: not measured (`apt-get install aide`).", "")
    r.add("## Gate vs a git apply loop", "",
          "A: `patchkeeper gate --target v2 --policy reapply` (includes its warm scan of the whole tree). "
          "B: per registry patch `git apply --check` + `git apply -R --check` in a v2 checkout (`git worktree add`), "
          "as one shell loop. Patch mix per 100: 1 on a file v2 deletes, 1 conflicting, 5 on renamed files, "
          "10 needing a 3-way merge, 83 clean. Targets at 1,000 patches: < 1 s and ≥ 20× faster than the loop.", "")
    rows = []
    for g in res["gate"]:
        met = ""
        if g["patches"] >= 1000:
            met = f"{verdict(g['a_s'] < 1)} / {verdict(1 / g['ratio'] >= 20)}"
        rows.append([g["patches"], f"{fmt_n(g['files'])}", fmt_s(g["a_s"]), fmt_s(g["b_s"]),
                     f"{g['ratio']:.2f}× ({g['spread']})", f"{1 / g['ratio']:.1f}×",
                     f"{g['a_cpu']:.2f} / {g['b_cpu']:.2f}", met,
                     "/".join(f"{l:.1f}" for l in g["load"])])
    r.table(["patches", "tree", "gate", "git apply loop", "ratio", "loop / gate", "CPU s A / B", "< 1 s / ≥ 20×", "load"], rows)
    r.add("`patchkeeper list` over the same registries (it only parses the patch files; median of 3): " +
          ", ".join(f"{g['patches']} patches {fmt_s(g['list_s'])}" for g in res["gate"]) + ".", "")
    rss = res["rss"]
    if rss:
        r.add(f"## Peak RSS of scan at {fmt_n(rss['size'])} files", "",
              "`/usr/bin/time -v`, \"Maximum resident set size\". Target < 64 MB (issue 13).", "")
        r.table(["scan", "peak RSS", "< 64 MB"],
                [["--no-cache (cold)", fmt_kib(rss["cold"]), verdict(rss["cold"] is not None and rss["cold"] < 64 * 1024)],
                 ["stat cache (warm)", fmt_kib(rss["warm"]), verdict(rss["warm"] is not None and rss["warm"] < 64 * 1024)]])
    r.add("## Growth with tree size", "",
          "Median wall time per file (µs) and, for the larger trees, growth relative to the smallest tree per file "
          "(1.00 = linear). Peak RSS from the paired runs.", "")
    first = S[str(sizes[0])]
    rows = []
    for n in sizes:
        x = S[str(n)]
        cells = [fmt_n(n)]
        for key, side in (("cold", "a"), ("cold", "b"), ("warm", "a"), ("warm", "b")):
            per = x[key][f"{side}_s"] / x["files"] * 1e6
            base_per = first[key][f"{side}_s"] / first["files"] * 1e6
            cells.append(f"{per:.1f}" + ("" if n == sizes[0] else f" ({per / base_per:.2f})"))
        cells.append(fmt_kib(x["cold"]["a_rss"]))
        cells.append(fmt_kib(x["warm"]["a_rss"]))
        rows.append(cells)
    r.table(["tree", "scan --no-cache µs/file", "git temp index µs/file", "scan warm µs/file", "git warm µs/file",
             "RSS scan --no-cache", "RSS scan warm"], rows)
    if res["hash"]:
        r.add("## Hash throughput (one 256 MiB file, page cache warm, one core, best of 3)", "")
        r.table(["hasher", "MB/s"], [[name, f"{mbs:.0f}"] for name, mbs in res["hash"]])
    if res.get("start"):
        x = res["start"]
        r.add(f"Process start: `patchkeeper --version` {fmt_s(x['a_s'])} vs `git --version` {fmt_s(x['b_s'])} "
              f"(median of {x['n']} pairs).", "")
    r.add("## Commands", "")
    for k, v in res["commands"].items():
        r.add(f"- {k}: `{v}`")
    r.add("", f"Total run time {res['seconds']:.0f} s.")
    return r.text()


if __name__ == "__main__":
    main()
