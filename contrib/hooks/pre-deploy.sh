#!/bin/sh
# patchkeeper pre-deploy hook: asks 'patchkeeper gate' what deploying REV would do to the app's hot
# patches and unregistered changes, and blocks the deploy (exits non-zero) when the gate says so.
#
#   pre-deploy.sh [--app APP] [--config FILE] [--policy strict|reapply] [--target] REV [-- PATCHKEEPER-ARGS...]
#
# REV is a commit, tag or branch that the app's repository (e.g. Capistrano's repo/ mirror) already
# has: fetch before calling this. Arguments after -- go to 'patchkeeper gate' as they are.
# The environment fills in what the flags leave out:
#   PATCHKEEPER_APP, PATCHKEEPER_CONFIG, PATCHKEEPER_TARGET, PATCHKEEPER_POLICY (default strict),
#   PATCHKEEPER        the patchkeeper binary (default: patchkeeper on PATH),
#   PATCHKEEPER_SKIP_GATE=1   emergency override: do not check, warn and let the deploy go ahead.
#
# The gate's report goes to stdout, so it lands in the deploy log; a verdict line goes to stderr.
# Exit: 0 deploy may go ahead, 1 blocked by the gate, 2 the gate could not decide (the deploy is
# blocked too: fail closed), 64 usage.
set -u

me="pre-deploy"
usage() {
    echo "usage: $0 [--app APP] [--config FILE] [--policy strict|reapply] [--target] REV [-- PATCHKEEPER-ARGS...]" >&2
    exit 64
}

app="${PATCHKEEPER_APP:-}"
config="${PATCHKEEPER_CONFIG:-}"
target="${PATCHKEEPER_TARGET:-}"
policy="${PATCHKEEPER_POLICY:-}"
pk="${PATCHKEEPER:-patchkeeper}"

while [ "$#" -gt 0 ]; do
    case "$1" in
        --app) [ "$#" -ge 2 ] || usage; app="$2"; shift 2 ;;
        --app=*) app="${1#*=}"; shift ;;
        --config) [ "$#" -ge 2 ] || usage; config="$2"; shift 2 ;;
        --config=*) config="${1#*=}"; shift ;;
        --target) [ "$#" -ge 2 ] || usage; target="$2"; shift 2 ;;
        --target=*) target="${1#*=}"; shift ;;
        --policy) [ "$#" -ge 2 ] || usage; policy="$2"; shift 2 ;;
        --policy=*) policy="${1#*=}"; shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        -*) echo "$me: unknown option $1" >&2; usage ;;
        *) [ -z "$target" ] || { echo "$me: more than one revision: $target, $1" >&2; usage; }
           target="$1"; shift ;;
    esac
done
[ -n "$target" ] || { echo "$me: no revision to check (give REV or set PATCHKEEPER_TARGET)" >&2; usage; }

if [ "${PATCHKEEPER_SKIP_GATE:-0}" = "1" ]; then
    echo "$me: WARNING: PATCHKEEPER_SKIP_GATE=1: deploying $target without checking its hot patches" >&2
    # The override goes to the audit trail, with the real user behind sudo.
    if command -v logger >/dev/null 2>&1; then
        logger -p authpriv.warning -t patchkeeper ${PATCHKEEPER_SYSLOG_SOCKET:+--socket "$PATCHKEEPER_SYSLOG_SOCKET"} -- \
            "app=${app:-?} event=gate-override target=$target user=${SUDO_USER:-$(id -un)} (uid $(id -u)) PATCHKEEPER_SKIP_GATE=1" || true
    fi
    exit 0
fi

# The command line: hook options first, then whatever came after --.
set -- gate --target "$target" ${policy:+--policy "$policy"} ${app:+--app "$app"} ${config:+--config "$config"} "$@"

report="$("$pk" "$@")"
status=$?
[ -z "$report" ] || printf '%s\n' "$report"
last="$(printf '%s\n' "$report" | grep -v '^[[:space:]]*$' | tail -n 1)"

case "$status" in
    0)  echo "$me: deploy of $target may go ahead: $last" >&2
        exit 0 ;;
    1)  echo "$me: deploy of $target BLOCKED by patchkeeper: $last" >&2
        echo "$me: record or retire the patches and changes above, deploy with --policy reapply, or set PATCHKEEPER_SKIP_GATE=1 to override" >&2
        exit 1 ;;
    *)  echo "$me: deploy of $target blocked: 'patchkeeper gate' could not decide (exit $status)${last:+: $last}" >&2
        echo "$me: fix the error above, or set PATCHKEEPER_SKIP_GATE=1 to deploy without the check" >&2
        exit 2 ;;
esac
