#!/usr/bin/env bash
# Benchmarks: patchkeeper scan and gate against git and AIDE, same run, same trees.
#
#   scripts/bench/run.sh            full run: trees of 10k, 50k, 100k files, gate over 10/100/1,000
#                                   patches (release build; under 15 minutes on 2 cores)
#   scripts/bench/run.sh --quick    smoke run for CI: 1k files, 10/100 patches, one run of each
#                                   command, a table, no timing claims (debug build, AIDE optional);
#                                   also history.py, registry.py, fleet.py (50 hosts) and gate1k.py
#                                   (50 patches on 1k files) in quick mode
# The fleet benchmark (1,000 hosts) runs on its own: python3 scripts/bench/fleet.py --patchkeeper BIN
# So does gate over 1,000 patches at 100k files: python3 scripts/bench/gate1k.py --patchkeeper BIN
#
# Other options go to bench.py (--runs N, --sizes 10000,50000, --patches 10,100, --no-aide,
# --no-cold, --fresh, --out DIR); see `python3 scripts/bench/bench.py --help`.
# Environment: PATCHKEEPER_BENCH_DIR caches the generated trees (default /tmp/patchkeeper-bench;
# a quick run uses a temp dir unless it is set), PATCHKEEPER_BIN measures that binary instead
# of building one. Page-cache-cold runs need root (they write /proc/sys/vm/drop_caches).
set -euo pipefail

export PATH="/opt/swift/usr/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

quick=0
for arg in "$@"; do [ "$arg" = "--quick" ] && quick=1; done

# Tools: python3 and git are required; /usr/bin/time (peak RSS) and, for full runs, AIDE are
# installed from Debian's packages when missing and we are root.
missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v git >/dev/null 2>&1 || missing+=(git)
[ -x /usr/bin/time ] || missing+=(time)
if [ "$quick" = 0 ] && ! command -v aide >/dev/null 2>&1; then missing+=(aide); fi
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "--- installing ${missing[*]}" >&2
        { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >&2 ||
            echo "run.sh: could not install ${missing[*]}; going on without what is optional" >&2
    else
        echo "run.sh: missing ${missing[*]} (install them; AIDE and /usr/bin/time are optional)" >&2
    fi
fi

if [ -n "${PATCHKEEPER_BIN:-}" ]; then
    bin="$PATCHKEEPER_BIN"
elif [ "$quick" = 1 ]; then
    swift build >&2
    bin="$(swift build --show-bin-path)/patchkeeper"
else
    swift build -c release >&2
    bin="$(swift build -c release --show-bin-path)/patchkeeper"
fi

args=()
if [ "$quick" = 1 ] && [ -z "${PATCHKEEPER_BENCH_DIR:-}" ]; then
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/patchkeeper-bench-quick.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    args+=(--dir "$tmp")
fi

python3 scripts/bench/bench.py --patchkeeper "$bin" ${args[@]+"${args[@]}"} "$@"

# Gate over a long history and writes in a big registry (history.py, registry.py): a smoke run
# in quick mode (fewer commits and patches, one run each, verdicts still checked).
if [ "$quick" = 1 ]; then
    python3 scripts/bench/history.py --patchkeeper "$bin" --quick --commits 300 --files 400
    python3 scripts/bench/registry.py --patchkeeper "$bin" --quick
    python3 scripts/bench/fleet.py --patchkeeper "$bin" --quick
    python3 scripts/bench/gate1k.py --patchkeeper "$bin" --quick
fi
