#!/usr/bin/env bash
# Regenerates the example registry files in patches/ by running the real binary: a throw-away
# app in a temp dir is deployed, hot-patched three times by hand, each edit is recorded with
# 'patchkeeper record', and patch 0002 is retired. The resulting .patch files are copied into
# patches/ (replacing the old ones); nothing else outside the temp dir is written except .build/.
#
#   scripts/make-example-patches.sh
#
# Needs Swift 6, libgit2 (pkg-config) and git. The Date, Expires and Retired-At lines change on
# every run; the Base commit id and the diffs do not.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$REPO_DIR/patches"

(cd "$REPO_DIR" && swift build)
BIN="$(cd "$REPO_DIR" && swift build --show-bin-path)/patchkeeper"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/patchkeeper-examples.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
unset PATCHKEEPER_CONFIG
g() { git -c user.name="Dev Eloper" -c user.email="dev@example.org" -c init.defaultBranch=main "$@"; }

# --- the app: a small Rails-like tree under src/api -----------------------------------------------
mkdir -p "$TMP/app/src/api/config" "$TMP/app/src/api/bin" "$TMP/app/src/api/app/jobs"
cd "$TMP/app"
cat > src/api/config/clock.rb <<'EOF'
require File.dirname(__FILE__) + '/boot'
require File.dirname(__FILE__) + '/environment'

require 'clockwork'

module Clockwork
  every(1.hour, 'refresh dirty projects') do
    ProjectRefreshJob.perform_later
  end

  every(1.day, 'clean up old RSS notifications', at: '00:30') do
    CleanupNotifications.perform_later
  end
end
EOF
cat > src/api/config/puma.rb <<'EOF'
# Puma configuration for the API.
workers Integer(ENV.fetch('WEB_CONCURRENCY', 4))
threads 1, 5

# Seconds a worker may spend on one request before the master kills it.
worker_timeout 60

preload_app!
EOF
cat > src/api/bin/delayed_job <<'EOF'
#!/usr/bin/env ruby
require File.expand_path(File.join(File.dirname(__FILE__), '..', 'config', 'environment'))
require 'delayed/command'
Delayed::Command.new(ARGV).daemonize
EOF
cat > src/api/app/jobs/cleanup_notifications.rb <<'EOF'
class CleanupNotifications < ApplicationJob
  # Deletes old RSS notifications; locks the notifications table while it runs.
  def perform
    Notification::RssFeedItem.cleanup
  end
end
EOF
g init -q .
g add -A
# A fixed commit date keeps the Base commit id the same on every run.
GIT_AUTHOR_DATE="2026-11-02T09:00:00Z" GIT_COMMITTER_DATE="2026-11-02T09:00:00Z" \
    g commit -q -m "Initial import of the API"
REV="$(git rev-parse HEAD)"

# --- deploy (Capistrano style: an export of src/api plus a REVISION file) ----------------------------
mkdir -p "$TMP/live"
git archive "$REV:src/api" | tar -x -C "$TMP/live"
echo "$REV" > "$TMP/live/REVISION"
# bin/delayed_job is committed without its exec bit (mode 100644), so it is not executable live.

cd "$TMP"
"$BIN" init --config "$TMP/config.toml" --app obs-api --root "$TMP/live" --repo "$TMP/app" \
    --subdir src/api --registry "$TMP/registry"
pk() { "$BIN" "$@" --config "$TMP/config.toml"; }

# 0001: the post-mortem's patch: disable the recurring RSS cleanup job that takes table locks.
sed -i \
    -e "/clean up old RSS notifications/i\\  # Disabled by hand during the migration: it takes table locks (jane)" \
    -e "/clean up old RSS notifications/,/^  end\$/ s/^  /  # /" \
    "$TMP/live/config/clock.rb"
pk record config/clock.rb \
    --title "Disable the RSS feed cleanup job during the migration" \
    --reason "The daily CleanupNotifications job takes table locks on notifications; while the
migration runs they collide and the migration hits lock wait timeouts.
Re-enable the job once the migration has finished." \
    --ticket "https://github.com/openSUSE/open-build-service/issues/3364" \
    --expires "$(date -d '+14 days' +%F)" \
    --author "Jane Admin <jane@example.org>"

# 0002: raise the Puma worker timeout.
sed -i 's/^worker_timeout 60$/worker_timeout 180/' "$TMP/live/config/puma.rb"
pk record config/puma.rb \
    --title "Raise the Puma worker timeout to 180 seconds" \
    --reason "Large project rebuild requests take longer than 60s while the migration runs; workers were killed mid-request." \
    --expires "$(date -d '+7 days' +%F)" \
    --author "Tom Operator <tom@example.org>"

# 0003: a new executable helper script, and chmod +x on bin/delayed_job.
cat > "$TMP/live/bin/drain_queue" <<'EOF'
#!/bin/sh
# Stops the delayed_job workers after their current job and waits until they are gone.
set -e
cd "$(dirname "$0")/.."
bin/delayed_job stop
while pgrep -f 'delayed_job' >/dev/null; do sleep 5; done
EOF
chmod +x "$TMP/live/bin/drain_queue" "$TMP/live/bin/delayed_job"
pk record bin/drain_queue bin/delayed_job \
    --title "Add a queue drain script and make bin/delayed_job executable" \
    --reason "The workers must be stopped cleanly before the migration; bin/delayed_job is committed without its exec bit." \
    --ticket "https://github.com/openSUSE/open-build-service/issues/3364" \
    --author "Jane Admin <jane@example.org>"

# Retire 0002: the timeout was put back by hand once the load was normal again.
sed -i 's/^worker_timeout 180$/worker_timeout 60/' "$TMP/live/config/puma.rb"
pk retire 2 --reason "Load is back to normal; the timeout is 60 seconds again." \
    --author "Tom Operator <tom@example.org>"

pk list --all
pk log

# --- copy the registry files out ---------------------------------------------------------------------
mkdir -p "$OUT"
rm -f "$OUT"/[0-9][0-9][0-9][0-9]-*.patch
cp "$TMP"/registry/*.patch "$OUT"/
echo "wrote:"
ls -1 "$OUT"/*.patch
