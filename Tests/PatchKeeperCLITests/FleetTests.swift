import Foundation
import Testing
import TestSupport

/// Issue 16: three hosts publish their registries to one bare remote; `fleet` and `fleet gate`
/// read them back. Each host is a live copy of one app repository with its own registry and
/// config (`[fleet] host = webN`).
@Suite("Fleet: publish, fleet, fleet gate")
struct FleetTests {
    static let clock = "every 1.hour do\n  RssCleanup.run\nend\n\nevery 1.day do\n  Report.run\nend\n"
    static let patchedClock = "every 1.hour do\n  # RssCleanup.run  # takes table locks\nend\n\nevery 1.day do\n  Report.run\nend\n"
    static let otherClock = "every 1.hour do\n  RssCleanup.run\nend\n\nevery 1.day do\n  Report.run(:quiet)\nend\n"
    static let secret = "S3cr3tPassw0rd-never-leaves"

    final class Fleet: @unchecked Sendable {
        let app = AppFixture(deploy: false)
        var remote: String { app.scratch.file("remote.git") }
        var cache: String { app.scratch.file("cache") }

        init() {
            app.commit(["src/api/config/clock.rb": FleetTests.clock, "src/api/config/database.yml": "production:\n  password: changeme\n"],
                       message: "base", tag: "base")
            git(["init", "-q", "--bare", remote], in: app.scratch.path)
            for host in ["web1", "web2", "web3"] { deploy(host) }
        }

        func root(_ host: String) -> String { app.scratch.file("live-\(host)") }
        func registry(_ host: String) -> String { app.scratch.file("registry-\(host)") }
        func config(_ host: String) -> String { app.scratch.file("config-\(host).toml") }

        func deploy(_ host: String) {
            try? FileManager.default.createDirectory(atPath: root(host), withIntermediateDirectories: true)
            let r = run("/bin/sh", ["-c", "git -C '\(app.repo)' archive base:src/api | tar -x -C '\(root(host))'"])
            precondition(r.status == 0, r.stderr)
            app.scratch.write("live-\(host)/REVISION", git(["rev-parse", "base"], in: app.repo) + "\n")
            app.scratch.write("config-\(host).toml", """
                [fleet]
                remote = "\(remote)"
                host = "\(host)"

                [apps.api]
                root = "\(root(host))"
                repo = "\(app.repo)"
                subdir = "src/api"
                registry = "\(registry(host))"
                """)
            chmod(config(host), 0o644)
            let r2 = pk(["init", "--config", config(host)])
            precondition(r2.status == 0, r2.stderr)
        }

        func edit(_ host: String, _ rel: String, _ text: String) { app.scratch.write("live-\(host)/" + rel, text) }

        @discardableResult
        func pkOn(_ host: String, _ args: [String]) -> ProcessResult { pk(args + ["--config", config(host)]) }

        func record(_ host: String, _ rel: String, _ title: String, extra: [String] = []) {
            let r = pkOn(host, ["record", rel, "--title", title, "--reason", "hot fix"] + extra)
            precondition(r.status == 0, r.stderr)
        }

        func fleet(_ args: [String]) -> ProcessResult { pk(["fleet"] + args + ["--remote", remote, "--cache", cache]) }

        func json(_ r: ProcessResult) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\n\(r.stderr)")
        }

        /// Every object in the bare remote, as git prints them.
        func remoteObjects() -> String {
            run("/bin/sh", ["-c", "git -C '\(remote)' cat-file --batch-all-objects --batch"]).stdout
        }

        /// Moves the checked-at time of a host's last scan back (a host whose timer stopped).
        func ageLastScan(_ host: String, hours: Double) throws {
            let path = registry(host) + "/.patchkeeper/last-scan.json"
            var j = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            j["checkedAt"] = Date().timeIntervalSince1970 - hours * 3600
            try JSONSerialization.data(withJSONObject: j).write(to: URL(fileURLWithPath: path))
        }

        /// The three-host story: web1 and web2 share the clock fix, web1 also has a secret-path
        /// patch, web2 an expired one and a push that failed then recovered, web3 a variant of
        /// the clock fix (same title, other content) and a stale scan.
        func populate() throws -> (pushFailure: ProcessResult, pendingStatus: ProcessResult, pendingMetrics: String, recovered: ProcessResult, okStatus: ProcessResult) {
            edit("web1", "config/clock.rb", FleetTests.patchedClock)
            record("web1", "config/clock.rb", "Disable the RSS cleanup job")
            edit("web1", "config/database.yml", "production:\n  password: \(FleetTests.secret)\n")
            record("web1", "config/database.yml", "Rotate the database password")
            precondition(pkOn("web1", ["scan"]).status == 0)

            edit("web2", "config/clock.rb", FleetTests.patchedClock)
            record("web2", "config/clock.rb", "Disable the RSS cleanup job")
            // The remote goes away: the write still works, loudly.
            try FileManager.default.moveItem(atPath: remote, toPath: remote + ".away")
            edit("web2", "config/workers.yml", "timeout: 90\nconcurrency: 4\n")
            let failed = pkOn("web2", ["record", "config/workers.yml", "--title", "Raise the worker timeout", "--reason", "slow reports", "--expires", "2099-01-01"])
            let pending = pkOn("web2", ["status"])
            let metricsFile = app.scratch.file("web2.prom")
            pkOn("web2", ["scan", "--metrics-file", metricsFile])
            let metrics = app.scratch.read("web2.prom") ?? ""
            try FileManager.default.moveItem(atPath: remote + ".away", toPath: remote)
            backdateExpiry(registry: registry("web2"), file: "0002-raise-the-worker-timeout.patch", to: "2020-01-01")
            let recovered = pkOn("web2", ["scan"])
            let ok = pkOn("web2", ["status"])

            edit("web3", "config/clock.rb", FleetTests.otherClock)
            record("web3", "config/clock.rb", "Disable the RSS cleanup job")
            pkOn("web3", ["scan"])
            try ageLastScan("web3", hours: 5)
            edit("web3", "README", "The API, patched.\n")
            record("web3", "README", "Readme note")
            return (failed, pending, metrics, recovered, ok)
        }
    }

    @Test("three hosts publish to one bare remote; fleet groups the shared patch, flags the expired one, the variant and the stale host")
    func threeHosts() throws {
        let f = Fleet()
        let story = try f.populate()

        // The failed push: the record itself succeeded, with a warning; status and metrics show it.
        #expect(story.pushFailure.status == 0, "\(story.pushFailure.stderr)")
        #expect(story.pushFailure.stderr.contains("warning: publishing api to the fleet remote"), "\(story.pushFailure.stderr)")
        #expect(story.pendingStatus.stdout.contains("fleet push PENDING"), "\(story.pendingStatus.stdout)")
        #expect(story.pendingStatus.status == 1)
        #expect(story.pendingMetrics.contains("patchkeeper_fleet_push_success{app=\"api\"} 0"), "\(story.pendingMetrics)")
        // Recovery: the next scan pushes everything, quietly.
        #expect(!story.recovered.stderr.contains("warning"), "\(story.recovered.stderr)")
        #expect(story.okStatus.stdout.contains("fleet: pushed to"), "\(story.okStatus.stdout)")
        let web2Log = git(["log", "--format=%s", "refs/patchkeeper/web2/api/registry"], in: f.remote)
        #expect(web2Log.contains("record 0002: Raise the worker timeout"), "\(web2Log)")

        let refs = git(["for-each-ref", "--format=%(refname)"], in: f.remote).split(separator: "\n").map(String.init)
        for host in ["web1", "web2", "web3"] {
            for kind in ["registry", "images", "summary"] { #expect(refs.contains("refs/patchkeeper/\(host)/api/\(kind)"), "\(refs)") }
        }

        let r = f.fleet(["--format", "json"])
        #expect(r.status == 1, "\(r.stderr)")
        let j = try f.json(r)
        let patches = try #require(j["patches"] as? [[String: Any]])
        func row(_ title: String, hosts n: Int) -> [String: Any]? {
            patches.first { ($0["titles"] as? [String])?.contains(title) == true && ($0["host_count"] as? Int) == n }
        }
        let shared = try #require(row("Disable the RSS cleanup job", hosts: 2), "\(patches)")
        #expect(shared["hosts"] as? [String] == ["web1/api", "web2/api"])
        #expect((shared["states"] as? [String: Int])?["applied"] == 2)
        let variant = try #require(row("Disable the RSS cleanup job", hosts: 1))
        #expect(variant["hosts"] as? [String] == ["web3/api"])
        #expect((shared["variants"] as? [String]) == [variant["patch_id"] as! String])
        let expired = try #require(row("Raise the worker timeout", hosts: 1))
        #expect(expired["expired_hosts"] as? [String] == ["web2/api"], "\(expired)")
        let secretRow = try #require(row("Rotate the database password", hosts: 1))
        #expect(secretRow["redacted"] as? Bool == true)
        #expect(row("Disable the RSS cleanup job", hosts: 2)?["redacted"] as? Bool == false)

        let hosts = try #require(j["hosts"] as? [[String: Any]])
        #expect(hosts.map { $0["host"] as? String } == ["web1", "web2", "web3"])
        #expect(hosts.map { $0["stale"] as? Bool } == [false, false, true])
        #expect(hosts.map { $0["expired"] as? [String] } == [[], ["0002"], []])
        #expect((hosts[2]["patches"] as? [String: Int])?["unscanned"] == 1, "\(hosts[2])")
        #expect(hosts.allSatisfy { $0["publish_problems"] as? [String] == [] && $0["states"] == nil }, "\(hosts)")

        // Text: one row per distinct patch, the stale host flagged.
        let t = f.fleet(["--no-fetch"])
        #expect(t.status == 1)
        #expect(t.stdout.contains("fleet: 5 distinct patches on 3 host/apps"), "\(t.stdout)")
        #expect(t.stdout.contains("on: web1/api web2/api (ids 0001)"), "\(t.stdout)")
        #expect(t.stdout.contains("variants (same title or ticket, different content)"), "\(t.stdout)")
        let web3 = try #require(t.stdout.split(separator: "\n").first { $0.hasPrefix("web3") })
        #expect(web3.hasSuffix("STALE"), "\(web3)")
        #expect(t.stdout.contains("Rotate the database password [redacted]"))

        // Prometheus textfile with host and app labels.
        let prom = f.app.scratch.file("fleet.prom")
        #expect(f.fleet(["--no-fetch", "--prometheus-file", prom]).status == 1)
        let metrics = f.app.scratch.read("fleet.prom") ?? ""
        #expect(metrics.contains("patchkeeper_fleet_stale{host=\"web3\",app=\"api\"} 1"), "\(metrics)")
        #expect(metrics.contains("patchkeeper_fleet_expired_patches{host=\"web2\",app=\"api\"} 1"))
        #expect(metrics.contains("patchkeeper_fleet_distinct_patches 5"))
    }

    @Test("a second fetch with nothing changed transfers nothing; a host removed from the remote disappears")
    func incrementalFetch() throws {
        let f = Fleet()
        f.edit("web1", "config/clock.rb", FleetTests.patchedClock)
        f.record("web1", "config/clock.rb", "Disable the RSS cleanup job")
        f.pkOn("web2", ["scan"])
        let first = try f.json(f.fleet(["--format", "json"]))
        #expect(((first["fetch"] as? [String: Any])?["received_objects"] as? Int ?? 0) > 0)
        let again = try f.json(f.fleet(["--format", "json"]))
        #expect((again["fetch"] as? [String: Any])?["received_objects"] as? Int == 0, "\(again)")
        #expect((again["hosts"] as? [[String: Any]])?.count == 3)
        // Decommission web2: delete its refs on the server; the next fleet forgets it.
        for kind in ["registry", "images", "summary"] { git(["update-ref", "-d", "refs/patchkeeper/web2/api/\(kind)"], in: f.remote) }
        let after = try f.json(f.fleet(["--format", "json"]))
        #expect((after["hosts"] as? [[String: Any]])?.map { $0["host"] as? String } == ["web1", "web3"])
        #expect((after["fetch"] as? [String: Any])?["pruned_refs"] as? Int == 3)
    }

    @Test("a secret path's content never reaches the remote: the patch body is redacted and its images stay home")
    func redaction() throws {
        let f = Fleet()
        f.edit("web1", "config/database.yml", "production:\n  password: \(FleetTests.secret)\n")
        f.record("web1", "config/database.yml", "Rotate the database password")
        f.edit("web1", "config/clock.rb", FleetTests.patchedClock)
        f.record("web1", "config/clock.rb", "Disable the RSS cleanup job")
        #expect(f.pkOn("web1", ["scan"]).status == 0)
        // The host's own registry has it (the test can see it) ...
        let local = run("/bin/sh", ["-c", "git -C '\(f.registry("web1"))' cat-file --batch-all-objects --batch"]).stdout
        #expect(local.contains(FleetTests.secret))
        // ... the remote has the other patch's content but never the secret, in any object.
        let objects = f.remoteObjects()
        #expect(objects.contains("# RssCleanup.run  # takes table locks"))
        #expect(!objects.contains(FleetTests.secret))
        #expect(!objects.contains("changeme"), "the secret file's preimage left the host")
        let published = git(["show", "refs/patchkeeper/web1/api/registry:0001-rotate-the-database-password.patch"], in: f.remote)
        #expect(published.contains("Redacted: src/api/config/database.yml"), "\(published)")
        #expect(published.contains("diff --git a/src/api/config/database.yml"))
    }

    @Test("fleet gate decides once per distinct patch and base and maps the verdicts to hosts")
    func fleetGate() throws {
        let f = Fleet()
        _ = try f.populate()
        // v2 changes the very line the shared clock fix comments out.
        f.app.commit(["src/api/config/clock.rb": FleetTests.clock.replacingOccurrences(of: "RssCleanup.run", with: "RssCleanup.run(:fast)")],
                     message: "v2", tag: "v2")
        let r = f.fleet(["gate", "--target", "v2", "--repo", f.app.repo, "--format", "json"])
        #expect(r.status == 1, "\(r.stderr)")
        let j = try f.json(r)
        let patches = try #require(j["patches"] as? [[String: Any]])
        func results(_ title: String, hostCount: Int) -> [String: [String]]? {
            patches.first { ($0["titles"] as? [String])?.contains(title) == true
                && (($0["verdicts"] as? [String: [String]])?.values.reduce(0) { $0 + $1.count }) == hostCount }?["verdicts"] as? [String: [String]]
        }
        #expect(results("Disable the RSS cleanup job", hostCount: 2) == ["conflicts": ["web1/api", "web2/api"]], "\(patches)")
        #expect(results("Disable the RSS cleanup job", hostCount: 1) == ["reapplies": ["web3/api"]])
        #expect(results("Rotate the database password", hostCount: 1) == ["decide-on-host": ["web1/api"]])
        #expect(results("Raise the worker timeout", hostCount: 1) == ["reapplies": ["web2/api"]])
        // shared clock fix (once for two hosts), the variant, the expired one, web3's README patch.
        #expect(j["decisions"] as? Int == 4)
        let hosts = try #require(j["hosts"] as? [[String: Any]])
        #expect(hosts.map { $0["blocked"] as? Bool } == [true, true, true])
        let web3 = try #require(hosts.last?["reasons"] as? [String])
        #expect(web3.contains { $0.contains("stale") }, "\(web3)")

        let t = f.fleet(["gate", "--target", "v2", "--repo", f.app.repo, "--no-fetch"])
        #expect(t.status == 1)
        #expect(t.stdout.contains("conflicts on 2 hosts"), "\(t.stdout)")
        #expect(t.stdout.contains("decide on the host on 1 host"), "\(t.stdout)")
        #expect(t.stdout.contains("BLOCKED web2/api: 0001 conflicts, 0002 reapplies"), "\(t.stdout)")
        #expect(t.stdout.hasSuffix("fleet gate: BLOCKED on 3 of 3 host/apps\n"), "\(t.stdout)")

        // With the reapply policy, a host whose only patch reapplies cleanly is safe.
        let g = try f.json(f.fleet(["gate", "--target", "v2", "--repo", f.app.repo, "--no-fetch", "--policy", "reapply", "--format", "json"]))
        let byHost = Dictionary(uniqueKeysWithValues: ((g["hosts"] as? [[String: Any]]) ?? []).map { ($0["host"] as! String, $0) })
        #expect(byHost["web2"]?["blocked"] as? Bool == true)   // the shared patch conflicts, and 0002 is expired
    }

    /// contrib/fleet/update-hook in a plain bare repository, pushed to by the git CLI over
    /// file:// (git runs receive-pack and its hooks; libgit2's local transport writes refs
    /// directly and runs no hook, which is why the hook is for ssh remotes: docs/FLEET.md).
    @Test("the update hook lets a host push only its own namespace")
    func updateHook() throws {
        let s = Scratch()
        let hook = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("contrib/fleet/update-hook").path
        git(["init", "-q", "--bare", s.file("fleet.git")], in: s.path)
        try FileManager.default.copyItem(atPath: hook, toPath: s.file("fleet.git/hooks/update"))
        chmod(s.file("fleet.git/hooks/update"), 0o755)
        s.write("src/a", "a\n")
        git(["init", "-q", s.file("src")], in: s.path)
        git(["add", "a"], in: s.file("src"))
        git(["commit", "-qm", "one"], in: s.file("src"))
        func push(_ ref: String, as host: String?, delete: Bool = false) -> ProcessResult {
            var env = ["GIT_CONFIG_NOSYSTEM": "1", "HOME": s.path]
            if let host { env["PATCHKEEPER_HOST"] = host }
            return run("/usr/bin/git", ["-C", s.file("src"), "push", "file://" + s.file("fleet.git"), delete ? ":" + ref : "HEAD:" + ref], env: env)
        }
        let own = push("refs/patchkeeper/web1/api/registry", as: "web1")
        #expect(own.status == 0, "\(own.stderr)")
        #expect(push("refs/patchkeeper/web1/api/summary", as: "web1").status == 0)
        let other = push("refs/patchkeeper/web2/api/registry", as: "web1")
        #expect(other.status != 0)
        #expect(other.stderr.contains("a host may only push refs/patchkeeper/web1/*"), "\(other.stderr)")
        #expect(push("refs/patchkeeper/web10/api/registry", as: "web1").status != 0, "a prefix of another host's name")
        #expect(push("refs/heads/main", as: "web1").status != 0)
        #expect(push("refs/patchkeeper/web1/api/hooks", as: "web1").status != 0)
        #expect(push("refs/patchkeeper/web1/a/b/registry", as: "web1").status != 0)
        #expect(push("refs/patchkeeper/web1/api/images", as: nil).status != 0, "no identity, no push")
        #expect(push("refs/patchkeeper/web1/api/images", as: "../web2").status != 0)
        #expect(push("refs/patchkeeper/web2/api/registry", as: "web2").status == 0)
        #expect(push("refs/patchkeeper/web2/api/registry", as: "web1", delete: true).status != 0)
        let refs = git(["for-each-ref", "--format=%(refname)"], in: s.file("fleet.git")).split(separator: "\n").map(String.init).sorted()
        #expect(refs == ["refs/patchkeeper/web1/api/registry", "refs/patchkeeper/web1/api/summary", "refs/patchkeeper/web2/api/registry"])
    }
}

/// The ssh transport against a local sshd (started here on 127.0.0.1 with its own config, host
/// key and authorized_keys; the forced command sets the host identity the update hook checks).
/// Skipped, visibly, where no sshd can be started. Opt-in (PATCHKEEPER_SSH_TEST=1): on the
/// machine it was written on, the test hung before its first push (sshd started, the listener
/// never released the test), so the ssh path is not verified by CI yet.
@Suite("Fleet over ssh")
struct FleetSSHTests {
    static let sshd = "/usr/sbin/sshd"
    static var canStartSSHD: Bool {
        ProcessInfo.processInfo.environment["PATCHKEEPER_SSH_TEST"] == "1"
            && FileManager.default.isExecutableFile(atPath: sshd) && geteuid() == 0 && FileManager.default.fileExists(atPath: "/run/sshd")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/git-shell")
    }

    @Test("a host publishes over ssh with a pinned host key; another host's namespace, an unpinned or wrong host key are refused",
          .enabled(if: canStartSSHD, "opt-in with PATCHKEEPER_SSH_TEST=1 (needs root, /usr/sbin/sshd, /run/sshd, git-shell): ssh transport not tested in this run"))
    func publishOverSSH() throws {
        let f = FleetTests.Fleet()
        let dir = f.app.scratch.file("ssh")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let hook = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("contrib/fleet/update-hook").path
        try FileManager.default.copyItem(atPath: hook, toPath: f.remote + "/hooks/update")
        chmod(f.remote + "/hooks/update", 0o755)
        #expect(run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir + "/host_key"]).status == 0)
        #expect(run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir + "/client_key"]).status == 0)
        let fingerprint = try #require(run("/usr/bin/ssh-keygen", ["-lf", dir + "/host_key.pub"]).stdout.split(separator: " ").dropFirst().first.map(String.init))
        let clientPub = try String(contentsOfFile: dir + "/client_key.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        f.app.scratch.write("ssh/authorized_keys", "command=\"env PATCHKEEPER_HOST=web1 git-shell -c \\\"$SSH_ORIGINAL_COMMAND\\\"\",no-pty \(clientPub)\n")
        let port = 20000 + Int(getpid() % 20000)
        f.app.scratch.write("ssh/sshd_config", """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(dir)/host_key
            PidFile \(dir)/sshd.pid
            AuthorizedKeysFile \(dir)/authorized_keys
            StrictModes no
            UsePAM no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin prohibit-password
            LogLevel ERROR
            """)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.sshd)
        server.arguments = ["-D", "-e", "-f", dir + "/sshd_config"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        var up = false
        for _ in 0..<50 where !up {
            up = run("/bin/bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"]).status == 0
            if !up { usleep(100_000) }
        }
        try #require(up, "sshd did not start on port \(port)")
        let user = String(cString: getpwuid(geteuid()).pointee.pw_name)
        let url = "ssh://\(user)@127.0.0.1:\(port)\(f.remote)"
        func configure(host: String, hostKey: String?) {
            f.app.scratch.write("config-web1.toml", """
                [fleet]
                remote = "\(url)"
                host = "\(host)"
                ssh_key = "\(dir)/client_key"
                \(hostKey.map { "ssh_host_key = \"\($0)\"" } ?? "")

                [apps.api]
                root = "\(f.root("web1"))"
                repo = "\(f.app.repo)"
                subdir = "src/api"
                registry = "\(f.registry("web1"))"
                """)
            chmod(f.config("web1"), 0o644)
        }
        configure(host: "web1", hostKey: fingerprint)
        f.edit("web1", "config/clock.rb", FleetTests.patchedClock)
        let rec = f.pkOn("web1", ["record", "config/clock.rb", "--title", "Disable the RSS cleanup job", "--reason", "locks"])
        #expect(rec.status == 0)
        #expect(!rec.stderr.contains("warning"), "\(rec.stderr)")
        #expect(git(["log", "--format=%s", "refs/patchkeeper/web1/api/registry"], in: f.remote).contains("record 0001: Disable the RSS cleanup job"))

        // The key belongs to web1: publishing as web2 is refused by the server's hook.
        configure(host: "web2", hostKey: fingerprint)
        let other = f.pkOn("web1", ["scan"])
        #expect(other.stderr.contains("warning: publishing api to the fleet remote"), "\(other.stderr)")
        #expect(f.pkOn("web1", ["status"]).stdout.contains("fleet push PENDING"))

        // No pinned key, or the wrong one: nothing is sent.
        configure(host: "web1", hostKey: nil)
        let unpinned = f.pkOn("web1", ["scan"])
        #expect(unpinned.stderr.contains("no ssh host key pinned"), "\(unpinned.stderr)")
        configure(host: "web1", hostKey: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        let wrong = f.pkOn("web1", ["scan"])
        #expect(wrong.stderr.contains("not the pinned SHA256:AAAA"), "\(wrong.stderr)")

        // The admin side reads over ssh too.
        let r = pk(["fleet", "--remote", url, "--ssh-key", dir + "/client_key", "--ssh-host-key", fingerprint,
                    "--cache", f.cache, "--format", "json"])
        #expect(r.status != 2, "\(r.stderr)")
        let j = try f.json(r)
        #expect((j["hosts"] as? [[String: Any]])?.contains { $0["host"] as? String == "web1" } == true, "\(j)")
    }
}
