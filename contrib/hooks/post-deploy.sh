#!/bin/sh
# patchkeeper post-deploy hook: once the new release is live (its REVISION in place), puts the active
# hot patches back onto it with 'patchkeeper reapply' and refreshes the login banner with
# 'patchkeeper motd'.
#
#   post-deploy.sh [--app APP] [--config FILE] [-- PATCHKEEPER-ARGS...]
#
# Arguments after -- go to both patchkeeper commands as they are. The environment fills in what
# the flags leave out: PATCHKEEPER_APP, PATCHKEEPER_CONFIG, and PATCHKEEPER (the binary, default:
# patchkeeper on PATH).
#
# The banner is refreshed even when reapply reports conflicts, so the next login shows the patches
# that did not come back. Exit: 0 all reapplied and banner written, 1 some patches conflict
# (the release stays live; fix them by hand), 2 trouble, 64 usage.
set -u

me="post-deploy"
usage() {
    echo "usage: $0 [--app APP] [--config FILE] [-- PATCHKEEPER-ARGS...]" >&2
    exit 64
}

app="${PATCHKEEPER_APP:-}"
config="${PATCHKEEPER_CONFIG:-}"
pk="${PATCHKEEPER:-patchkeeper}"

while [ "$#" -gt 0 ]; do
    case "$1" in
        --app) [ "$#" -ge 2 ] || usage; app="$2"; shift 2 ;;
        --app=*) app="${1#*=}"; shift ;;
        --config) [ "$#" -ge 2 ] || usage; config="$2"; shift 2 ;;
        --config=*) config="${1#*=}"; shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        *) echo "$me: unknown argument $1" >&2; usage ;;
    esac
done

set -- ${app:+--app "$app"} ${config:+--config "$config"} "$@"

"$pk" reapply "$@"
reapplied=$?
"$pk" motd "$@"
banner=$?

if [ "$reapplied" -ge 2 ] || [ "$banner" -ne 0 ]; then
    echo "$me: trouble (reapply exit $reapplied, motd exit $banner): see the errors above" >&2
    exit 2
fi
if [ "$reapplied" -eq 1 ]; then
    echo "$me: some hot patches did not reapply cleanly (see above); the banner lists them" >&2
    exit 1
fi
exit 0
