#!/usr/bin/env python3
"""Generate a deterministic app repository and its deployed live tree for benchmarks.

    gen_tree.py DIR --files N [--patches P]

Creates DIR/app (git repo: v1, v2 with changed, renamed and deleted files), DIR/live (v1's
src/api exported, REVISION written) and leaves DIR/registry to `patchkeeper init`.
Same arguments, same bytes: the content comes from a seeded PRNG.
"""
import argparse, os, random, subprocess, sys

def git(args, cwd):
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    return subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.org",
                           "-c", "init.defaultBranch=main"] + args,
                          cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()

WORDS = "def end class module return if else self user account job queue lock table migrate cache".split()

def text(rng, lines):
    return "".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) + "\n" for _ in range(lines))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    app = os.path.join(a.dir, "app")
    src = os.path.join(app, "src", "api")
    os.makedirs(src, exist_ok=True)
    git(["init", "-q"], app)
    paths = []
    # A realistic shape: about one directory per 12 files, nested up to 7 deep.
    dirs = ["app"]
    while len(dirs) < max(1, a.files // 12):
        parent = rng.choice(dirs)
        if parent.count("/") < 6:
            dirs.append(f"{parent}/d{len(dirs)}")
    for i in range(a.files):
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
    for i in range(max(1, a.files // 1000)):
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
    live = os.path.join(a.dir, "live")
    os.makedirs(live, exist_ok=True)
    subprocess.run(f"git -C '{app}' archive v1:src/api | tar -x -C '{live}'", shell=True, check=True)
    with open(os.path.join(live, "REVISION"), "w") as f:
        f.write(git(["rev-parse", "v1"], app) + "\n")
    # Runtime files the app's .gitignore hides.
    os.makedirs(os.path.join(live, "tmp", "cache"), exist_ok=True)
    for i in range(100):
        with open(os.path.join(live, "tmp", "cache", f"c{i}"), "w") as f:
            f.write("cache\n")
    print(f"{a.files} files in {live}; repo {app} (v1, v2)")

if __name__ == "__main__":
    main()
