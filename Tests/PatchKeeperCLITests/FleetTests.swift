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
    static let database = "production:\n  password: changeme\n  pool: 5\n  timeout: 5000\n  encoding: utf8\n  host: db1\n"

    final class Fleet: @unchecked Sendable {
        let app = AppFixture(deploy: false)
        var remote: String { app.scratch.file("remote.git") }
        var cache: String { app.scratch.file("cache") }

        init() {
            // database.sample: a non-secret file with the secret file's content (review F3).
            app.commit(["src/api/config/clock.rb": FleetTests.clock, "src/api/config/database.yml": FleetTests.database,
                        "src/api/config/database.sample": FleetTests.database],
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

    @Test("a second fetch with nothing changed transfers nothing; a host removed from the remote is a finding until forgotten")
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
        // web2's refs are deleted on the server. Review F5: a host that vanishes is a finding (and
        // blocks fleet gate) until an admin forgets it (a decommission).
        for kind in ["registry", "images", "summary"] { git(["update-ref", "-d", "refs/patchkeeper/web2/api/\(kind)"], in: f.remote) }
        let vanished = f.fleet(["--format", "json"])
        #expect(vanished.status == 1, "\(vanished.stdout)")
        let after = try f.json(vanished)
        #expect((after["fetch"] as? [String: Any])?["pruned_refs"] as? Int == 3)
        let rows = try #require(after["hosts"] as? [[String: Any]])
        #expect(rows.map { $0["host"] as? String } == ["web1", "web2", "web3"])
        #expect((rows[1]["publish_problems"] as? [String])?.first?.contains("its refs disappeared from the remote") == true, "\(rows[1])")
        let gate = try f.json(f.fleet(["gate", "--target", "base", "--repo", f.app.repo, "--no-fetch", "--format", "json"]))
        let web2 = try #require((gate["hosts"] as? [[String: Any]])?.first { $0["host"] as? String == "web2" }, "\(gate)")
        #expect(web2["blocked"] as? Bool == true)
        #expect((web2["reasons"] as? [String])?.first?.contains("disappeared") == true, "\(web2)")
        let forgotten = try f.json(f.fleet(["--format", "json", "--forget", "web2/api"]))
        #expect((forgotten["hosts"] as? [[String: Any]])?.map { $0["host"] as? String } == ["web1", "web3"])
        let later = try f.json(f.fleet(["--format", "json"]))
        #expect((later["hosts"] as? [[String: Any]])?.map { $0["host"] as? String } == ["web1", "web3"])
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

    /// Review F7: patch-id ignores whitespace, so two fixes differing only in indentation (YAML!)
    /// group as one patch: the row says they differ.
    @Test("fixes with one patch-id but different whitespace are reported as variants")
    func whitespaceVariants() throws {
        let f = Fleet()
        f.edit("web1", "config/clock.rb", FleetTests.patchedClock)
        f.record("web1", "config/clock.rb", "Disable the RSS cleanup job")
        f.edit("web2", "config/clock.rb", FleetTests.patchedClock.replacingOccurrences(of: "  # RssCleanup", with: "    # RssCleanup"))
        f.record("web2", "config/clock.rb", "Disable the RSS cleanup job")
        f.edit("web3", "config/clock.rb", FleetTests.patchedClock)
        f.record("web3", "config/clock.rb", "Disable the RSS cleanup job")
        let j = try f.json(f.fleet(["--format", "json"]))
        let rows = try #require(j["patches"] as? [[String: Any]])
        #expect(rows.count == 1, "one patch-id: \(rows)")
        #expect(rows.first?["text_variants"] as? [[String]] == [["web1/api", "web3/api"], ["web2/api"]], "\(rows)")
        let t = f.fleet(["--no-fetch"])
        #expect(t.stdout.contains("variants (same patch-id, different whitespace): web1/api web3/api | web2/api"), "\(t.stdout)")
    }

    /// Review F6: a hostile remote with 300,000 refs made fleet run for minutes and write GBs.
    @Test("a remote advertising too many refs for one host, or in all, is refused before anything is fetched")
    func refCaps() throws {
        let f = Fleet()
        let tip = git(["rev-parse", "refs/patchkeeper/web1/api/registry"], in: f.remote)
        let lines = (0..<60).map { "create refs/patchkeeper/evil/app\($0)/registry \(tip)\n" }.joined()
        f.app.scratch.write("refs.txt", lines)
        let r0 = run("/bin/sh", ["-c", "git -C '\(f.remote)' update-ref --stdin < '\(f.app.scratch.file("refs.txt"))'"])
        #expect(r0.status == 0, "\(r0.stderr)")
        let refused = f.fleet(["--format", "json"])
        #expect(refused.status == 2, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("advertises more than 50 refs for 1 host: evil (60): nothing fetched"), "\(refused.stderr)")
        #expect(git(["for-each-ref", "refs/patchkeeper/"], in: f.cache).isEmpty, "refs were fetched")
        let total = f.fleet(["--format", "json", "--max-refs-per-host", "60", "--max-refs", "40"])
        #expect(total.status == 2)
        #expect(total.stderr.contains("advertises 69 refs under refs/patchkeeper/, over the limit of 40"), "\(total.stderr)")
        let raised = f.fleet(["--format", "json", "--max-refs-per-host", "60"])
        #expect(raised.status != 2, "\(raised.stderr)")
        #expect(git(["for-each-ref", "refs/patchkeeper/evil/"], in: f.cache).split(separator: "\n").count == 60)
    }

    /// Review F3: the images allow-list is by blob id; a secret file's blob must not be published
    /// because a non-secret file happens to have the same content.
    @Test("a blob that is an image of a secret path is never published, even as a non-secret file's image")
    func secretImageDenied() throws {
        let f = Fleet()
        f.edit("web1", "config/database.yml", FleetTests.database.replacingOccurrences(of: "changeme", with: FleetTests.secret))
        f.record("web1", "config/database.yml", "Rotate the database password")
        // The sample's hunk is its last lines: the password line is outside it, but in its preimage.
        f.edit("web1", "config/database.sample", FleetTests.database.replacingOccurrences(of: "db1", with: "db2"))
        f.record("web1", "config/database.sample", "Sample points at db2")
        let objects = f.remoteObjects()
        #expect(objects.contains("+  host: db2"), "the sample's patch is published")
        #expect(!objects.contains(FleetTests.secret))
        // The sample's preimage is database.yml's preimage: never published (its postimage, which
        // no secret file has, is).
        let preimage = git(["rev-parse", "base:src/api/config/database.yml"], in: f.app.repo)
        #expect(git(["rev-parse", "base:src/api/config/database.sample"], in: f.app.repo) == preimage)
        #expect(!objects.contains(preimage + " blob"), "the secret file's preimage left the host as the sample's image")
        // fleet gate still decides the sample's patch: its preimage is in the app repository.
        f.pkOn("web1", ["scan"])
        let g = f.fleet(["gate", "--target", "base", "--repo", f.app.repo, "--format", "json"])
        let web1 = try #require(((try f.json(g))["hosts"] as? [[String: Any]])?.first { $0["host"] as? String == "web1" })
        let sample = try #require((web1["patches"] as? [[String: Any]])?.first { $0["title"] as? String == "Sample points at db2" }, "\(web1)")
        #expect(sample["verdict"] as? String == "reapplies", "\(sample)")
        // The sample's postimage (no secret file has it) is still there for fleet gate.
        let postimage = git(["hash-object", f.root("web1") + "/config/database.sample"], in: f.app.scratch.path)
        let images = git(["ls-tree", "--name-only", "refs/patchkeeper/web1/api/images"], in: f.remote)
        #expect(images.contains(postimage), "\(images)")
    }

    /// Review F1: a pattern added after the first publish must reach the history already published.
    @Test("adding a secret pattern rebuilds the published chain from its root: no reachable object keeps the old content")
    func secretPatternAddedLater() throws {
        let f = Fleet()
        let smtp = "smtp-Passw0rd-published-before-the-pattern"
        f.edit("web1", "config/smtp.yml", "password: \(smtp)\n")
        f.record("web1", "config/smtp.yml", "SMTP password")
        f.edit("web1", "config/clock.rb", FleetTests.patchedClock)
        f.record("web1", "config/clock.rb", "Disable the RSS cleanup job")
        #expect(f.remoteObjects().contains(smtp), "the recipe: unredacted before the pattern is added")
        let before = git(["rev-parse", "refs/patchkeeper/web1/api/registry"], in: f.remote)
        // The admin adds the pattern; the next scan publishes.
        let text = try String(contentsOfFile: f.config("web1"), encoding: .utf8)
        f.app.scratch.write("config-web1.toml", text.replacingOccurrences(of: "host = \"web1\"\n", with: "host = \"web1\"\nsecret_paths = [\"config/smtp.yml\"]\n"))
        chmod(f.config("web1"), 0o644)
        #expect(f.pkOn("web1", ["scan"]).status == 0)
        let after = git(["rev-parse", "refs/patchkeeper/web1/api/registry"], in: f.remote)
        #expect(after != before)
        // Not a descendant: the old chain is gone from every ref (the push was forced).
        let merged = run("/usr/bin/git", ["-C", f.remote, "merge-base", "--is-ancestor", before, after])
        #expect(merged.status == 1, "the new chain still contains the old one")
        let log = git(["log", "--format=%s", "refs/patchkeeper/web1/api/registry"], in: f.remote)
        #expect(log.contains("SMTP password"), "\(log)")
        let published = git(["show", "refs/patchkeeper/web1/api/registry:0001-smtp-password.patch"], in: f.remote)
        #expect(published.contains("Redacted: src/api/config/smtp.yml"), "\(published)")
        // The server keeps unreachable objects until it collects them (docs/FLEET.md); after gc,
        // nothing reachable holds the secret.
        git(["gc", "-q", "--prune=now"], in: f.remote)
        let objects = f.remoteObjects()
        #expect(objects.contains("# RssCleanup.run  # takes table locks"))
        #expect(!objects.contains(smtp), "an object reachable from the new chain holds the old content")
        // The documented delete-and-republish: the same.
        for kind in ["registry", "images", "summary"] { git(["update-ref", "-d", "refs/patchkeeper/web1/api/\(kind)"], in: f.remote) }
        git(["gc", "-q", "--prune=now"], in: f.remote)
        #expect(f.pkOn("web1", ["scan"]).status == 0)
        let again = f.remoteObjects()
        #expect(again.contains("SMTP password"))
        #expect(!again.contains(smtp))
        // An unchanged pattern list does not rebuild: the chain only grows.
        f.edit("web1", "config/workers.yml", "timeout: 90\n")
        f.record("web1", "config/workers.yml", "Raise the worker timeout")
        let tip = git(["rev-parse", "refs/patchkeeper/web1/api/registry"], in: f.remote)
        #expect(run("/usr/bin/git", ["-C", f.remote, "merge-base", "--is-ancestor", after, tip]).status == 0)
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
        // web3's scan was aged by 5 hours: the verdicts hold as of each host's scan.
        #expect(t.stdout.contains("fleet gate: BLOCKED on 3 of 3 host/apps (oldest scan 5h ago)\n"), "\(t.stdout)")
        #expect(t.stdout.contains(" (as of scan 5h ago)\n"), "\(t.stdout)")

        // With the reapply policy, a host whose only patch reapplies cleanly is safe.
        let g = try f.json(f.fleet(["gate", "--target", "v2", "--repo", f.app.repo, "--no-fetch", "--policy", "reapply", "--format", "json"]))
        let byHost = Dictionary(uniqueKeysWithValues: ((g["hosts"] as? [[String: Any]]) ?? []).map { ($0["host"] as! String, $0) })
        #expect(byHost["web2"]?["blocked"] as? Bool == true)   // the shared patch conflicts, and 0002 is expired
    }

    /// Review F2: the host's own gate blocks on scan problems; fleet gate must too.
    @Test("fleet gate blocks a host whose last scan had problems (a FIFO in the tree)")
    func scanProblemsBlock() throws {
        let f = Fleet()
        #expect(mkfifo(f.root("web1") + "/config/pipe", 0o644) == 0)
        f.pkOn("web1", ["scan"])
        f.pkOn("web2", ["scan"])
        let own = f.pkOn("web1", ["gate", "--target", "base"])
        #expect(own.status != 0, "the recipe: the host's own gate blocks\n\(own.stdout)\(own.stderr)")
        let j = try f.json(f.fleet(["gate", "--target", "base", "--repo", f.app.repo, "--app", "api", "--format", "json"]))
        let byHost = Dictionary(uniqueKeysWithValues: ((j["hosts"] as? [[String: Any]]) ?? []).map { ($0["host"] as! String, $0) })
        let web1 = try #require(byHost["web1"])
        #expect(web1["blocked"] as? Bool == true, "\(web1)")
        #expect((web1["reasons"] as? [String])?.contains { $0.hasPrefix("decide on the host (1 problem") } == true, "\(web1)")
        #expect((web1["reasons"] as? [String])?.count == 1, "the problem is the only reason (without it, web1 is safe): \(web1)")
        #expect(byHost["web2"]?["blocked"] as? Bool == false, "\(byHost["web2"] ?? [:])")
        #expect(byHost["web2"]?["scan_age_seconds"] as? Int != nil, "\(byHost["web2"] ?? [:])")
        // fleet (the report) flags it too.
        let report = try f.json(f.fleet(["--no-fetch", "--format", "json"]))
        let row = try #require((report["hosts"] as? [[String: Any]])?.first { $0["host"] as? String == "web1" })
        #expect(row["scan_problems"] as? Int == 1, "\(row)")
        let text = f.fleet(["--no-fetch"])
        #expect(text.stdout.contains("  problem: its last scan had 1 problem"), "\(text.stdout)")
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
        // Review F5: a host deleting its own refs would drop out of fleet gate ("safe on N of N").
        let ownDelete = push("refs/patchkeeper/web1/api/summary", as: "web1", delete: true)
        #expect(ownDelete.status != 0)
        #expect(ownDelete.stderr.contains("only PATCHKEEPER_FLEET_ADMINS may delete refs"), "\(ownDelete.stderr)")
        // App names as fleet reads them.
        #expect(push("refs/patchkeeper/web1/-x/registry", as: "web1").status != 0)
        #expect(push("refs/patchkeeper/web1/a..b/registry", as: "web1").status != 0)
        #expect(push("refs/patchkeeper/web1/api.lock/registry", as: "web1").status != 0)
        #expect(push("refs/patchkeeper/web1/\(String(repeating: "a", count: 65))/registry", as: "web1").status != 0)
        #expect(push("refs/patchkeeper/web1/shop_2.v-1/registry", as: "web1").status == 0)
        // An admin may delete any host's refs (a decommissioned host).
        func adminDelete(_ ref: String) -> ProcessResult {
            run("/usr/bin/git", ["-C", s.file("src"), "push", "file://" + s.file("fleet.git"), ":" + ref],
                env: ["GIT_CONFIG_NOSYSTEM": "1", "HOME": s.path, "PATCHKEEPER_HOST": "admin", "PATCHKEEPER_FLEET_ADMINS": "ops admin"])
        }
        #expect(adminDelete("refs/patchkeeper/web1/shop_2.v-1/registry").status == 0)
        // A host creating refs without end (fleet refuses a remote with more than 50 for one host).
        func pushCapped(_ ref: String) -> ProcessResult {
            run("/usr/bin/git", ["-C", s.file("src"), "push", "file://" + s.file("fleet.git"), "HEAD:" + ref],
                env: ["GIT_CONFIG_NOSYSTEM": "1", "HOME": s.path, "PATCHKEEPER_HOST": "web3", "PATCHKEEPER_FLEET_MAX_REFS": "2"])
        }
        #expect(pushCapped("refs/patchkeeper/web3/a/registry").status == 0)
        #expect(pushCapped("refs/patchkeeper/web3/a/summary").status == 0)
        let third = pushCapped("refs/patchkeeper/web3/b/registry")
        #expect(third.status != 0)
        #expect(third.stderr.contains("host already has 2 refs"), "\(third.stderr)")
        for kind in ["registry", "summary"] { git(["update-ref", "-d", "refs/patchkeeper/web3/a/\(kind)"], in: s.file("fleet.git")) }
        let refs = git(["for-each-ref", "--format=%(refname)"], in: s.file("fleet.git")).split(separator: "\n").map(String.init).sorted()
        #expect(refs == ["refs/patchkeeper/web1/api/registry", "refs/patchkeeper/web1/api/summary", "refs/patchkeeper/web2/api/registry"])
    }
}

/// The ssh transport against a local sshd (started here on 127.0.0.1 with its own config, host
/// key and authorized_keys in the test's scratch dir; no system file is read or written; the
/// forced command sets the host identity the update hook checks).
///
/// Why it once hung: sshd closes every descriptor above stderr when it starts, including the
/// socket Foundation's `Process` watches to learn that a child exited. Foundation took that as
/// the exit and blocked its one process-monitor thread in `waitpid(sshd)`, so no later `Process`
/// in the test run (bash, git, patchkeeper) was ever reaped. sshd is therefore started under
/// `timeout(1)`, which keeps that socket open, forwards the final SIGTERM, and kills sshd after
/// `serverLifetime` even if this process dies. Every client command runs under a timeout too: a
/// hang fails the test with a message instead of stopping the run.
///
/// Skipped, visibly, where sshd cannot run: the trait below when a program is missing, and a
/// cancellation naming `sshd -t`'s complaint when sshd refuses the configuration (not root, no
/// privilege separation directory).
@Suite("Fleet over ssh")
struct FleetSSHTests {
    static let sshd = "/usr/sbin/sshd"
    static let tools = [sshd, "/usr/bin/ssh-keygen", "/usr/bin/git-shell", "/usr/bin/timeout"]
    static var toolsPresent: Bool { tools.allSatisfy { FileManager.default.isExecutableFile(atPath: $0) } }
    /// sshd is killed after this many seconds whatever happens; one client command after `clientTimeout`.
    static let serverLifetime = 300
    static let clientTimeout = 60

    /// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        try #require(bound, "cannot bind a port on 127.0.0.1")
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// True once something accepts connections on 127.0.0.1:port.
    static func listening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// patchkeeper with a hard timeout: a hang is a failure that says so, never a stuck run.
    static func pkTimed(_ args: [String], what: String, sourceLocation: SourceLocation = #_sourceLocation) -> ProcessResult {
        let r = run("/usr/bin/timeout", ["-k", "5", String(clientTimeout), patchkeeperBinary()] + args)
        if r.status == 124 || r.status == 137 {
            Issue.record("\(what): patchkeeper \(args.first ?? "") over ssh did not finish within \(clientTimeout) s (killed): \(r.stderr)",
                         sourceLocation: sourceLocation)
        }
        return r
    }

    @Test("a host publishes over ssh with a pinned host key; another host's namespace, an unpinned or wrong host key are refused",
          .enabled(if: toolsPresent, "needs /usr/sbin/sshd (openssh-server), ssh-keygen, git-shell and timeout: ssh transport NOT tested in this run"),
          .timeLimit(.minutes(5)))
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
        let port = try Self.freePort()
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
            AllowAgentForwarding no
            AllowTcpForwarding no
            X11Forwarding no
            LogLevel ERROR
            """)
        // sshd's own verdict on the configuration (privilege separation directory, user, keys):
        // where it says no, sshd cannot run here, and the test says so instead of failing.
        let check = run(Self.sshd, ["-t", "-f", dir + "/sshd_config"])
        if check.status != 0 {
            try Test.cancel("sshd cannot run here (\(check.stderr.trimmingCharacters(in: .whitespacesAndNewlines))): ssh transport NOT tested in this run")
        }
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        server.arguments = ["-k", "5", String(Self.serverLifetime), Self.sshd, "-D", "-e", "-f", dir + "/sshd_config"]
        server.standardInput = FileHandle.nullDevice
        server.standardOutput = FileHandle.nullDevice
        let serverLog = dir + "/sshd.log"
        _ = FileManager.default.createFile(atPath: serverLog, contents: nil)
        server.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: serverLog))
        try server.run()
        defer {
            // Children of Foundation's Process start with SIGTERM blocked (its monitor thread's
            // mask), so timeout(1) would ignore terminate(): sshd, which resets its mask, is
            // stopped by its pid file, and timeout then exits with it; SIGKILL if not.
            let pid = f.app.scratch.read("ssh/sshd.pid").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if let pid { kill(pid, SIGTERM) }
            for _ in 0..<100 where server.isRunning { usleep(100_000) }
            if server.isRunning {
                if let pid { kill(pid, SIGKILL) }
                kill(server.processIdentifier, SIGKILL)
            }
            server.waitUntilExit()
        }
        var up = false
        for _ in 0..<100 where !up && server.isRunning {
            up = Self.listening(port)
            if !up { usleep(100_000) }
        }
        try #require(up, "sshd did not start on 127.0.0.1:\(port) within 10 s: \(f.app.scratch.read("ssh/sshd.log") ?? "")")
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
        func pkOnWeb1(_ args: [String], what: String) -> ProcessResult { Self.pkTimed(args + ["--config", f.config("web1")], what: what) }
        configure(host: "web1", hostKey: fingerprint)
        f.edit("web1", "config/clock.rb", FleetTests.patchedClock)
        let rec = pkOnWeb1(["record", "config/clock.rb", "--title", "Disable the RSS cleanup job", "--reason", "locks"], what: "record")
        #expect(rec.status == 0, "\(rec.stderr)")
        #expect(!rec.stderr.contains("warning"), "\(rec.stderr)")
        let published = run("/usr/bin/git", ["-C", f.remote, "log", "--format=%s", "refs/patchkeeper/web1/api/registry"])
        #expect(published.stdout.contains("record 0001: Disable the RSS cleanup job"), "nothing arrived over ssh: \(published.stderr) \(rec.stderr)")
        let status = pkOnWeb1(["status"], what: "status")
        #expect(status.stdout.contains("fleet: pushed to"), "\(status.stdout)")

        // The key belongs to web1: publishing as web2 is refused by the server's hook, and
        // web2's refs (published by the fixture over the local path) stay as they were.
        let web2Refs = { run("/usr/bin/git", ["-C", f.remote, "for-each-ref", "--format=%(refname) %(objectname)", "refs/patchkeeper/web2/"]).stdout }
        let web2Before = web2Refs()
        #expect(web2Before.contains("refs/patchkeeper/web2/api/registry"), "\(web2Before)")
        configure(host: "web2", hostKey: fingerprint)
        let other = pkOnWeb1(["scan"], what: "scan as web2")
        #expect(other.stderr.contains("warning: publishing api to the fleet remote"), "\(other.stderr)")
        #expect(other.stderr.contains("the remote refused refs/patchkeeper/web2/api/") && other.stderr.contains("hook declined"), "\(other.stderr)")
        #expect(pkOnWeb1(["status"], what: "status").stdout.contains("fleet push PENDING"))
        #expect(web2Refs() == web2Before)

        // No pinned key, or the wrong one: nothing is sent.
        configure(host: "web1", hostKey: nil)
        let unpinned = pkOnWeb1(["scan"], what: "scan, unpinned")
        #expect(unpinned.stderr.contains("no ssh host key pinned"), "\(unpinned.stderr)")
        configure(host: "web1", hostKey: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        let wrong = pkOnWeb1(["scan"], what: "scan, wrong host key")
        #expect(wrong.stderr.contains("not the pinned SHA256:AAAA"), "\(wrong.stderr)")

        // The admin side reads over ssh too.
        let r = Self.pkTimed(["fleet", "--remote", url, "--ssh-key", dir + "/client_key", "--ssh-host-key", fingerprint,
                              "--cache", f.cache, "--format", "json"], what: "fleet")
        #expect(r.status != 2, "\(r.stderr)")
        let j = try f.json(r)
        #expect((j["hosts"] as? [[String: Any]])?.contains { $0["host"] as? String == "web1" } == true, "\(j)")
        #expect(((j["fetch"] as? [String: Any])?["received_objects"] as? Int ?? 0) > 0, "\(j)")
    }
}

/// libgit2 1.5 has no network timeout: a remote that accepts the connection and never answers
/// hangs a push. The push runs after the registry lock is released and is abandoned after
/// `[fleet] timeout` seconds, so such a remote holds up neither `record` nor the next scan.
@Suite("Fleet: a silent remote")
struct FleetSilentRemoteTests {
    @Test("while one scan's push hangs on a remote that never answers, record on the same registry writes its patch, gives up its own push after the timeout and says so; status shows it pending")
    func silentRemote() throws {
        let app = AppFixture(deploy: false)
        app.commit(["src/api/config/clock.rb": FleetTests.clock], message: "base", tag: "base")
        app.deploy("base")
        // A TCP server that accepts and never says a word (the TLS handshake waits forever).
        app.scratch.write("silent.py", """
            import socket, sys, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
            open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
            import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            held = []
            deadline = time.time() + 90
            s.settimeout(1)
            while time.time() < deadline:
                try: held.append(s.accept()[0])
                except socket.timeout: pass
            """)
        let portFile = app.scratch.file("port")
        // Started without pipes (run() reads its pipes to the end, and a child in the background
        // would hold them open), under timeout(1) so it cannot outlive the test.
        func background(_ args: [String], log: String? = nil) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            p.arguments = ["90"] + args
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            if let log, FileManager.default.createFile(atPath: log, contents: nil), let h = FileHandle(forWritingAtPath: log) {
                p.standardError = h
            } else {
                p.standardError = FileHandle.nullDevice
            }
            try p.run()
            return p
        }
        let server = try background(["python3", app.scratch.file("silent.py"), portFile])
        defer { kill(server.processIdentifier, SIGKILL) }
        var port = ""
        for _ in 0..<50 where port.isEmpty { usleep(100_000); port = app.scratch.read("port") ?? "" }
        try #require(!port.isEmpty, "the silent server did not start")
        func config(_ name: String, timeout: Int) -> String {
            app.scratch.write(name, """
                [fleet]
                remote = "https://127.0.0.1:\(port)/fleet.git"
                host = "web1"
                timeout = \(timeout)

                [apps.api]
                root = "\(app.root)"
                repo = "\(app.repo)"
                subdir = "src/api"
                registry = "\(app.registry)"
                """)
            chmod(app.scratch.file(name), 0o644)
            return app.scratch.file(name)
        }
        let slow = config("slow.toml", timeout: 60), quick = config("quick.toml", timeout: 2)
        #expect(pk(["init", "--config", quick]).status == 0)
        // A scan in the background: it publishes after scanning and hangs in the push.
        let bin = patchkeeperBinary()
let scan = try background([bin, "scan", "--config", slow], log: app.scratch.file("scan.log"))
        defer { kill(scan.processIdentifier, SIGKILL) }
        // Wait until it is connected (the server holds its connection): past the lock.
        var connected = false
        for _ in 0..<60 where !connected {
            usleep(250_000)
            connected = run("/bin/sh", ["-c", "ss -tn | grep -q '127.0.0.1:\(port) '"]).status == 0
        }
        try #require(connected, "the scan never reached the remote: \(app.scratch.read("scan.log") ?? "")")
        app.scratch.write("live/config/clock.rb", FleetTests.patchedClock)
        let started = Date()
        let r = pk(["record", "config/clock.rb", "--title", "Disable the RSS cleanup job", "--reason", "locks",
                    "--wait", "5", "--config", quick])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(!r.stderr.contains("locked by another patchkeeper"), "\(r.stderr)")
        #expect(r.stderr.contains("did not answer within 2 s"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: app.registry + "/0001-disable-the-rss-cleanup-job.patch"))
        #expect(Date().timeIntervalSince(started) < 20)
        let status = pk(["status", "--config", quick])
        #expect(status.stdout.contains("PENDING") || status.stdout.lowercased().contains("pending"), "\(status.stdout)")
    }
}
