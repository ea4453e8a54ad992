#!/usr/bin/env bash
# Checks the hand-written man pages in docs/man against the binary and the man-page linters:
#   - every subcommand 'patchkeeper --help' lists has a '.SS NAME' section in patchkeeper.1;
#   - every long option 'patchkeeper help COMMAND' shows appears in patchkeeper.1;
#   - both pages pass 'mandoc -T lint -W style' (else 'groff -man -ww -z') without a message,
#     and render with 'man -l' when man is installed.
#
#   contrib/tests/check-man.sh                        uses .build/debug/patchkeeper (swift build)
#   PATCHKEEPER_BIN=path contrib/tests/check-man.sh   checks against that binary
#
# Exit: 0 all checks passed (a missing linter is reported as skipped), 1 a check failed.
set -uo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MAN1="$REPO_DIR/docs/man/patchkeeper.1"
MAN5="$REPO_DIR/docs/man/patchkeeper.toml.5"
BIN="${PATCHKEEPER_BIN:-$REPO_DIR/.build/debug/patchkeeper}"
[ -x "$BIN" ] || { echo "check-man: $BIN is not an executable (run 'swift build' or set PATCHKEEPER_BIN)" >&2; exit 1; }

failed=0
fail() { failed=$((failed + 1)); printf '  FAIL  %s\n' "$1"; }
pass() { printf '  ok    %s\n' "$1"; }

# The subcommands: the SUBCOMMANDS block of the top-level help, first word of each entry.
commands="$("$BIN" --help | sed -n '/^SUBCOMMANDS:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p; s/^  \([a-z][a-z-]*\)$/\1/p')"
[ -n "$commands" ] || { fail "no subcommands found in 'patchkeeper --help'"; exit 1; }
for cmd in $commands; do
    if grep -Eq "^\.SS $cmd( |$)" "$MAN1"; then pass "patchkeeper.1 has a section for '$cmd'"; else fail "patchkeeper.1 has no '.SS $cmd' section"; fi
    # The command's own options, and those of its subcommands (fleet report, fleet gate).
    subs="$("$BIN" help "$cmd" | sed -n '/^SUBCOMMANDS:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\)[ (].*/\1/p; s/^  \([a-z][a-z-]*\)$/\1/p')"
    for sub in "" $subs; do
        for opt in $("$BIN" help $cmd $sub | sed -n '/^OPTIONS:/,$p' | grep -oE '^  (-[a-zA-Z], )?--[a-z][a-z-]*' | grep -oE -- '--[a-z][a-z-]*'); do
            escaped="$(printf '%s' "$opt" | sed 's/-/\\-/g')"
            grep -Fq -- "$escaped" "$MAN1" || fail "patchkeeper.1 does not mention $opt (of '$cmd${sub:+ $sub}')"
        done
        [ -z "$sub" ] || grep -Eq "\\fB$sub\\fR|^\.B.* $sub|\"fleet $sub" "$MAN1" || fail "patchkeeper.1 does not name '$cmd $sub'"
    done
done

for page in "$MAN1" "$MAN5"; do
    name="$(basename "$page")"
    if command -v mandoc >/dev/null; then
        out="$(mandoc -T lint -W style "$page" 2>&1)"
        if [ -z "$out" ]; then pass "$name: mandoc -T lint -W style is silent"; else fail "$name: mandoc -T lint:"; printf '%s\n' "$out" | sed 's/^/        | /'; fi
    elif command -v groff >/dev/null; then
        out="$(groff -man -ww -z "$page" 2>&1)"
        if [ -z "$out" ]; then pass "$name: groff -ww is silent"; else fail "$name: groff -ww:"; printf '%s\n' "$out" | sed 's/^/        | /'; fi
    else
        echo "  skip  $name: neither mandoc nor groff is installed (apt-get install mandoc)"
    fi
    if command -v man >/dev/null; then
        if MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q '^NAME'; then pass "$name renders with man -l"; else fail "$name does not render with man -l"; fi
    else
        echo "  skip  $name: man is not installed"
    fi
done

if [ "$failed" -gt 0 ]; then echo "check-man: $failed check(s) failed"; exit 1; fi
echo "check-man: all checks passed"
