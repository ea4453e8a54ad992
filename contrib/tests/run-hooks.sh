#!/usr/bin/env bash
# Tests contrib/ against throw-away fixture apps in a temp dir:
#   - the systemd unit's ExecStart line (paths moved into the temp dir), its exit codes against
#     SuccessExitStatus=, the metrics file and the motd drop-in it writes;
#   - contrib/hooks/pre-deploy.sh (patchkeeper gate) and post-deploy.sh (reapply + motd), with
#     --app/--config and with PATCHKEEPER_APP/PATCHKEEPER_CONFIG;
#   - contrib/capistrano/patchkeeper.rake in real 'cap' deploys (SSHKit's local backend, no ssh),
#     when Capistrano is installed (Debian: apt-get install capistrano);
#   - contrib/ansible/deploy-example.yml and its role against localhost, when ansible-playbook is
#     installed (Debian: apt-get install ansible).
# Checks that need 'patchkeeper gate' or 'reapply' are skipped, with a message, when the binary
# does not have them.
#
#   contrib/tests/run-hooks.sh                     builds with 'swift build' first
#   PATCHKEEPER_BIN=path contrib/tests/run-hooks.sh   tests that binary instead
#   KEEP=1 contrib/tests/run-hooks.sh              keeps the temp dir
#
# Exit: 0 all checks passed (some may be skipped), 1 a check failed.
set -uo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CONTRIB="$REPO_DIR/contrib"

if [ -n "${PATCHKEEPER_BIN:-}" ]; then
    BIN="$PATCHKEEPER_BIN"
else
    (cd "$REPO_DIR" && swift build) >&2 || { echo "run-hooks: swift build failed" >&2; exit 1; }
    BIN="$(cd "$REPO_DIR" && swift build --show-bin-path)/patchkeeper"
fi
[ -x "$BIN" ] || { echo "run-hooks: $BIN is not an executable" >&2; exit 1; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/patchkeeper-hooks.XXXXXX")"
cleanup() { if [ "${KEEP:-0}" = "1" ]; then echo "KEEP=1: files kept in $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT

# No user or system git config leaks in; nothing is written to the home directory.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 HOME="$TMP/home" NO_COLOR=1 LC_ALL=C.UTF-8
unset PATCHKEEPER_CONFIG PATCHKEEPER_APP PATCHKEEPER_TARGET PATCHKEEPER_POLICY PATCHKEEPER_SKIP_GATE
mkdir -p "$HOME"
export PATCHKEEPER="$BIN"   # the binary the hooks run

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); printf '  ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf '  FAIL  %s\n' "$1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/        | /'; }
skip() { skipped=$((skipped + 1)); printf '  skip  %s\n' "$1"; }
section() { printf '\n== %s\n' "$1"; }

# run DESC EXPECTED-STATUS CMD...: runs CMD with stdout/stderr in $OUT/$ERR, checks the status.
OUT="$TMP/stdout" ERR="$TMP/stderr"
run() {
    local desc="$1" want="$2" got
    shift 2
    "$@" >"$OUT" 2>"$ERR"
    got=$?
    if [ "$got" = "$want" ]; then pass "$desc (exit $got)"; else fail "$desc: exit $got, wanted $want" "$(tail -n 15 "$OUT" "$ERR")"; fi
}
# expect DESC FILE PATTERN: FILE has a line matching the extended regex PATTERN.
expect() { if grep -Eq -- "$3" "$2" 2>/dev/null; then pass "$1"; else fail "$1: no /$3/ in $2" "$(tail -n 15 "$2" 2>&1)"; fi; }
# expect_output DESC PATTERN: the last run's stdout or stderr has a line matching PATTERN.
expect_output() { cat "$OUT" "$ERR" >"$TMP/output"; expect "$1" "$TMP/output" "$2"; }

g() { git -c user.name="Dev Eloper" -c user.email=dev@example.org -c init.defaultBranch=main -c commit.gpgsign=false "$@"; }

# make_app DIR: an app repository in DIR/app, tags v1, v2 (changes workers.yml only) and
# v3 (changes the lines the hot patch below touches).
make_app() {
    local repo="$1/app"
    mkdir -p "$repo/src/api/config" "$repo/src/api/app/models"
    cat >"$repo/src/api/config/clock.rb" <<'EOF'
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
    printf 'timeout: 30\nconcurrency: 4\n' >"$repo/src/api/config/workers.yml"
    printf 'class User\nend\n' >"$repo/src/api/app/models/user.rb"
    g -C "$repo" init -q
    g -C "$repo" add -A && g -C "$repo" commit -qm v1 && g -C "$repo" tag v1
    printf 'timeout: 60\nconcurrency: 4\n' >"$repo/src/api/config/workers.yml"
    g -C "$repo" commit -qam "Raise the worker timeout" && g -C "$repo" tag v2
    sed -i "s/at: '00:30'/at: '03:30'/" "$repo/src/api/config/clock.rb"
    g -C "$repo" commit -qam "Move the RSS cleanup to 03:30" && g -C "$repo" tag v3
}

# deploy REPO ROOT REV: ROOT holds REV's src/api and a REVISION file, as Capistrano leaves it.
deploy() {
    rm -rf "$2" && mkdir -p "$2"
    git -C "$1" archive "$3:src/api" | tar -x -C "$2"
    git -C "$1" rev-parse "$3^{commit}" >"$2/REVISION"
}

# hot_patch ROOT: comments out the RSS cleanup job by hand.
hot_patch() {
    sed -i -e "/clean up old RSS notifications/,/^  end\$/ s/^  /  # /" "$1/config/clock.rb"
}

# write_config FILE ROOT REPO REGISTRY MOTD: a config with the one app obs-api (subdir src/api).
write_config() {
    cat >"$1" <<EOF
[apps.obs-api]
root = "$2"
repo = "$3"
subdir = "src/api"
registry = "$4"
motd = "$5"
EOF
}

has_command() { "$BIN" "$1" --help >/dev/null 2>&1; }
HAVE_GATE=no HAVE_REAPPLY=no
has_command gate && HAVE_GATE=yes
has_command reapply && HAVE_REAPPLY=yes

echo "run-hooks: $BIN ($("$BIN" --version)); gate: $HAVE_GATE, reapply: $HAVE_REAPPLY; temp dir $TMP"

# --- the fixture: app repo, live tree at v1, config with a motd drop-in -----------------------------
F="$TMP/fixture"
mkdir -p "$F/textfile" "$F/motd.d"
make_app "$F"
deploy "$F/app" "$F/live" v1
CFG="$F/config.toml"
MOTD="$F/motd.d/50-patchkeeper-obs-api"
write_config "$CFG" "$F/live" "$F/app" "$F/registry" "$MOTD"
PROM="$F/textfile/patchkeeper-obs-api.prom"

section "setup"
run "patchkeeper init creates the registry for the configured app" 0 "$BIN" init --config "$CFG" --app obs-api

# --- the systemd unit's ExecStart line -----------------------------------------------------------
section "systemd: the ExecStart line of patchkeeper-scan@obs-api.service"
UNIT="$CONTRIB/systemd/patchkeeper-scan@.service"
exec_line="$(sed -n 's/^ExecStart=//p' "$UNIT")"
success_codes="0 $(sed -n 's/^SuccessExitStatus=//p' "$UNIT")"
case "$exec_line" in
    *[\"\'\\\$]*) fail "ExecStart has quoting or variables this test does not parse: $exec_line" ;;
esac
exec_line="${exec_line//%i/obs-api}"
exec_line="${exec_line//\/usr\/bin\/patchkeeper/$BIN}"
exec_line="${exec_line//\/var\/lib\/node_exporter\/textfile_collector/$F/textfile}"
read -r -a unit_argv <<<"$exec_line"
echo "  ExecStart: ${exec_line//$TMP/\$TMP}   (PATCHKEEPER_CONFIG=\$TMP/fixture/config.toml, umask 077)"

# run_unit DESC UNIT-RESULT(success|failure): runs the ExecStart line as systemd would (the config
# from PATCHKEEPER_CONFIG instead of /etc, the unit's UMask=0077) and checks systemd's verdict.
run_unit() {
    local desc="$1" want="$2" status verdict=failure code
    (umask 077; PATCHKEEPER_CONFIG="$CFG" "${unit_argv[@]}") >"$OUT" 2>"$ERR"
    status=$?
    for code in $success_codes; do [ "$status" = "$code" ] && verdict=success; done
    if [ "$verdict" = "$want" ]; then pass "$desc: exit $status, the unit's result: $verdict"
    else fail "$desc: exit $status, the unit's result would be $verdict, wanted $want" "$(tail -n 15 "$OUT" "$ERR")"; fi
}
prom_mode() { stat -c %a "$PROM" 2>/dev/null; }

run_unit "a clean tree" success
expect "the metrics file has the active patch count" "$PROM" '^patchkeeper_active_patches\{app="obs-api"\} 0$'
for state in applied overwritten modified partial; do
    expect "  ... and the state=$state series" "$PROM" "^patchkeeper_patches\\{app=\"obs-api\",state=\"$state\"\\} 0\$"
done
expect "  ... and HELP/TYPE lines" "$PROM" '^# TYPE patchkeeper_last_scan_timestamp_seconds gauge$'
if [ "$(prom_mode)" = 644 ]; then pass "the metrics file is mode 0644 under UMask=0077"; else fail "the metrics file is mode $(prom_mode), not 644"; fi
if compgen -G "$F/textfile/.*pk-tmp*" >/dev/null; then fail "a temp file was left in the textfile directory"; else pass "no temp file is left in the textfile directory"; fi
if [ -e "$MOTD" ]; then fail "a motd drop-in was written with nothing active"; else pass "no motd drop-in while nothing is active"; fi

hot_patch "$F/live"
run "an admin records a hot patch" 0 "$BIN" record config/clock.rb --config "$CFG" \
    --title "Disable the RSS feed cleanup job" --reason "It takes table locks during the migration." \
    --author "Jane Admin <jane@example.org>"
run_unit "an applied patch" success
expect "the metrics count it as applied" "$PROM" '^patchkeeper_patches\{app="obs-api",state="applied"\} 1$'
expect "the motd drop-in has the banner" "$MOTD" 'MONKEY PATCHES ACTIVE on obs-api: 1'
if [ "$(stat -c %a "$MOTD" 2>/dev/null)" = 644 ]; then pass "the motd drop-in is mode 0644 (readable at login)"; else fail "the motd drop-in is mode $(stat -c %a "$MOTD" 2>/dev/null)"; fi

echo "  # changed by hand" >>"$F/live/app/models/user.rb"
run_unit "an unregistered change (scan exits 1: SuccessExitStatus=1)" success
expect "the metrics count the unregistered change" "$PROM" '^patchkeeper_unregistered_changes\{app="obs-api"\} 1$'
expect "the motd names it" "$MOTD" 'unregistered change( since [0-9-]+)?: src/api/app/models/user.rb'
git -C "$F/app" show v1:src/api/app/models/user.rb >"$F/live/app/models/user.rb"

mv "$F/textfile" "$F/textfile.away"
run_unit "a missing textfile directory" failure
mv "$F/textfile.away" "$F/textfile"

# --- pre-deploy.sh ---------------------------------------------------------------------------------
section "hooks: pre-deploy.sh (patchkeeper gate)"
PRE="$CONTRIB/hooks/pre-deploy.sh" POST="$CONTRIB/hooks/post-deploy.sh"
run "no revision is a usage error" 64 "$PRE" --app obs-api --config "$CFG"
run "PATCHKEEPER_SKIP_GATE=1 lets anything through" 0 env PATCHKEEPER_SKIP_GATE=1 "$PRE" --app obs-api --config "$CFG" v3
expect "  ... with a warning" "$ERR" 'WARNING: PATCHKEEPER_SKIP_GATE=1'
if [ "$HAVE_GATE" = yes ]; then
    run "strict policy: a patch that is not upstreamed blocks v2" 1 "$PRE" --app obs-api --config "$CFG" v2
    expect "  ... the gate's report is on stdout" "$OUT" '^0001 +reapplies'
    expect "  ... the gate's last line is in the verdict" "$ERR" '^pre-deploy: deploy of v2 BLOCKED by patchkeeper: gate: BLOCKED'
    run "reapply policy from the environment (PATCHKEEPER_APP/CONFIG/POLICY): v2 may go ahead" 0 \
        env PATCHKEEPER_APP=obs-api PATCHKEEPER_CONFIG="$CFG" PATCHKEEPER_POLICY=reapply "$PRE" --target v2
    expect "  ... saying so with the gate's last line" "$ERR" '^pre-deploy: deploy of v2 may go ahead: gate: safe'
    run "reapply policy: v3 conflicts with the patch and is blocked" 1 "$PRE" --app=obs-api --config="$CFG" --policy reapply v3
    expect "  ... the report names the conflict" "$OUT" 'conflicts'
    echo "  # changed by hand" >>"$F/live/app/models/user.rb"
    run "reapply policy: an unregistered change the deploy would overwrite blocks" 1 "$PRE" --app obs-api --config "$CFG" --policy reapply v2
    expect "  ... the report lists it as lost" "$OUT" 'app/models/user.rb'
    git -C "$F/app" show v1:src/api/app/models/user.rb >"$F/live/app/models/user.rb"
    run "an unknown revision: the gate cannot decide, the deploy is blocked" 2 "$PRE" --app obs-api --config "$CFG" no-such-rev
    expect "  ... saying how to override" "$ERR" 'PATCHKEEPER_SKIP_GATE=1'
    run "arguments after -- go to patchkeeper (--format json)" 1 "$PRE" --app obs-api --config "$CFG" v2 -- --format json
    expect "  ... JSON on stdout" "$OUT" '"blocked" *: *true'
else
    skip "gate checks: '$BIN gate --help' failed (gate not merged yet?)"
fi
run "a missing patchkeeper binary blocks the deploy" 2 env PATCHKEEPER="$TMP/no-such-binary" "$PRE" --app obs-api --config "$CFG" v2

# --- post-deploy.sh ---------------------------------------------------------------------------------
section "hooks: post-deploy.sh (patchkeeper reapply, motd)"
if [ "$HAVE_REAPPLY" = yes ]; then
    deploy "$F/app" "$F/live" v2
    run_unit "after deploying v2 the patch is overwritten" success
    expect "the metrics count it as overwritten" "$PROM" '^patchkeeper_patches\{app="obs-api",state="overwritten"\} 1$'
    run "post-deploy.sh --app --config reapplies the patch and writes the motd" 0 "$POST" --app obs-api --config "$CFG"
    expect "  ... reapply's report" "$OUT" '^reapply: done'
    expect "  ... motd's report" "$OUT" '^motd: (written|unchanged)'
    expect "the patch is back in the live file" "$F/live/config/clock.rb" "^  # every\\(1.day, 'clean up old RSS"
    expect "v2's own change is kept" "$F/live/config/workers.yml" '^timeout: 60$'
    expect "the motd shows it applied" "$MOTD" '0001 .* applied$'
    run_unit "a scan after the post-deploy hook" success
    expect "the metrics count it as applied again" "$PROM" '^patchkeeper_patches\{app="obs-api",state="applied"\} 1$'
    deploy "$F/app" "$F/live" v3
    run "post-deploy.sh from the environment: v3 conflicts" 1 env PATCHKEEPER_APP=obs-api PATCHKEEPER_CONFIG="$CFG" "$POST"
    expect "  ... and says so" "$ERR" 'did not reapply cleanly'
    expect "the motd still shows the patch, overwritten" "$MOTD" 'OVERWRITTEN'
    run "an unknown app is trouble" 2 "$POST" --app nope --config "$CFG"
else
    skip "post-deploy checks: '$BIN reapply --help' failed (reapply not merged yet?)"
fi

# --- Capistrano -------------------------------------------------------------------------------------
section "Capistrano: contrib/capistrano/patchkeeper.rake"
if ! command -v cap >/dev/null 2>&1; then
    skip "Capistrano checks: 'cap' is not installed (Debian: apt-get install capistrano)"
elif [ "$HAVE_GATE" != yes ] || [ "$HAVE_REAPPLY" != yes ]; then
    skip "Capistrano checks: they need gate and reapply"
else
    C="$TMP/cap"
    mkdir -p "$C/project/config/deploy" "$C/project/lib/capistrano/tasks" "$C/tmp"
    make_app "$C"
    cp "$CONTRIB/capistrano/patchkeeper.rake" "$C/project/lib/capistrano/tasks/"
    cat >"$C/project/Capfile" <<'EOF'
require "capistrano/setup"
require "capistrano/deploy"
require "capistrano/scm/git"
install_plugin Capistrano::SCM::Git
Dir.glob("lib/capistrano/tasks/*.rake").each { |r| import r }
EOF
    cat >"$C/project/config/deploy.rb" <<EOF
set :application, "obs-api"
set :repo_url, "$C/app"
set :repo_tree, "src/api"
set :branch, ENV.fetch("REV")
set :deploy_to, "$C/srv"
set :tmp_dir, "$C/tmp"
set :keep_releases, 5
set :sshkit_backend, SSHKit::Backend::Local
set :format_options, color: false
set :patchkeeper_app, "obs-api"
set :patchkeeper_config, "$C/config.toml"
set :patchkeeper_hooks, "$CONTRIB/hooks"
set :patchkeeper_policy, ENV["POLICY"]
set :patchkeeper_env, { patchkeeper: "$BIN" }
EOF
    echo 'server "localhost", roles: %w[app]' >"$C/project/config/deploy/test.rb"
    write_config "$C/config.toml" "$C/srv/current" "$C/srv/repo" "$C/registry" "$C/motd"
    # Release directories are named by the second: never two deploys in one.
    cap_deploy() { sleep 1; (cd "$C/project" && env REV="$1" POLICY="${2:-}" cap test deploy); }
    cap_deploy_skipping_gate() { (export PATCHKEEPER_SKIP_GATE=1; cap_deploy "$@"); }
    releases() { find "$C/srv/releases" -mindepth 1 -maxdepth 1 | wc -l; }
    current_rev() { cat "$C/srv/current/REVISION" 2>/dev/null; }

    run "first deploy (v1): no current/ yet, the gate is skipped" 0 cap_deploy v1
    expect_output "  ... and says so" 'gate skipped'
    run "patchkeeper init on current/ and Capistrano's repo mirror" 0 "$BIN" init --config "$C/config.toml"
    hot_patch "$C/srv/current"
    run "an admin records a hot patch in current/" 0 "$BIN" record config/clock.rb --config "$C/config.toml" \
        --title "Disable the RSS feed cleanup job" --reason "table locks"
    v1="$(current_rev)" before="$(releases)"
    run "deploy v2 with the strict policy: the gate blocks it" 1 cap_deploy v2
    expect_output "  ... with the gate's verdict in the log" 'deploy of [0-9a-f]+ BLOCKED by patchkeeper: gate: BLOCKED'
    if [ "$(current_rev)" = "$v1" ]; then pass "current/ still runs v1"; else fail "current/ moved to $(current_rev)"; fi
    if [ "$(releases)" = "$before" ]; then pass "the blocked deploy left no release directory"; else fail "the blocked deploy left a release directory"; fi
    expect "the hot patch is still live" "$C/srv/current/config/clock.rb" "^  # every\\(1.day"
    run "deploy v2 with POLICY=reapply: the gate lets it through, reapply puts the patch back" 0 cap_deploy v2 reapply
    if [ "$(current_rev)" = "$(git -C "$C/app" rev-parse v2)" ]; then pass "current/ runs v2"; else fail "current/ runs $(current_rev), not v2"; fi
    expect "the patch is live in the new release" "$C/srv/current/config/clock.rb" "^  # every\\(1.day"
    expect "v2's change is there too" "$C/srv/current/config/workers.yml" '^timeout: 60$'
    expect "the motd block was refreshed" "$C/motd" '0001 .* applied$'
    expect_output "the deploy log shows reapply's report" 'reapply: done'
    run "deploy v3 with POLICY=reapply: the patch would conflict, the gate blocks it" 1 cap_deploy v3 reapply
    if [ "$(current_rev)" = "$(git -C "$C/app" rev-parse v2)" ]; then pass "current/ still runs v2"; else fail "current/ runs $(current_rev)"; fi
    run "PATCHKEEPER_SKIP_GATE=1 deploys v3 anyway; the conflict is reported, the deploy finishes" 0 \
        cap_deploy_skipping_gate v3
    expect_output "  ... logging that reapply failed" 'hot patches did not all come back'
    expect "the motd shows the patch overwritten" "$C/motd" 'OVERWRITTEN'
    expect "deploy:log_revision still ran" "$C/srv/revisions.log" "$(git -C "$C/app" rev-parse --short=7 v3)"
fi

# --- Ansible ----------------------------------------------------------------------------------------
section "Ansible: contrib/ansible/deploy-example.yml and roles/patchkeeper"
if ! command -v ansible-playbook >/dev/null 2>&1; then
    skip "Ansible checks: 'ansible-playbook' is not installed (Debian: apt-get install ansible)"
elif [ "$HAVE_GATE" != yes ] || [ "$HAVE_REAPPLY" != yes ]; then
    skip "Ansible checks: they need gate and reapply"
else
    A="$TMP/ansible"
    mkdir -p "$A/home"
    make_app "$A"
    deploy "$A/app" "$A/live" v1
    write_config "$A/config.toml" "$A/live" "$A/app" "$A/registry" "$A/motd"
    run "patchkeeper init" 0 "$BIN" init --config "$A/config.toml"
    hot_patch "$A/live"
    run "an admin records a hot patch" 0 "$BIN" record config/clock.rb --config "$A/config.toml" \
        --title "Disable the RSS feed cleanup job" --reason "table locks"
    cat >"$A/vars.json" <<EOF
{"deploy_hosts": "localhost", "app_repo": "$A/app", "app_root": "$A/live", "app_subdir": "src/api",
 "patchkeeper_app": "obs-api", "patchkeeper_config": "$A/config.toml", "patchkeeper_hooks": "$CONTRIB/hooks",
 "patchkeeper_environment": {"PATCHKEEPER": "$BIN"}, "patchkeeper_become": false}
EOF
    play() {
        env ANSIBLE_HOME="$A/home" ANSIBLE_LOCAL_TEMP="$A/home/tmp" ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 \
            ANSIBLE_PYTHON_INTERPRETER=auto_silent ANSIBLE_LOCALHOST_WARNING=0 \
            ansible-playbook -i localhost, -c local "$CONTRIB/ansible/deploy-example.yml" -e "@$A/vars.json" "$@"
    }
    v1="$(cat "$A/live/REVISION")"
    run "deploy v2 with the strict policy: the play fails in pre_tasks" 2 play -e release=v2
    expect_output "  ... with the gate's verdict" 'blocked the deploy of v2'
    if [ "$(cat "$A/live/REVISION")" = "$v1" ]; then pass "the live tree still runs v1"; else fail "the live tree moved on"; fi
    run "deploy v2 with patchkeeper_policy=reapply: gate, deploy, reapply" 0 play -e release=v2 -e patchkeeper_policy=reapply
    if [ "$(cat "$A/live/REVISION")" = "$(git -C "$A/app" rev-parse v2)" ]; then pass "the live tree runs v2"; else fail "the live tree is not at v2"; fi
    expect "the patch is live again" "$A/live/config/clock.rb" "^  # every\\(1.day"
    expect "the motd block was refreshed" "$A/motd" '0001 .* applied$'
    expect_output "the reapply task reported a change" 'changed: \[localhost\] .*|localhost *: ok=[0-9]+ +changed=[2-9]'
    run "deploy v3 with patchkeeper_policy=reapply: blocked, the patch would conflict" 2 play -e release=v3 -e patchkeeper_policy=reapply
    run "deploy v3 with patchkeeper_skip_gate=true: deployed, reapply conflicts, the play warns and succeeds" 0 \
        play -e release=v3 -e patchkeeper_skip_gate=true
    expect_output "  ... with the warning" 'some hot patches did not reapply cleanly'
    run "the same with patchkeeper_fail_on_conflict=true fails the play" 2 \
        play -e release=v3 -e patchkeeper_skip_gate=true -e patchkeeper_fail_on_conflict=true

    # tasks/main.yml writes the config from patchkeeper_apps with templates/config.toml.j2: render
    # it (the apt and systemd tasks are not run here) and let patchkeeper read the result.
    cat >"$A/render.yml" <<YAML
- hosts: localhost
  gather_facts: false
  vars:
    patchkeeper_apps:
      obs-api: {root: "$A/live", repo: "$A/app", subdir: src/api, registry: "$A/registry", ignore: ["tmp/", "log/"], trusted: false}
      web.v2: {root: "$A/web \\"quoted\\"", motd: /etc/motd}
  tasks:
    - name: Render the role's config template
      ansible.builtin.template:
        src: "$CONTRIB/ansible/roles/patchkeeper/templates/config.toml.j2"
        dest: "$A/rendered.toml"
        mode: "0644"
YAML
    run "the role's config template renders" 0 env ANSIBLE_HOME="$A/home" ANSIBLE_LOCAL_TEMP="$A/home/tmp" \
        ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_PYTHON_INTERPRETER=auto_silent \
        ansible-playbook -i localhost, -c local "$A/render.yml"
    run "patchkeeper reads the rendered config (list --app obs-api)" 0 "$BIN" list --config "$A/rendered.toml" --app obs-api
    expect "  ... an app name with a dot is one quoted table" "$A/rendered.toml" '^\[apps\."web\.v2"\]$'
    expect "  ... a quote in a path is escaped" "$A/rendered.toml" '^root = ".*web \\"quoted\\""$'
fi

section "make install / uninstall (DESTDIR), without building"
if command -v make >/dev/null; then
    M="$TMP/make"
    mkdir -p "$M/dist/man" "$M/dist/completions"
    run "make install with an empty dist/ stops and says to run 'make' first" 2 \
        make -s -C "$REPO_DIR" install DIST="$M/dist" DESTDIR="$M/root"
    expect_output "  ... naming the missing files" "missing .*/dist/patchkeeper"
    expect_output "  ... and what to do" "run 'make' first"
    if [ -e "$M/root" ]; then fail "make install wrote into DESTDIR before failing"; else pass "nothing was installed"; fi
    cp "$BIN" "$M/dist/patchkeeper"
    cp "$REPO_DIR/docs/man/patchkeeper.1" "$REPO_DIR/docs/man/patchkeeper.toml.5" "$M/dist/man/"
    "$BIN" --generate-completion-script bash | sed '1{/^#!/d}' >"$M/dist/completions/patchkeeper"
    "$BIN" --generate-completion-script zsh >"$M/dist/completions/_patchkeeper"
    "$BIN" --generate-completion-script fish >"$M/dist/completions/patchkeeper.fish"
    run "make install DESTDIR PREFIX=/usr" 0 make -s -C "$REPO_DIR" install DIST="$M/dist" DESTDIR="$M/root" PREFIX=/usr
    for f in usr/bin/patchkeeper usr/share/man/man1/patchkeeper.1 usr/share/man/man5/patchkeeper.toml.5 \
             usr/share/bash-completion/completions/patchkeeper usr/lib/systemd/system/patchkeeper-scan@.service \
             usr/lib/tmpfiles.d/patchkeeper.conf etc/patchkeeper/config.toml.example \
             usr/share/patchkeeper/hooks/pre-deploy.sh usr/share/ansible/roles/patchkeeper/tasks/main.yml; do
        if [ -f "$M/root/$f" ]; then pass "installed /$f"; else fail "/$f was not installed"; fi
    done
    if [ -d "$M/root/etc/patchkeeper/conf.d" ]; then pass "installed /etc/patchkeeper/conf.d/"; else fail "no /etc/patchkeeper/conf.d/"; fi
    if head -n 1 "$M/root/usr/share/bash-completion/completions/patchkeeper" | grep -q '^#!'; then
        fail "the bash completion starts with a #! line"
    else
        pass "the bash completion has no #! line"
    fi
    expect "the unit runs the installed binary" "$M/root/usr/lib/systemd/system/patchkeeper-scan@.service" '^ExecStart=/usr/bin/patchkeeper '
    expect "the unit may write /run/motd.d" "$M/root/usr/lib/systemd/system/patchkeeper-scan@.service" '^ReadWritePaths=.*-/run/motd.d'
    # Files an admin added beside the installed ones, and a neighbour of an overridden DOCDIR.
    printf 'mine\n' >"$M/root/usr/share/doc/patchkeeper/my-notes"
    printf 'mine\n' >"$M/root/usr/share/patchkeeper/hooks/local.sh"
    printf 'mine\n' >"$M/root/usr/share/ansible/roles/patchkeeper/tasks/local.yml"
    mkdir -p "$M/root/usr/share/doc/other"
    printf 'theirs\n' >"$M/root/usr/share/doc/other/README"
    run "make uninstall with DOCDIR overridden to its parent removes no directory" 0 \
        make -s -C "$REPO_DIR" uninstall DIST="$M/dist" DESTDIR="$M/root" PREFIX=/usr DOCDIR=/usr/share/doc DATADIR=/usr/share
    if [ -f "$M/root/usr/share/doc/other/README" ]; then pass "  ... a neighbour of DOCDIR was kept"; else fail "  ... a neighbour of DOCDIR was removed"; fi
    run "make uninstall DESTDIR PREFIX=/usr" 0 make -s -C "$REPO_DIR" uninstall DIST="$M/dist" DESTDIR="$M/root" PREFIX=/usr
    left="$(cd "$M/root" && find . -type f | sort | tr '\n' ' ')"
    want="./usr/share/ansible/roles/patchkeeper/tasks/local.yml ./usr/share/doc/other/README ./usr/share/doc/patchkeeper/my-notes ./usr/share/patchkeeper/hooks/local.sh "
    if [ "$left" = "$want" ]; then pass "make uninstall removed every installed file and kept the ones added beside them"; else fail "make uninstall left the wrong files" "$left"; fi
    rm -f "$M/root/usr/share/ansible/roles/patchkeeper/tasks/local.yml"
    run "make uninstall again once the added file is gone" 0 make -s -C "$REPO_DIR" uninstall DIST="$M/dist" DESTDIR="$M/root" PREFIX=/usr
    if [ -d "$M/root/usr/share/doc/patchkeeper/examples" ] || [ -d "$M/root/usr/share/ansible/roles/patchkeeper" ] ||
       [ -d "$M/root/etc/patchkeeper" ]; then
        fail "make uninstall left empty directories it made" "$(cd "$M/root" && find . -type d)"
    else
        pass "make uninstall removed the directories it emptied"
    fi
else
    skip "make install / uninstall: make is not installed"
fi

section "debian/postrm purge: the banners patchkeeper wrote go, nothing else"
P="$TMP/purge"
mkdir -p "$P/etc/motd.d" "$P/run/motd.d" "$P/etc/patchkeeper/conf.d" "$P/srv" "$P/var/lib/patchkeeper/obs-api"
banner() { printf '*** MONKEY PATCHES ACTIVE on %s: 1 ***\n  deployed 8c1f0e2, checked 2026-11-25 12:00 UTC\n  0001  T  jane  2026-11-20  no expiry  applied\n  Details: patchkeeper status --app %s\n' "$1" "$1"; }
printf 'Welcome\n# BEGIN patchkeeper a -- managed block, do not edit\n*** MONKEY PATCHES ACTIVE on a: 1 ***\n# END patchkeeper a\n# BEGIN patchkeeper zz\nnot ours\n# END patchkeeper zz\nBye\n' >"$P/etc/motd"
chmod 0640 "$P/etc/motd"
banner b >"$P/run/motd.d/50-patchkeeper-b"
printf 'torn' >"$P/run/motd.d/.50-patchkeeper-b.pk-tmp-123-abc"
printf 'other' >"$P/run/motd.d/.other.pk-tmp-123-abc"
banner web.v2 >"$P/etc/motd.d/50-patchkeeper-web.v2"
{ banner a; printf 'Ask Jane before touching the cron jobs.\n'; } >"$P/etc/motd.d/50-patchkeeper-a"
banner b >"$P/etc/motd.d/10-notpatchkeeper-legacy"
printf 'Maintenance on Friday.\n' >"$P/etc/motd.d/50-patchkeeper-notes"
printf 'Keep\n# BEGIN patchkeeper d\nno end\n' >"$P/srv/motd-broken"
printf '# BEGIN patchkeeper e\nx\n# END patchkeeper e\n' >"$P/srv/motd-e"
printf '*** MONKEY PATCHES ACTIVE on e: 1 ***\nThe admin keeps this whole file.\n' >"$P/srv/motd-headline"
printf 'Top\r\n# BEGIN patchkeeper e\r\nx\r\n# END patchkeeper e\r\n' >"$P/srv/motd-crlf"
printf 'L\n# BEGIN patchkeeper web.v2\nx\n# END patchkeeper web.v2\n' >"$P/srv/motd-literal"
printf 'R\n# BEGIN patchkeeper e\nx\n# END patchkeeper e\n' >"$P/etc/patchkeeper/conf.d/motd-rel"
printf '# BEGIN patchkeeper e\nx\n# END patchkeeper e\n' >"$TMP/host-file"
printf '# BEGIN patchkeeper e\nx\n# END patchkeeper e\n' >"$P/srv/q\"uote"
printf '[apps.a]\nroot = "/w"\n[apps.b]\nroot = "/v"\n[apps.d]\nroot = "/x"\nmotd = "/srv/motd-broken"\n[apps.e]\nroot = "/y"\nmotd = "/srv/motd-e"\n' >"$P/etc/patchkeeper/config.toml"
printf '[apps."web.v2"]\r\nroot = "/z"\r\nmotd = '"'"'/srv//motd-literal'"'"'  # a literal string\r\n' >"$P/etc/patchkeeper/conf.d/web.toml"
printf '[defaults]\nmotd = "/srv/motd-headline"\n[apps.f]\nroot = "/f"\nmotd = "motd-rel"\n[apps.g]\nroot = "/g"\nmotd = "/../host-file"\n[apps.h]\nroot = "/h"\nmotd = "/srv/q\\"uote"\n[apps.i]\nroot = "/i"\nmotd = "/srv/motd-crlf"\n' >"$P/etc/patchkeeper/conf.d/more.toml"
run "postrm purge (DPKG_ROOT)" 0 env DPKG_ROOT="$P" sh "$REPO_DIR/debian/postrm" purge
if [ "$(cat "$P/etc/motd")" = "$(printf 'Welcome\n# BEGIN patchkeeper zz\nnot ours\n# END patchkeeper zz\nBye')" ]; then
    pass "/etc/motd lost the block of a configured app and kept the rest, another app's block too"
else
    fail "/etc/motd is wrong" "$(cat "$P/etc/motd")"
fi
if [ "$(stat -c %a "$P/etc/motd")" = 640 ]; then pass "/etc/motd kept its mode"; else fail "/etc/motd mode changed"; fi
if [ -e "$P/run/motd.d/50-patchkeeper-b" ]; then fail "the /run/motd.d banner is still there"; else pass "the /run/motd.d banner was removed"; fi
if [ -e "$P/run/motd.d/.50-patchkeeper-b.pk-tmp-123-abc" ]; then fail "a stale temp of the banner is still there"; else pass "a stale temp of the banner was removed"; fi
if [ -e "$P/run/motd.d/.other.pk-tmp-123-abc" ]; then pass "a temp of another file was kept"; else fail "a temp of another file was removed"; fi
if [ -e "$P/etc/motd.d/50-patchkeeper-web.v2" ]; then fail "the banner of an app with a dot (quoted table name) is still there"; else pass "the banner of [apps.\"web.v2\"] was removed"; fi
if [ -e "$P/etc/motd.d/50-patchkeeper-a" ]; then pass "a drop-in with an admin's line after the banner was kept"; else fail "a drop-in with an admin's line was removed"; fi
if [ -e "$P/etc/motd.d/10-notpatchkeeper-legacy" ]; then pass "a drop-in not named 50-patchkeeper-APP was kept"; else fail "10-notpatchkeeper-legacy was removed"; fi
if [ -e "$P/etc/motd.d/50-patchkeeper-notes" ]; then pass "a motd.d file that is not a banner was kept"; else fail "a motd.d file that is not a banner was removed"; fi
if [ "$(cat "$P/srv/motd-broken")" = "$(printf 'Keep\n# BEGIN patchkeeper d\nno end')" ]; then pass "a block without its END line was left alone"; else fail "a broken block was changed"; fi
expect_output "  ... and postrm said so" 'left .*/srv/motd-broken alone'
if [ -s "$P/srv/motd-e" ]; then fail "the config's motd file still has its block"; else pass "the config's motd file lost its block"; fi
if [ "$(cat "$P/srv/motd-headline")" = "$(printf '*** MONKEY PATCHES ACTIVE on e: 1 ***\nThe admin keeps this whole file.')" ]; then
    pass "a configured file that only starts with a headline was kept whole"
else
    fail "a configured file starting with a headline was changed" "$(cat "$P/srv/motd-headline" 2>&1)"
fi
if [ "$(cat "$P/srv/motd-crlf")" = "$(printf 'Top\r')" ]; then pass "a block with CRLF line ends was removed"; else fail "the CRLF block was not removed" "$(od -c "$P/srv/motd-crlf" | head -5)"; fi
if [ "$(cat "$P/srv/motd-literal")" = L ]; then pass "a literal-string motd path (CRLF config) lost its block"; else fail "the literal-string motd file kept its block"; fi
if [ "$(cat "$P/etc/patchkeeper/conf.d/motd-rel")" = R ]; then pass "a relative motd path is relative to the directory of the config file that holds it"; else fail "the relative motd file kept its block"; fi
if [ -s "$TMP/host-file" ]; then pass "a motd path with '..' does not leave DPKG_ROOT"; else fail "postrm changed a file outside DPKG_ROOT"; fi
expect_output "  ... and postrm said so" "left '/\.\./host-file'"
if [ -s "$P/srv/q\"uote" ]; then pass "a motd value with an escaped quote is left alone"; else fail "a motd value with an escape was guessed at"; fi
expect_output "  ... naming the config file and the line" "cannot read the 'motd' value on line 11 of .*/conf.d/more.toml"
if [ -d "$P/var/lib/patchkeeper/obs-api" ]; then pass "the registries were kept"; else fail "the registries were removed"; fi

printf '\nrun-hooks: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
