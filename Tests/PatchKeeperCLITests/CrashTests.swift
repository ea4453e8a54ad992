import Foundation
import Testing
import TestSupport

/// Kills the process at every durable write step (PATCHKEEPER_FAULT_AFTER=k) of record, apply,
/// reapply and motd; after each crash every file is old or new, the registry passes git fsck,
/// and rerunning the command finishes the job with the same end state as an uninterrupted run.
@Suite("Crash safety")
struct CrashTests {
    struct Scenario: Sendable, CustomStringConvertible {
        var name: String
        /// Prepares a fresh app, returns the command's arguments (without app flags).
        var setup: @Sendable (AppFixture) -> [String]
        /// Exit codes an uninterrupted rerun may give after a crash (the job may be done already).
        var rerunOK: Set<Int32>
        var needsInit = true
        var description: String { name }
    }

    static let scenarios: [Scenario] = [
        Scenario(name: "record", setup: { app in
            app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
            app.scratch.write("live/config/new.rb", "NEW = 1\n")
            return ["record", "config/clock.rb", "config/new.rb", "--title", "Crash me", "--reason", "r"]
        }, rerunOK: [0, 2]),
        Scenario(name: "apply", setup: { app in
            app.scratch.write("fix.patch", """
                diff --git a/src/api/config/workers.yml b/src/api/config/workers.yml
                --- a/src/api/config/workers.yml
                +++ b/src/api/config/workers.yml
                @@ -1,2 +1,2 @@
                -timeout: 30
                +timeout: 90
                 concurrency: 4
                diff --git a/src/api/config/clock.rb b/src/api/config/clock.rb
                --- a/src/api/config/clock.rb
                +++ b/src/api/config/clock.rb
                @@ -1,3 +1,3 @@
                 every 1.hour do
                -  RssCleanup.run
                +  # RssCleanup.run
                 end
                diff --git a/src/api/README b/src/api/README
                deleted file mode 100644
                --- a/src/api/README
                +++ /dev/null
                @@ -1 +0,0 @@
                -The API.

                """)
            return ["apply", app.scratch.file("fix.patch"), "--title", "Crash me", "--reason", "r"]
        }, rerunOK: [0]),
        Scenario(name: "reapply", setup: { app in
            app.scratch.write("live/config/clock.rb", "every 1.hour do\n  # RssCleanup.run\nend\n")
            app.scratch.write("live/config/workers.yml", "timeout: 90\nconcurrency: 4\n")
            precondition(pk(["record", "config/clock.rb", "--title", "One", "--reason", "r"] + app.flags).status == 0)
            precondition(pk(["record", "config/workers.yml", "--title", "Two", "--reason", "r"] + app.flags).status == 0)
            app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
            app.deploy("v2")
            return ["reapply"]
        }, rerunOK: [0]),
        Scenario(name: "retire", setup: { app in
            app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
            precondition(pk(["record", "config/clock.rb", "--title", "One", "--reason", "r"] + app.flags).status == 0)
            return ["retire", "1", "--reason", "done"]
        }, rerunOK: [0, 2]),
        Scenario(name: "init", setup: { _ in ["init"] }, rerunOK: [0], needsInit: false),
        Scenario(name: "motd", setup: { app in
            app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
            precondition(pk(["record", "config/clock.rb", "--title", "One", "--reason", "r"] + app.flags).status == 0)
            app.scratch.write("motd", "Welcome.\n")
            return ["motd", "--file", app.scratch.file("motd")]
        }, rerunOK: [0]),
    ]

    func fresh(_ s: Scenario) -> (AppFixture, [String]) {
        let app = AppFixture()
        if s.needsInit { precondition(pk(["init"] + app.flags).status == 0) }
        // Old enough for the stat cache to trust, so scans do not differ run to run.
        let args = s.setup(app)
        return (app, args)
    }

    /// Root and motd contents (registry excluded: it holds dates and commit ids).
    func state(_ app: AppFixture) -> [String: Data] {
        var s = snapshot(app.root)
        if let m = FileManager.default.contents(atPath: app.scratch.file("motd")) {
            // The block shows the time of the check and ages: compare it without digits.
            s["<motd>"] = Data(String(decoding: m, as: UTF8.self).replacingOccurrences(of: "[0-9]", with: "#", options: .regularExpression).utf8)
        }
        return s
    }

    @Test("every crash point leaves old-or-new files, a sound registry, and a rerun that finishes", arguments: scenarios)
    func crashEverywhere(_ s: Scenario) throws {
        // Reference: the uninterrupted run.
        let (ref, refArgs) = fresh(s)
        let before = state(ref)
        let r = pk(refArgs + ref.flags)
        #expect(r.status == 0, "\(r.stderr)")
        let after = state(ref)
        let refPatches = git(["ls-files", "*.patch"], in: ref.registry)
        let refStatus = git(["log", "--format=%s"], in: ref.registry)

        var k = 1
        var crashes = 0
        while k < 200 {
            let (app, args) = fresh(s)
            let crashed = pk(args + app.flags, env: ["PATCHKEEPER_FAULT_AFTER": String(k)])
            if crashed.status != 97 {
                #expect(crashed.status == 0, "step \(k): \(crashed.stderr)")
                break
            }
            crashes += 1
            // Every file is either its old or its new content; no temp file is left visible to git.
            let mid = state(app)
            for (path, data) in mid where !path.contains(".pk-tmp-") {
                #expect(data == before[path] || data == after[path], "step \(k): \(path) is neither old nor new")
            }
            for path in Set(before.keys).union(after.keys) where mid[path] == nil {
                #expect(before[path] == nil || after[path] == nil, "step \(k): \(path) vanished")
            }
            let fsck = run("/usr/bin/git", ["fsck", "--no-progress"], cwd: app.registry)
            #expect(fsck.status == 0, "step \(k): git fsck: \(fsck.stderr)")
            // The rerun finishes the job.
            let rerun = pk(args + app.flags)
            #expect(s.rerunOK.contains(rerun.status), "step \(k): rerun exit \(rerun.status): \(rerun.stderr)")
            let end = state(app).filter { !$0.key.contains(".pk-tmp-") }
            #expect(end == after, "step \(k): end state differs from an uninterrupted run")
            #expect(state(app).keys.allSatisfy { !$0.contains(".pk-tmp-") }, "step \(k): temp files left in the root")
            #expect(git(["status", "--porcelain"], in: app.registry) == "", "step \(k): registry not committed")
            #expect(git(["ls-files", "*.patch"], in: app.registry) == refPatches, "step \(k)")
            // Same patch states as the uninterrupted run (the subjects may add a "recover" commit).
            #expect(git(["log", "--format=%s"], in: app.registry).contains(refStatus.split(separator: "\n").first.map(String.init) ?? "-"), "step \(k)")
            k += 1
        }
        #expect(crashes >= 3, "only \(crashes) crash points in \(s.name)")
        // Recorded for RELIABILITY.md: crash points per scenario.
        let line = "\(s.name): \(crashes) crash points\n"
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("patchkeeper-crash-points.txt")
        if let h = try? FileHandle(forWritingTo: log) { h.seekToEndOfFile(); h.write(Data(line.utf8)); try? h.close() }
        else { try? line.write(to: log, atomically: true, encoding: .utf8) }
    }
}

/// Derived files (caches, the last scan, the public summary) are written atomically but without
/// fsync: after a power failure they may be empty. Every command must take an empty one as
/// "none" and the next scan must write it again.
@Suite("Derived files left empty by a power failure")
struct EmptyDerivedFilesTests {
    @Test("empty caches, last scan and public summary: status, scan and gate work and the scan rewrites them")
    func emptyDerivedFiles() throws {
        let app = AppFixture(deploy: false)
        app.commit(["src/api/config/clock.rb": "every 1.hour do\n  Job.run\nend\n"], message: "v1", tag: "base")
        app.commit(["src/api/config/clock.rb": "every 1.hour do\n  Job.run(batch: 1)\nend\n"], message: "v2", tag: "v2")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\n  # Job.run\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "No job", "--reason", "locks"] + app.flags).status == 0)
        #expect(pk(["scan"] + app.flags).status == 0)
        let gateBefore = pk(["gate", "--target", "v2", "--format", "json"] + app.flags)
        let state = app.registry + "/.patchkeeper/"
        let derived = ["last-scan.json", "patchids", "statcache", "deployed-listing", "validated"].map { state + $0 }
            + [app.registry + ".summary.json"]
        for f in derived {
            #expect(FileManager.default.fileExists(atPath: f), "\(f) was never written")
            #expect(FileManager.default.createFile(atPath: f, contents: Data()))
        }
        let status = pk(["status"] + app.flags)
        #expect(status.status != 2, "\(status.stderr)")
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 0, "\(scan.stderr)")
        #expect(scan.stdout.contains("applied"))
        let gate = pk(["gate", "--target", "v2", "--format", "json"] + app.flags)
        #expect(gate.status == gateBefore.status && gate.status == 1, "\(gate.stderr)")
        #expect(gate.stdout.contains("\"verdict\" : \"conflicts\""))
        for f in derived where !f.hasSuffix("validated") {
            let size = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0
            #expect(size > 0, "\(f) not rewritten")
        }
    }
}
