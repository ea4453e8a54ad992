#!/usr/bin/env python3
"""Generate a deterministic app repository and its deployed live tree for benchmarks.

    gen_tree.py DIR --files N [--patches P --patchkeeper BIN]

Creates DIR/app (git repo: v1, v2 with changed, renamed and deleted files), DIR/live (v1's
src/api exported, REVISION written) and leaves DIR/registry to `patchkeeper init`.
Same arguments, same bytes: the content comes from a seeded PRNG.

With --patches P it also makes P hot patches on P distinct files with the real
`patchkeeper record` (see record_patches) and installs them in DIR/registry; the live tree then
carries all P edits. Which files, and how they are edited, is deterministic (patch_plan).
"""
import argparse, json, os, random, shutil, subprocess, sys

def git(args, cwd):
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    return subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.org",
                           "-c", "init.defaultBranch=main"] + args,
                          cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()

WORDS = "def end class module return if else self user account job queue lock table migrate cache".split()

def text(rng, lines):
    return "".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) + "\n" for _ in range(lines))

def generate(out, files, seed=42):
    """DIR/app and DIR/live for `files` files; the same arguments give the same bytes."""
    rng = random.Random(seed)
    app = os.path.join(out, "app")
    src = os.path.join(app, "src", "api")
    os.makedirs(src, exist_ok=True)
    git(["init", "-q"], app)
    paths = []
    # A realistic shape: about one directory per 12 files, nested up to 7 deep.
    dirs = ["app"]
    while len(dirs) < max(1, files // 12):
        parent = rng.choice(dirs)
        if parent.count("/") < 6:
            dirs.append(f"{parent}/d{len(dirs)}")
    for i in range(files):
        d = rng.choice(dirs)
        ext = rng.choice(["rb", "rb", "rb", "js", "yml", "erb", "png", "sh"])
        p = f"{d}/f{i}.{ext}"
        full = os.path.join(src, p)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if ext == "png":
            size = rng.choice([512, 4096, 65536, 65536, 2_000_000 if rng.random() < 0.01 else 8192])
            with open(full, "wb") as f:
                f.write(rng.randbytes(size))
        else:
            with open(full, "w") as f:
                f.write(text(rng, rng.choice([5, 20, 60, 200, 1000 if rng.random() < 0.05 else 40])))
            if ext == "sh":
                os.chmod(full, 0o755)
        paths.append(p)
    for i in range(max(1, files // 1000)):
        link = os.path.join(src, f"link{i}")
        os.symlink(paths[i], link)
    with open(os.path.join(src, ".gitignore"), "w") as f:
        f.write("tmp/\nlog/\n")
    git(["add", "-A"], app)
    git(["commit", "-qm", "v1"], app)
    git(["tag", "v1"], app)
    # v2: change 1%, rename 0.2% (with an edit), delete 0.2%
    rb = [p for p in paths if p.endswith(".rb")]
    rng.shuffle(rb)
    n = max(1, len(rb) // 100)
    for p in rb[:n]:
        with open(os.path.join(src, p), "a") as f:
            f.write("# changed in v2\n")
    for p in rb[n:n + n // 5 + 1]:
        new = p.replace(".rb", "_renamed.rb")
        git(["mv", os.path.join("src/api", p), os.path.join("src/api", new)], app)
        with open(os.path.join(src, new), "a") as f:
            f.write("# renamed in v2\n")
    for p in rb[n + n // 5 + 1:n + 2 * (n // 5) + 2]:
        git(["rm", "-q", os.path.join("src/api", p)], app)
    git(["add", "-A"], app)
    git(["commit", "-qm", "v2"], app)
    git(["tag", "v2"], app)
    live = os.path.join(out, "live")
    os.makedirs(live, exist_ok=True)
    subprocess.run(f"git -C '{app}' archive v1:src/api | tar -x -C '{live}'", shell=True, check=True)
    with open(os.path.join(live, "REVISION"), "w") as f:
        f.write(git(["rev-parse", "v1"], app) + "\n")
    # Runtime files the app's .gitignore hides.
    os.makedirs(os.path.join(live, "tmp", "cache"), exist_ok=True)
    for i in range(100):
        with open(os.path.join(live, "tmp", "cache", f"c{i}"), "w") as f:
            f.write("cache\n")
    print(f"{files} files in {live}; repo {app} (v1, v2)")


# ---- hot patches ---------------------------------------------------------------------------
# Bump when patch_plan or hot_edit change: cached staged patches of another version are remade.
PATCH_FORMAT = 1
PREFIX = "src/api/"
AUTHOR = "Bench Admin <bench@example.org>"


def patch_plan(app, count, seed=42):
    """The first `count` hot patches: [(root-relative path, edit, what v2 does to the file)].

    Each patch edits one distinct .rb file of v1. The mix per 100 patches (any prefix of the
    list keeps it, so 10 of them already hold one of each kind): 1 on a file v2 deletes
    (gate: removed), 1 on a file v2 changes at the same place (conflicts), 5 on files v2
    renames (reapplies-renamed), 10 on files v2 changes elsewhere (reapplies after a 3-way
    merge), the rest on files v2 leaves alone (reapplies). A kind whose files run out (small
    trees) falls back to untouched files.
    """
    rb = sorted(p[len(PREFIX):] for p in git(["ls-tree", "-r", "--name-only", "v1", "--", PREFIX], app).splitlines()
                if p.endswith(".rb"))
    pools = {"changed": [], "renamed": [], "deleted": []}
    for line in git(["diff", "--name-status", "-M", "v1", "v2", "--", PREFIX], app).splitlines():
        parts = line.split("\t")
        kind = {"M": "changed", "R": "renamed", "D": "deleted"}.get(parts[0][0])
        if kind and parts[1].endswith(".rb"):
            pools[kind].append(parts[1][len(PREFIX):])
    touched = set(p for pool in pools.values() for p in pool)
    pools["untouched"] = [p for p in rb if p not in touched]
    rng = random.Random(seed + 1)
    for name in sorted(pools):
        pools[name].sort()
        rng.shuffle(pools[name])
    plan = []
    for i in range(count):
        r = i % 100
        want = ("deleted" if r == 5 else "conflict" if r == 7 else "renamed" if i % 20 == 3
                else "changed" if i % 10 == 1 else "untouched")
        pool = pools["changed" if want == "conflict" else want]
        if not pool:
            want, pool = "untouched", pools["untouched"]
        if not pool:
            raise SystemExit(f"gen_tree: not enough .rb files for {count} patches")
        plan.append((pool.pop(), "append" if want == "conflict" else "insert", want))
    return plan


def hot_edit(content, i, how):
    """Patch i's edit: a line after the first one, or (to collide with v2) at the end."""
    line = b"# hot patch %04d: benchmark edit\n" % (i + 1)
    if how == "append":
        return content + line
    nl = content.index(b"\n") + 1
    return content[:nl] + line + content[nl:]


def _write(path, data):
    tmp = path + ".pk-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)


def _staged(d):
    try:
        with open(os.path.join(d, "patches", "plan.json")) as f:
            state = json.load(f)
        return state["entries"] if state.get("format") == PATCH_FORMAT else []
    except (OSError, ValueError, KeyError):
        return []


def record_patches(d, count, pk, progress=None):
    """Stages `count` hot patches made by the real `patchkeeper record` in D/patches/.

    One `record` per patch, each into a scratch registry that holds no other patch (so every
    record costs the same; recording into a registry that grows makes each call re-parse every
    patch already there), then the file is renumbered (Patch-Id trailer and file name) and moved
    to D/patches/. `install_patches` puts the first N into D/registry with one commit.
    Patches staged before are kept; the live tree carries the edits of all staged patches.
    Returns the number recorded now.
    """
    app, live = os.path.join(d, "app"), os.path.join(d, "live")
    stage = os.path.join(d, "patches")
    entries = _staged(d)
    if not entries and os.path.isdir(stage):
        shutil.rmtree(stage)
    os.makedirs(os.path.join(stage, "orig"), exist_ok=True)
    if len(entries) >= count:
        return 0
    scratch = os.path.join(d, "scratch-registry")
    if entries == [] and os.path.exists(scratch):
        shutil.rmtree(scratch)
    common = ["--root", live, "--repo", app, "--subdir", PREFIX.rstrip("/"), "--registry", scratch]
    if not os.path.exists(scratch):
        subprocess.run([pk, "init"] + common, check=True, capture_output=True)
    plan = patch_plan(app, count)
    if [tuple(e[:3]) for e in entries] != plan[:len(entries)]:
        raise SystemExit("gen_tree: staged patches do not match the plan; remove " + stage)
    made = 0
    for i in range(len(entries), count):
        path, how, kind = plan[i]
        orig_file = os.path.join(stage, "orig", "%04d" % (i + 1))
        full = os.path.join(live, path)
        if not os.path.exists(orig_file):
            with open(full, "rb") as f:
                orig = f.read()
            with open(orig_file, "wb") as f:
                f.write(orig)
        with open(orig_file, "rb") as f:
            orig = f.read()
        _write(full, hot_edit(orig, i, how))
        out = subprocess.run([pk, "record", path, "--title", "Bench hot patch %04d (%s)" % (i + 1, kind),
                              "--reason", "Benchmark patch: v2 %s this file." % kind, "--author", AUTHOR,
                              "--format", "json"] + common, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"gen_tree: patchkeeper record {path} failed ({out.returncode}): {out.stderr.strip()}")
        recorded = json.loads(out.stdout)["registry_file"]
        with open(recorded) as f:
            text = f.read()
        pid = "%04d" % (i + 1)
        text = text.replace("\nPatch-Id: 0001\n", "\nPatch-Id: %s\n" % pid, 1)
        name = pid + os.path.basename(recorded)[4:]
        with open(os.path.join(stage, name), "w") as f:
            f.write(text)
        os.remove(recorded)
        entries.append([path, how, kind, name])
        made += 1
        if made % 50 == 0 or i + 1 == count:
            with open(os.path.join(stage, "plan.json"), "w") as f:
                json.dump({"format": PATCH_FORMAT, "entries": entries}, f)
            if progress:
                progress(i + 1, count)
    return made


def set_live_patches(d, n):
    """Makes the live tree carry exactly the first n staged edits. Returns the files written."""
    live = os.path.join(d, "live")
    written = 0
    for i, (path, how, _, _) in enumerate(_staged(d)):
        with open(os.path.join(d, "patches", "orig", "%04d" % (i + 1)), "rb") as f:
            orig = f.read()
        want = hot_edit(orig, i, how) if i < n else orig
        full = os.path.join(live, path)
        with open(full, "rb") as f:
            have = f.read()
        if have != want:
            _write(full, want)
            written += 1
    return written


def install_patches(d, n, pk):
    """D/registry := a fresh registry holding the first n staged patches (one commit)."""
    entries = _staged(d)
    if len(entries) < n:
        raise SystemExit(f"gen_tree: only {len(entries)} patches staged, {n} wanted")
    reg = os.path.join(d, "registry")
    if os.path.exists(reg):
        shutil.rmtree(reg)
    subprocess.run([pk, "init", "--root", os.path.join(d, "live"), "--repo", os.path.join(d, "app"),
                    "--subdir", PREFIX.rstrip("/"), "--registry", reg], check=True, capture_output=True)
    for e in entries[:n]:
        shutil.copyfile(os.path.join(d, "patches", e[3]), os.path.join(reg, e[3]))
    if n:
        git(["add", "-A"], reg)
        git(["commit", "-qm", f"import {n} recorded benchmark patches"], reg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--patches", type=int, default=0, help="hot patches to record (needs --patchkeeper)")
    ap.add_argument("--patchkeeper", default="patchkeeper", help="the patchkeeper binary")
    a = ap.parse_args()
    generate(a.dir, a.files, a.seed)
    if a.patches:
        record_patches(a.dir, a.patches, a.patchkeeper)
        set_live_patches(a.dir, a.patches)
        install_patches(a.dir, a.patches, a.patchkeeper)
        print(f"{a.patches} patches in {os.path.join(a.dir, 'registry')}")

if __name__ == "__main__":
    main()
