#!/usr/bin/env bash
# patchkeeper demo: builds the tool, fakes a deployed Rails-like app in a temp dir, hot-patches
# it by hand (the RSS cleanup job of the post-mortem story in README.md), and records the patch.
#
#   scripts/demo.sh          run it (the temp dir is removed at the end)
#   KEEP=1 scripts/demo.sh   keep the temp dir to look around afterwards
#
# Needs a Swift 6 toolchain on PATH. Installs libgit2-dev and pkg-config with apt-get (Debian)
# only when libgit2 is not found. Writes nothing outside the temp dir except the repo's .build/.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

step() { printf '\n==> %s\n' "$*"; }

# --- (a) build dependencies --------------------------------------------------------------------
step "Checking for libgit2 (via pkg-config) and git"
if ! pkg-config --exists libgit2 2>/dev/null || ! command -v git >/dev/null 2>&1; then
    echo "missing: installing libgit2-dev, pkg-config and git with apt-get"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO="sudo"
        else
            echo "demo.sh: libgit2 not found and not root (no sudo); run as root: apt-get install -y libgit2-dev pkg-config git" >&2
            exit 1
        fi
    fi
    $SUDO apt-get update
    $SUDO apt-get install -y libgit2-dev pkg-config git
fi
echo "libgit2 $(pkg-config --modversion libgit2), $(git --version)"

# --- (b) build ------------------------------------------------------------------------------------
step "Building patchkeeper (swift build)"
(cd "$REPO_DIR" && swift build)
BIN="$(cd "$REPO_DIR" && swift build --show-bin-path)/patchkeeper"
[ -x "$BIN" ] || { echo "demo.sh: $BIN was not built" >&2; exit 1; }

# --- (c) a throw-away app, its git repository and a "deploy" -------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/patchkeeper-demo.XXXXXX")"
cleanup() {
    if [ "${KEEP:-0}" = "1" ]; then
        echo
        echo "KEEP=1: the demo files stay in $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

# No user or system git config may leak in, and nothing is written to ~/.gitconfig.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
unset PATCHKEEPER_CONFIG
g() { git -c user.name="Dev Eloper" -c user.email="dev@example.org" -c init.defaultBranch=main "$@"; }

# Shows a command (temp dir abbreviated, arguments with spaces quoted), then runs it.
pk() {
    local shown="patchkeeper" arg
    for arg in "$@"; do
        arg="${arg//$TMP/\$TMP}"
        case "$arg" in
            *[[:space:]\"\<\>\;\&\|\(\)]*) shown+=" '$arg'" ;;  # no argument here has a ' in it
            *) shown+=" $arg" ;;
        esac
    done
    printf '$ %s\n' "$shown"
    "$BIN" "$@"
}

step "Creating the app repository in \$TMP/app (a small Rails-like tree under src/api)"
mkdir -p "$TMP/app/src/api/config" "$TMP/app/src/api/app/jobs" "$TMP/app/src/api/app/models"
cd "$TMP/app"
cat > README.md <<'EOF'
# obs (demo)
A stand-in for a Rails application; the API lives in src/api.
EOF
cat > src/api/Gemfile <<'EOF'
source 'https://rubygems.org'
gem 'rails', '~> 5.1'
gem 'clockwork'
EOF
cat > src/api/config/application.rb <<'EOF'
require_relative 'boot'
require 'rails/all'

module OBSApi
  class Application < Rails::Application
    config.active_job.queue_adapter = :delayed_job
  end
end
EOF
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
cat > src/api/app/jobs/cleanup_notifications.rb <<'EOF'
class CleanupNotifications < ApplicationJob
  # Deletes old RSS notifications; locks the notifications table while it runs.
  def perform
    Notification::RssFeedItem.cleanup
  end
end
EOF
cat > src/api/app/models/notification.rb <<'EOF'
class Notification < ApplicationRecord
end
EOF
g init -q .
g add -A
g commit -q -m "Initial import of the API"
REV="$(git rev-parse HEAD)"
git log --oneline

step "Deploying src/api into \$TMP/live (git archive, plus REVISION as Capistrano writes it)"
mkdir -p "$TMP/live"
git archive "$REV:src/api" | tar -x -C "$TMP/live"
echo "$REV" > "$TMP/live/REVISION"
(cd "$TMP/live" && find . -type f | sort)

# --- (d) patchkeeper -------------------------------------------------------------------------------
cd "$TMP"
step "Setting up the app: config entry, registry, deployed revision check"
pk init --config "$TMP/config.toml" --app obs-api --root "$TMP/live" --repo "$TMP/app" \
    --subdir src/api --registry "$TMP/registry"
echo "--- \$TMP/config.toml:"
cat "$TMP/config.toml"

step "An admin hot-patches production by hand: comment out the RSS cleanup job in config/clock.rb"
sed -i \
    -e "/clean up old RSS notifications/i\\  # Disabled by hand during the migration: it takes table locks (jane)" \
    -e "/clean up old RSS notifications/,/^  end\$/ s/^  /  # /" \
    "$TMP/live/config/clock.rb"
diff -u --label "deployed config/clock.rb" --label "live config/clock.rb" \
    <(git -C "$TMP/app" show "$REV:src/api/config/clock.rb") "$TMP/live/config/clock.rb" || true

step "Meanwhile the developers commit v2 (the hourly job now runs every 2 hours)"
sed -i 's/every(1.hour/every(2.hours/' "$TMP/app/src/api/config/clock.rb"
(cd "$TMP/app" && g commit -q -am "Refresh projects every 2 hours" && g tag v2 && git log --oneline -1)

step "scan sees a change nobody registered"
pk scan --config "$TMP/config.toml" || echo "(exit $?: findings)"

step "Before deploying v2, the gate says the hand edit would be lost"
pk gate --config "$TMP/config.toml" --target v2 || echo "(exit $?: the deploy is blocked)"

EXPIRES="$(date -d '+14 days' +%F)"
step "Recording the hot patch (expires $EXPIRES)"
pk record config/clock.rb --config "$TMP/config.toml" \
    --title "Disable the RSS feed cleanup job during the migration" \
    --reason "It takes table locks on notifications and collides with the migration." \
    --ticket "https://github.com/openSUSE/open-build-service/issues/3364" \
    --expires "$EXPIRES" \
    --author "Jane Admin <jane@example.org>"

step "Now the gate knows the patch and that reapply can restore it after the deploy"
pk gate --config "$TMP/config.toml" --target v2 --policy reapply

step "Listing the active patches"
pk list --config "$TMP/config.toml"

step "Showing patch 1"
pk show 1 --config "$TMP/config.toml"

step "The same list as JSON (for scripts)"
pk list --config "$TMP/config.toml" --format json

step "The registry's history"
pk log --config "$TMP/config.toml"

step "The registry is a plain git repository of .patch files"
printf '$ git -C $TMP/registry log --stat --format=%%s\n'
git -C "$TMP/registry" log --stat --format=%s

step "Deploying v2: the new tree replaces the live one, and with it the hot patch"
rm -rf "$TMP/live"; mkdir -p "$TMP/live"
git -C "$TMP/app" archive v2:src/api | tar -x -C "$TMP/live"
git -C "$TMP/app" rev-parse v2 > "$TMP/live/REVISION"
pk scan --config "$TMP/config.toml" || echo "(exit $?: the patch was overwritten — this is the post-mortem)"

step "reapply merges the patch onto v2 and rebases it"
pk reapply --config "$TMP/config.toml"
pk scan --config "$TMP/config.toml"

step "The login banner"
printf 'Welcome to the demo host.\n' > "$TMP/motd"
pk motd --config "$TMP/config.toml" --file "$TMP/motd"
cat "$TMP/motd"

step "Done"
