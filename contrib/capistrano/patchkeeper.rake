# patchkeeper for Capistrano 3: refuse a deploy that would wipe out hot patches, and put them back
# afterwards. Copy this file to lib/capistrano/tasks/ (the default Capfile loads *.rake from there).
#
#   before "deploy:updating":  patchkeeper:gate     runs pre-deploy.sh (patchkeeper gate) for the
#                                                   revision being deployed; a blocked gate aborts
#                                                   the deploy before anything is published
#                                                   (hooked before deploy:new_release_path, the first
#                                                   step of deploy:updating, so that a blocked deploy
#                                                   leaves no release directory behind)
#   after  "deploy:published": patchkeeper:reapply  runs post-deploy.sh (patchkeeper reapply, then
#                                                   patchkeeper motd) on the new release
#
# On the servers the app's patchkeeper config has root = "<deploy_to>/current" and
# repo = "<deploy_to>/repo" (the mirror Capistrano keeps; it has the new commits by the time the
# gate runs), plus subdir = <repo_tree> when you set one. Run 'patchkeeper init' once after the
# first deploy; until current/ exists the gate is skipped.
#
# Settings (all optional):
#   set :patchkeeper_app, "obs-api"          # --app; default: the config's only app
#   set :patchkeeper_config, "/etc/patchkeeper/config.toml"
#   set :patchkeeper_policy, "reapply"       # gate policy: strict (patchkeeper's default) or reapply
#   set :patchkeeper_roles, :app             # where to run (default :app)
#   set :patchkeeper_hooks, "/usr/share/patchkeeper/hooks"   # where pre-deploy.sh/post-deploy.sh live
#   set :patchkeeper_sudo, true              # run the hooks with 'sudo -n' (registry owned by root);
#                                            # needs a sudoers entry for the deploy user
#   set :patchkeeper_env, {}                 # extra environment, e.g. { patchkeeper: "/opt/bin/patchkeeper" }
#                                            # (not passed through sudo)
#   set :patchkeeper_fail_on_conflict, false # true: a patch that does not reapply fails the deploy run
#                                            # (the release is live already; default: log an error)
# Emergency: PATCHKEEPER_SKIP_GATE=1 cap production deploy   skips the gate, with a warning.

namespace :patchkeeper do
  # A setting as an option pair, [] when unset or empty.
  def patchkeeper_option(flag, key)
    value = fetch(key).to_s
    value.empty? ? [] : [flag, value]
  end

  # The hook's command line: [program, args...], through sudo when asked.
  def patchkeeper_hook(name, *args)
    opts = patchkeeper_option("--app", :patchkeeper_app) + patchkeeper_option("--config", :patchkeeper_config)
    cmd = [File.join(fetch(:patchkeeper_hooks, "/usr/share/patchkeeper/hooks"), name), *opts, *args]
    fetch(:patchkeeper_sudo, false) ? [:sudo, "-n", *cmd] : cmd
  end

  desc "Refuse the deploy when it would wipe out or conflict with a hot patch (patchkeeper gate)"
  task :gate do
    if ENV["PATCHKEEPER_SKIP_GATE"] == "1"
      run_locally { warn "patchkeeper: PATCHKEEPER_SKIP_GATE=1: deploying without checking the hot patches" }
      next
    end
    # Make sure the mirror has the revision (a no-op when git:update already ran in this deploy).
    invoke "#{fetch(:scm, :git)}:update"
    on roles(fetch(:patchkeeper_roles, :app)) do |host|
      unless test("[ -d #{current_path} ]")
        info "patchkeeper: #{host}: no #{current_path} yet (first deploy): gate skipped"
        next
      end
      target = within(repo_path) { capture(:git, "rev-list", "--max-count=1", fetch(:branch)) }
      policy = patchkeeper_option("--policy", :patchkeeper_policy)
      with(fetch(:patchkeeper_env, {})) do
        # pre-deploy.sh exits 1 (blocked) or 2 (could not decide): execute raises and the deploy stops.
        execute(*patchkeeper_hook("pre-deploy.sh", *policy, "--target", target))
      end
    end
  end

  desc "Put the hot patches back onto the new release and refresh the motd (patchkeeper reapply, motd)"
  task :reapply do
    on roles(fetch(:patchkeeper_roles, :app)) do |host|
      with(fetch(:patchkeeper_env, {})) do
        # Exit 1: some patches conflict. The release is live already, so by default say so loudly
        # and carry on (deploy:finishing and log_revision still run); the motd lists them.
        next if execute(*patchkeeper_hook("post-deploy.sh"), raise_on_non_zero_exit: false)
        message = "patchkeeper: #{host}: hot patches did not all come back (see above and 'patchkeeper scan'); fix them by hand"
        raise message if fetch(:patchkeeper_fail_on_conflict, false)
        error message
      end
    end
  end
end

# The first step of deploy:updating; "before deploy:updating" would run after it and its git:create_release.
before "deploy:new_release_path", "patchkeeper:gate"
after "deploy:published", "patchkeeper:reapply"
