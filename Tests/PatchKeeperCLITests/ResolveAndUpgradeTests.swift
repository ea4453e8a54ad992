import Foundation
import Testing
import TestSupport

/// The resolve flow, conflict reports that teach, and registries written before images existed.
@Suite("CLI resolve, conflict reports and registry upgrade")
struct ResolveAndUpgradeTests {
    static let clock = "every 1.hour do\n  RssCleanup.run\nend\n\nevery 1.day do\n  Report.run\nend\n"
    static let patched = "every 1.hour do\n  # RssCleanup.run  # takes table locks\nend\n\nevery 1.day do\n  Report.run\nend\n"

    func app() -> AppFixture {
        let app = AppFixture(deploy: false)
        app.commit(["src/api/config/clock.rb": Self.clock], message: "v1.1", tag: "base")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", Self.patched)
        let r = pk(["record", "config/clock.rb", "--title", "Disable the RSS cleanup job", "--reason", "table locks",
                    "--ticket", "OPS-7", "--expires", "2099-01-01"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    func json(_ r: ProcessResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\(r.stderr)")
    }

    @Test("a conflict names the patch and the target in its markers and the commit that changed those lines")
    func conflictTeaches() throws {
        let app = app()
        app.commit(["src/api/README": "other\n"], message: "Unrelated change", tag: "u")
        app.commit(["src/api/config/clock.rb": Self.clock.replacingOccurrences(of: "  RssCleanup.run", with: "  RssCleanup.run(batch: 100)")],
                   message: "Batch the RSS cleanup", tag: "v2")
        let r = pk(["gate", "--target", "v2", "--format", "json"] + app.flags)
        #expect(r.status == 1)
        let file = try #require(((try json(r))["patches"] as? [[String: Any]])?.first?["files"] as? [[String: Any]])?.first
        let region = try #require((file?["conflicts"] as? [String])?.first)
        #expect(region.contains("<<<<<<< 0001 (hot patch)"), "\(region)")
        #expect(region.contains(">>>>>>> v2 ("), "\(region)")
        let detail = try #require(file?["detail"] as? String)
        #expect(detail.contains("Batch the RSS cleanup") && !detail.contains("Unrelated change"), "\(detail)")
        // git agrees it conflicts (in a throw-away clone: git apply --3way writes objects).
        let clone = app.scratch.file("clone")
        git(["clone", "-q", app.repo, clone], in: app.scratch.path)
        git(["checkout", "-q", "v2"], in: clone)
        let three = run("/usr/bin/git", ["apply", "--3way", app.registry + "/0001-disable-the-rss-cleanup-job.patch"], cwd: clone)
        #expect(three.status != 0)
    }

    @Test("a 300 KB line in a conflict is cut, not printed whole")
    func hugeConflictLineIsCapped() throws {
        let app = app()
        let long = String(repeating: "x", count: 300_000)
        app.commit(["src/api/config/clock.rb": Self.clock.replacingOccurrences(of: "  RssCleanup.run", with: "  RssCleanup.run # " + long)],
                   message: "long line", tag: "v2")
        let r = pk(["gate", "--target", "v2"] + app.flags)
        #expect(r.status == 1)
        #expect(r.stdout.utf8.count < 20_000, "\(r.stdout.utf8.count) bytes")
        #expect(r.stdout.contains("bytes)"))
    }

    @Test("after a conflict, the admin fixes the live file and resolve keeps the patch with its metadata")
    func resolveFlow() throws {
        let app = app()
        app.commit(["src/api/config/clock.rb": Self.clock.replacingOccurrences(of: "  RssCleanup.run", with: "  RssCleanup.run(batch: 100)")],
                   message: "Batch the RSS cleanup", tag: "v2")
        app.deploy("v2")
        let re = pk(["reapply"] + app.flags)
        #expect(re.status == 1 && re.stdout.contains("CONFLICTS"), "\(re.stdout)")
        // Nothing to keep yet: the live file is the deployed one.
        let early = pk(["resolve", "0001"] + app.flags)
        #expect(early.status == 2 && early.stderr.contains("nothing to keep"), "\(early.stderr)")
        let fixed = Self.clock.replacingOccurrences(of: "  RssCleanup.run", with: "  # RssCleanup.run(batch: 100)  # table locks")
        app.scratch.write("live/config/clock.rb", fixed)
        let r = pk(["resolve", "0001"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        let text = try #require(app.scratch.read("registry/0001-disable-the-rss-cleanup-job.patch"))
        #expect(text.contains("Base: \(git(["rev-parse", "v2"], in: app.repo))\n"))
        #expect(text.contains("Ticket: OPS-7\n") && text.contains("Expires: 2099-01-01\n") && text.contains("Resolved-By: "))
        #expect(text.contains("-  RssCleanup.run(batch: 100)\n+  # RssCleanup.run(batch: 100)  # table locks\n"))
        #expect(git(["log", "--format=%s", "-1"], in: app.registry).hasPrefix("resolve 0001"))
        #expect(pk(["scan"] + app.flags).status == 0)
        // The resolved patch applies to v2 as git sees it, and survives the next deploy.
        let clone = app.scratch.file("clone")
        git(["clone", "-q", app.repo, clone], in: app.scratch.path)
        git(["checkout", "-q", "v2"], in: clone)
        #expect(run("/usr/bin/git", ["apply", "--check", app.registry + "/0001-disable-the-rss-cleanup-job.patch"], cwd: clone).status == 0)
        app.commit(["src/api/README": "v3\n"], message: "v3", tag: "v3")
        app.deploy("v3")
        #expect(pk(["reapply"] + app.flags).status == 0)
        #expect(app.scratch.read("live/config/clock.rb") == fixed)
    }

    /// Makes the registry look as the previous release wrote it: no images branch, no loose
    /// objects beyond what its own history holds.
    func dropImages(_ app: AppFixture) {
        git(["update-ref", "-d", "refs/heads/patchkeeper-images"], in: app.registry)
        git(["reflog", "expire", "--expire=now", "--all"], in: app.registry)
        git(["gc", "-q", "--prune=now"], in: app.registry)
        for state in ["images-complete", "validated", "patchids"] { try? FileManager.default.removeItem(atPath: app.registry + "/.patchkeeper/" + state) }
    }

    @Test("a registry from before images: stacked text patches are rebuilt from the hunks, and a binary one is a scan finding until a scan captures it")
    func upgradeOldRegistry() throws {
        let app = app()
        // 0002 stacked on 0001 in the same file; 0003 a binary file.
        app.scratch.write("live/config/clock.rb", Self.patched.replacingOccurrences(of: "Report.run", with: "Report.run(:daily)"))
        #expect(pk(["record", "config/clock.rb", "--title", "Daily report", "--reason", "r"] + app.flags).status == 0)
        let bin: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0, 1, 2, 3, 0, 0xFF]
        try Data(bin).write(to: URL(fileURLWithPath: app.root + "/logo.png"))
        #expect(pk(["record", "logo.png", "--title", "Logo", "--reason", "r"] + app.flags).status == 0)
        dropImages(app)
        #expect(run("/usr/bin/git", ["-C", app.registry, "rev-parse", "-q", "--verify", "refs/heads/patchkeeper-images"]).status != 0)

        // Before the deploy, gate's own scan finds the live files still carrying the patches and
        // keeps their images (the upgrade); the stacked text patches rebuild from the hunks anyway.
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        let g = pk(["gate", "--target", "v2", "--policy", "reapply", "--format", "json"] + app.flags)
        var results: [String: String] = [:]
        for p in ((try json(g))["patches"] as? [[String: Any]]) ?? [] { results[p["id"] as! String] = p["verdict"] as? String }
        #expect(results == ["0001": "reapplies", "0002": "reapplies", "0003": "reapplies"], "\(g.stdout)")

        // After that the registry alone is enough, even with the live files gone.
        #expect(pk(["scan"] + app.flags).status == 0)
        #expect(run("/usr/bin/git", ["-C", app.registry, "rev-parse", "-q", "--verify", "refs/heads/patchkeeper-images"]).status == 0)
        app.deploy("v2")
        let re = pk(["reapply", "--format", "json"] + app.flags)
        #expect(re.status == 0, "\(re.stdout)\(re.stderr)")
        #expect(FileManager.default.contents(atPath: app.root + "/logo.png") == Data(bin))
        #expect(app.scratch.read("live/config/clock.rb") == Self.patched.replacingOccurrences(of: "Report.run", with: "Report.run(:daily)"))
        #expect(pk(["scan"] + app.flags).status == 0)
    }

    @Test("a binary patch in an old registry whose live file is gone is a finding before the deploy, and gate blocks")
    func unbuildableIsAFinding() throws {
        let app = app()
        let bin: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0, 9, 9, 9, 0, 0xFE]
        try Data(bin).write(to: URL(fileURLWithPath: app.root + "/logo.png"))
        #expect(pk(["record", "logo.png", "--title", "Logo", "--reason", "r"] + app.flags).status == 0)
        dropImages(app)
        try FileManager.default.removeItem(atPath: app.root + "/logo.png")
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 1)
        #expect(scan.stdout.contains("cannot be rebuilt from the registry"), "\(scan.stdout)")
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        let g = pk(["gate", "--target", "v2", "--policy", "reapply"] + app.flags)
        #expect(g.status == 1, "\(g.stdout)")
        #expect(g.stdout.contains("cannot be rebuilt"))
    }

    @Test("a clone of the registry carries the images: gate on the clone rebuilds a binary patch whose live file is gone")
    func cloneKeepsImages() throws {
        let app = app()
        let bin: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0, 7, 7, 7, 0, 0xFD]
        try Data(bin).write(to: URL(fileURLWithPath: app.root + "/logo.png"))
        #expect(pk(["record", "logo.png", "--title", "Logo", "--reason", "r"] + app.flags).status == 0)
        try FileManager.default.removeItem(atPath: app.root + "/logo.png")
        let clone = app.scratch.file("registry-clone")
        git(["clone", "-q", app.registry, clone], in: app.scratch.path)
        git(["gc", "-q", "--prune=now"], in: clone)
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        let flags = ["--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", clone]
        let g = pk(["gate", "--target", "v2", "--policy", "reapply", "--format", "json"] + flags)
        let patches = try #require((try json(g))["patches"] as? [[String: Any]])
        #expect(patches.map { $0["verdict"] as? String } == ["reapplies", "reapplies"], "\(g.stdout)\(g.stderr)")
    }

    @Test("a patch stacked right next to the first one's lines leaves both applied in scan, and both come back after a deploy")
    func adjacentStackIsApplied() throws {
        let app = app()
        let both = Self.patched.replacingOccurrences(of: "  # RssCleanup.run  # takes table locks\n", with: "  # RssCleanup.run  # takes table locks\n  Extra.run\n")
        app.scratch.write("live/config/clock.rb", both)
        #expect(pk(["record", "config/clock.rb", "--title", "Extra job", "--reason", "r"] + app.flags).status == 0)
        let s = pk(["scan", "--format", "json"] + app.flags)
        #expect(s.status == 0, "\(s.stdout)")
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        app.deploy("v2")
        let re = pk(["reapply"] + app.flags)
        #expect(re.status == 0, "\(re.stdout)")
        #expect(app.scratch.read("live/config/clock.rb") == both)
        #expect(pk(["scan"] + app.flags).status == 0)
    }

    @Test("a merge that brought the fix's commit in but resolved its conflict by dropping the fix is no upstream evidence: gate says conflicts, as git apply --3way does")
    func mergeDroppedTheFix() throws {
        let app = app()
        // The fix as a commit on a branch: the same change as hot patch 0001.
        git(["checkout", "-q", "-b", "fix", "base"], in: app.repo)
        app.commit(["src/api/config/clock.rb": Self.patched], message: "Disable the RSS job")
        git(["checkout", "-q", "main"], in: app.repo)
        // Main changes the same line; the merge conflicts and is resolved by keeping main's line
        // (dropping the fix), with one more edit to the file so the merge does touch it.
        app.commit(["src/api/config/clock.rb": Self.clock.replacingOccurrences(of: "  RssCleanup.run", with: "  RssCleanup.run(batch: 10)")],
                   message: "Batch the cleanup")
        _ = run("/usr/bin/git", ["-c", "user.name=t", "-c", "user.email=t@example.org", "merge", "-q", "fix"], cwd: app.repo)
        let resolved = Self.clock.replacingOccurrences(of: "  RssCleanup.run", with: "  RssCleanup.run(batch: 10)") + "# merged\n"
        app.scratch.write("app/src/api/config/clock.rb", resolved)
        git(["add", "-A"], in: app.repo)
        git(["-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "Merge fix (kept main)"], in: app.repo)
        git(["tag", "v2"], in: app.repo)
        let g = pk(["gate", "--target", "v2", "--policy", "reapply", "--format", "json"] + app.flags)
        #expect(g.status == 1, "\(g.stdout)")
        #expect(g.stdout.contains("\"verdict\" : \"conflicts\""), "\(g.stdout)")
        // git: the hot patch does not apply to v2 (in a throw-away clone).
        let clone = app.scratch.file("clone")
        git(["clone", "-q", app.repo, clone], in: app.scratch.path)
        git(["checkout", "-q", "v2"], in: clone)
        #expect(run("/usr/bin/git", ["apply", "--3way", app.registry + "/0001-disable-the-rss-cleanup-job.patch"], cwd: clone).status != 0)
    }
}
