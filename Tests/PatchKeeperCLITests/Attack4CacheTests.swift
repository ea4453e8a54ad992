import Foundation
import Testing
import TestSupport

/// Review 3 of the gate1k / patch-id cache work: caches and derived files must never make a later
/// run decide differently from a cold one.
@Suite("Attack4: caches and derived files")
struct Attack4CacheTests {
    func initialised() -> AppFixture {
        let app = AppFixture()
        let r = pk(["init"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    @Test("a 'validated' line written before the header check got stricter (or forged) does not let the file skip it")
    func staleValidatedLine() throws {
        let app = initialised()
        // git reads b//src/api/x as /src/api/x; libgit2 silently as src/api/x. A combining mark
        // after 'diff --git ' hid it from the check before it read bytes: a binary of then noted
        // the file as validated.
        let diff = "diff --git a/src/api/README b/src/api/README\n--- a/src/api/README\n+++ b/src/api/README\n@@ -1 +1 @@\n-The API.\n+The API!\n"
            + "diff --git \u{301}a//src/api/x b//src/api/x\nnew file mode 100644\n--- /dev/null\n+++ b//src/api/x\n@@ -0,0 +1 @@\n+x\n"
        app.scratch.write("registry/0001-evil.patch", HostileInputTests.registryFile(diff, base: app.v1))
        let cold = pk(["scan"] + app.flags)
        #expect(cold.status == 2 && cold.stderr.contains("is absolute"), "\(cold.status) \(cold.stderr)")
        // What the earlier binary left: the file's blob id, as one line (and the hunk note).
        let blob = git(["hash-object", app.registry + "/0001-evil.patch"], in: app.repo)
        app.scratch.write("registry/.patchkeeper/validated", blob + "\nH " + blob)
        let warm = pk(["scan"] + app.flags)
        #expect(warm.status == 2 && warm.stderr.contains("is absolute"), "\(warm.status) \(warm.stdout) \(warm.stderr)")
        let gate = pk(["gate", "--target", app.v1] + app.flags)
        #expect(gate.status == 2 && gate.stderr.contains("is absolute"), "\(gate.status) \(gate.stdout) \(gate.stderr)")
    }
}

extension Attack4CacheTests {
    /// The gate's JSON for `target` with no patch-id cache, then with `cut` applied to the cache
    /// that run left: both must be the same, byte for byte.
    func coldThenCut(_ app: AppFixture, target: String, cut: (String) -> String?) throws -> (cold: ProcessResult, warm: ProcessResult)? {
        let cache = app.registry + "/.patchkeeper/patchids"
        try? FileManager.default.removeItem(atPath: cache)
        let cold = pk(["gate", "--target", target, "--format", "json"] + app.flags)
        let text = try #require(app.scratch.read("registry/.patchkeeper/patchids"))
        guard let damaged = cut(text) else { return nil }
        app.scratch.write("registry/.patchkeeper/patchids", damaged)
        let warm = pk(["gate", "--target", target, "--format", "json"] + app.flags)
        return (cold, warm)
    }

    @Test("a patch-id cache cut inside its last line (a crash without fsync) gives the cold gate's verdict, not a shorter range")
    func truncatedRangeLine() throws {
        let g = GateTests()
        let app = g.app()
        g.recordClock(app)
        let fixed = app.commit(["src/api/config/clock.rb": GateTests.patchedClock], message: "Disable the RSS job upstream", tag: "fixed")
        app.commit(["src/api/config/clock.rb": "every 1.hour do\n  Other.run\nend\n"], message: "rework", tag: "later")
        // Cut the file at every item boundary of its last line (where every field still parses).
        var cuts = 0
        for k in 0..<8 {
            let r = try coldThenCut(app, target: "later") { text -> String? in
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                guard let last = lines.dropLast().last, last.hasPrefix("R ") else { return nil }
                let head = lines.dropLast(2).map { $0 + "\n" }.joined()
                // After the key ("R BASE TARGET DIGEST "), then after each "ID:COMMIT," pair.
                let fields = last.split(separator: " ", omittingEmptySubsequences: false)
                guard fields.count == 5 else { return nil }
                let pairs = fields[4].split(separator: ",")
                guard k <= pairs.count - 1 else { return nil }
                return head + fields[..<4].joined(separator: " ") + " " + pairs.prefix(k).map { $0 + "," }.joined()
            }
            guard let r else { break }
            cuts += 1
            #expect(r.cold.stdout.contains("\"upstreamed\"") && r.cold.stdout.contains(fixed), "\(r.cold.stdout)")
            #expect(r.warm.stdout == r.cold.stdout, "cut \(k): warm \(r.warm.stdout)")
            #expect(r.warm.status == r.cold.status, "cut \(k)")
        }
        #expect(cuts >= 1)
    }
}

extension Attack4CacheTests {
    @Test("gates run one after another over a moving target, a hand-edited patch and a re-record give, target by target, the cold gate's JSON")
    func warmEqualsColdOverHistory() throws {
        let g = GateTests()
        let app = g.app()
        g.recordClock(app)
        app.scratch.write("live/config/workers.yml", "timeout: 60\nconcurrency: 4\n")
        #expect(pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "slow"] + app.flags).status == 0)
        let clock = "src/api/config/clock.rb", workers = "src/api/config/workers.yml"
        var targets: [String] = []
        targets.append(app.commit(["src/api/README": "The API, v2.\n"], message: "unrelated"))
        targets.append(app.commit([clock: GateTests.patchedClock], message: "Disable the RSS job upstream"))
        targets.append(app.commit([clock: GateTests.clock], message: "Revert the RSS job"))
        targets.append(app.commit([clock: GateTests.clock.replacingOccurrences(of: "Report.run", with: "Report.run(:daily)")], message: "daily"))
        targets.append(app.commit([workers: "timeout: 60\nconcurrency: 4\n"], message: "timeout upstream"))
        targets.append(app.commit([workers: "timeout: 90\nconcurrency: 4\n"], message: "timeout again"))
        let schedule = "src/api/config/schedule.rb"
        targets.append(app.commit([clock: nil, schedule: GateTests.clock.replacingOccurrences(of: "Report.run", with: "Report.run(:daily)")],
                                  message: "rename"))
        targets.append(app.commit([schedule: "every 1.hour do\n  # RssCleanup.run  # takes table locks\nend\n"], message: "Disable again, drop the daily job"))

        func gate(_ t: String) -> ProcessResult { pk(["gate", "--target", t, "--format", "json"] + app.flags) }
        func cold(_ t: String) -> ProcessResult {
            let cache = app.registry + "/.patchkeeper/patchids"
            let kept = app.scratch.read("registry/.patchkeeper/patchids")
            try? FileManager.default.removeItem(atPath: cache)
            let r = gate(t)
            if let kept { app.scratch.write("registry/.patchkeeper/patchids", kept) } else { try? FileManager.default.removeItem(atPath: cache) }
            return r
        }
        var verdicts = Set<String>()
        func pass(_ what: String) {
            for (i, t) in targets.enumerated() {
                let w = gate(t), w2 = gate(t), c = cold(t)
                for m in w.stdout.matches(of: /"verdict" : "([a-z-]+)"/) { verdicts.insert(String(m.1)) }
                #expect(w.status != 2 && c.status != 2, "\(what) \(i): \(w.stderr) \(c.stderr)")
                #expect(w.stdout == c.stdout, "\(what) target \(i): warm\n\(w.stdout)\ncold\n\(c.stdout)")
                #expect(w2.stdout == c.stdout, "\(what) target \(i) (second warm run)")
            }
            // And backwards: answers kept for later targets do not leak into earlier ones.
            for (i, t) in targets.enumerated().reversed() {
                let w = gate(t), c = cold(t)
                #expect(w.stdout == c.stdout, "\(what) backwards target \(i): warm\n\(w.stdout)\ncold\n\(c.stdout)")
            }
        }
        pass("first")
        // Spot checks against git in throw-away clones: the fix upstream (git apply -R applies),
        // then reverted (the patch applies again): upstreamed, then reapplies.
        func verdict(_ t: String, _ id: String) -> String? {
            let j = try? JSONSerialization.jsonObject(with: Data(gate(t).stdout.utf8)) as? [String: Any]
            return ((j?["patches"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == id }?["verdict"] as? String
        }
        let patch0001 = app.registry + "/" + (try #require(g.patchFile(app, "0001")))
        #expect(verdict(targets[1], "0001") == "upstreamed")
        #expect(run("/usr/bin/git", ["apply", "-R", "--check", patch0001], cwd: g.checkout(app, targets[1])).status == 0)
        #expect(verdict(targets[2], "0001") == "reapplies")
        #expect(run("/usr/bin/git", ["apply", "--check", patch0001], cwd: g.checkout(app, targets[2])).status == 0)
        // The clock patch's hunks edited by hand (same path, another line), committed.
        let file = try #require(g.patchFile(app, "0001"))
        var text = try #require(app.scratch.read("registry/" + file))
        text = text.replacingOccurrences(of: "+  # RssCleanup.run  # takes table locks", with: "+  # RssCleanup.run  # locks")
        app.scratch.write("registry/" + file, text)
        git(["commit", "-qam", "hand edit"], in: app.registry)
        pass("hand edit")
        // Retired, then recorded again with another change on the same path.
        #expect(pk(["retire", "0002", "--reason", "x"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 30\nconcurrency: 8\n")
        let rec = pk(["record", "config/workers.yml", "--title", "More workers", "--reason", "load"] + app.flags)
        #expect(rec.status == 0, "\(rec.stderr)")
        pass("re-record")
        // The history reaches every verdict the caches feed (patch-id, revert checks, renames).
        #expect(verdicts.isSuperset(of: ["upstreamed", "conflicts", "reapplies", "reapplies-renamed"]), "\(verdicts)")
    }
}

extension GateTests {
    func patchFile(_ app: AppFixture, _ id: String) -> String? {
        app.patchFiles().map { POSIX_basename($0) }.first { $0.hasPrefix(id + "-") }
    }
}

private func POSIX_basename(_ p: String) -> String { String(p.split(separator: "/").last ?? "") }

extension Attack4CacheTests {
    @Test("a hand edit that zeroes the index line's preimage id and changes the hunks: a scan does not note it checked, so a warm gate still says 'edited by hand'")
    func zeroPreimageHandEdit() throws {
        let g = GateTests()
        let app = g.app()
        g.recordClock(app)
        let v2 = app.commit(["src/api/config/clock.rb": GateTests.clock.replacingOccurrences(of: "Report.run", with: "Report.run(:daily)")],
                            message: "v2", tag: "v2")
        let file = try #require(g.patchFile(app, "0001"))
        var text = try #require(app.scratch.read("registry/" + file))
        let index = try #require(text.firstMatch(of: /\nindex ([0-9a-f]+)\.\./))
        text = text.replacingOccurrences(of: "\nindex \(index.1)..", with: "\nindex 0000000..")
        text = text.replacingOccurrences(of: "+  # RssCleanup.run  # takes table locks", with: "+  RssCleanup.run(:all)")
        app.scratch.write("registry/" + file, text)
        git(["commit", "-qam", "hand edit"], in: app.registry)
        let cold = pk(["gate", "--target", v2, "--format", "json"] + app.flags)
        #expect(cold.stdout.contains("edited by hand"), "\(cold.stdout)")
        _ = pk(["scan"] + app.flags)
        let warm = pk(["gate", "--target", v2, "--format", "json"] + app.flags)
        #expect(warm.stdout == cold.stdout, "warm\n\(warm.stdout)\ncold\n\(cold.stdout)")
        #expect(warm.status == cold.status)
    }
}

extension Attack4CacheTests {
    @Test("a recorded patch that deletes a line '- ' (a YAML list item) has a '-- ' line in its hunk, not a signature: it loads, scans and gates")
    func dashDashLineInHunk() throws {
        let app = AppFixture(deploy: false)
        let v2 = app.commit(["src/api/config/list.yml": "items:\n- a\n- \n- b\n"], message: "list", tag: "v2")
        app.deploy("v2")
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/list.yml", "items:\n- a\n- b\n")
        let rec = pk(["record", "config/list.yml", "--title", "Drop the empty item", "--reason", "r"] + app.flags)
        #expect(rec.status == 0, "\(rec.stderr)")
        let file = try #require(app.patchFiles().first)
        #expect(try #require(app.scratch.read("registry/" + file)).contains("\n-- \n"))
        let list = pk(["list"] + app.flags)
        #expect(list.status == 0, "\(list.stderr)")
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 0, "\(scan.stdout) \(scan.stderr)")
        let gate = pk(["gate", "--target", v2, "--policy", "reapply"] + app.flags)
        #expect(gate.status == 0, "\(gate.stdout) \(gate.stderr)")
        // git reads the whole hunk too.
        let numstat = run("/usr/bin/git", ["apply", "--numstat", app.registry + "/" + file], cwd: app.repo)
        #expect(numstat.stdout == "0\t1\tsrc/api/config/list.yml\n", "\(numstat.stdout) \(numstat.stderr)")
    }
}

extension Attack4CacheTests {
    @Test("commit lists an older binary kept (before a merge that took another parent's version stopped being named) are not read as this binary's answer")
    func staleCommitList() throws {
        let g = GateTests()
        let app = g.app()
        g.recordClock(app)
        let base = git(["rev-parse", "base"], in: app.repo)
        let target = app.commit(["src/api/config/clock.rb": GateTests.clock.replacingOccurrences(of: "RssCleanup.run", with: "RssCleanup.run(:fast)")],
                                message: "fast cleanup")
        let cold = pk(["gate", "--target", target, "--format", "json"] + app.flags)
        #expect(cold.stdout.contains("fast cleanup"), "\(cold.stdout)")
        // The line an older binary wrote for these lines (key: the path, then the changed line
        // ranges, "2-3" or so: one line for every small range), with another answer (what it
        // named then).
        var lines = ""
        for a in 1...8 {
            for b in a...8 {
                let digest = run("/bin/sh", ["-c", "printf 'src/api/config/clock.rb\\n\(a)-\(b)' | git hash-object --stdin"]).stdout
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                lines += "T \(base) \(target) \(digest) \(app.v1)\n"
            }
        }
        let cache = try #require(app.scratch.read("registry/.patchkeeper/patchids"))
        app.scratch.write("registry/.patchkeeper/patchids", cache + lines)
        let warm = pk(["gate", "--target", target, "--format", "json"] + app.flags)
        #expect(warm.stdout == cold.stdout, "warm\n\(warm.stdout)\ncold\n\(cold.stdout)")
    }
}
