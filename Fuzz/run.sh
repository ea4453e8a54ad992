#!/bin/sh
# Builds the libFuzzer targets and runs one of them; see docs/FUZZING.md.
#   Fuzz/run.sh build
#   Fuzz/run.sh FuzzPatchFile|FuzzPatchParser|FuzzConfig|FuzzIgnore|FuzzJournal [SECONDS] [extra libFuzzer flags]
#   Fuzz/run.sh regress        (every target over Fuzz/regressions and its seed corpus, once)
set -eu
cd "$(dirname "$0")"

build() {
    swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
        -Xcc -fsanitize=fuzzer-no-link,address -Xcxx -fsanitize=fuzzer-no-link,address \
        2>&1 | grep -v "Cannot export local symbol" || true
    test -x .build/debug/FuzzConfig && test -x .build/debug/FuzzIgnore && test -x .build/debug/FuzzJournal
}

corpus_of() {
    case "$1" in
        FuzzPatchFile) echo patchfile ;;
        FuzzPatchParser) echo diff ;;
        FuzzConfig) echo config ;;
        FuzzIgnore) echo ignore ;;
        FuzzJournal) echo journal ;;
        *) echo "unknown target $1" >&2; exit 64 ;;
    esac
}

# The Swift runtime's own crash backtracer trips ASan; libFuzzer prints the stack instead.
# TOMLKit leaks a little on every parse (see lsan.supp).
export SWIFT_BACKTRACE=enable=no
export LSAN_OPTIONS="suppressions=$PWD/lsan.supp"

case "${1:-}" in
    build) build ;;
    regress)
        build
        for t in FuzzPatchFile FuzzPatchParser FuzzConfig FuzzIgnore FuzzJournal; do
            c=$(corpus_of $t)
            ./.build/debug/$t -runs=0 corpus/$c >/dev/null 2>&1 || { echo "$t fails on its seed corpus"; exit 1; }
            for f in regressions/*; do ./.build/debug/$t "$f" >/dev/null 2>&1 || { echo "$t fails on $f"; exit 1; }; done
            echo "$t: seeds and regressions pass"
        done ;;
    Fuzz*)
        t=$1; secs=${2:-600}; shift; [ $# -gt 0 ] && shift
        c=$(corpus_of $t)
        mkdir -p .work/$c .work/artifacts/$t
        # JSON is hard to reach by mutating bytes: give FuzzJournal the journal's keys and tokens.
        dict=""
        [ "$t" = FuzzJournal ] && dict="-dict=journal.dict"
        # New inputs go to .work/<corpus> (not committed); the seeds in corpus/ stay as they are.
        exec nice -n 10 ./.build/debug/$t .work/$c corpus/$c -max_total_time="$secs" -print_final_stats=1 \
            -rss_limit_mb=2048 -timeout=20 -max_len=16384 -artifact_prefix=.work/artifacts/$t/ $dict "$@" ;;
    *) sed -n '2,5p' "$0"; exit 64 ;;
esac
