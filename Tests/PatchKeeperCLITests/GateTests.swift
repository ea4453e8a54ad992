import Foundation
import Testing
import TestSupport

/// `gate` and `reapply` end to end, cross-checked with the git CLI.
@Suite("CLI gate and reapply")
struct GateTests {
    static let clock = "every 1.hour do\n  RssCleanup.run\nend\n\nevery 1.day do\n  Report.run\nend\n"
    static let patchedClock = "every 1.hour do\n  # RssCleanup.run  # takes table locks\nend\n\nevery 1.day do\n  Report.run\nend\n"

    func app() -> AppFixture {
        let app = AppFixture(deploy: false)
        app.commit(["src/api/config/clock.rb": Self.clock], message: "v1.1", tag: "base")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        return app
    }

    func gate(_ app: AppFixture, _ target: String, policy: String = "strict") throws -> (ProcessResult, [String: Any]) {
        let r = pk(["gate", "--target", target, "--policy", policy, "--format", "json"] + app.flags)
        #expect(r.status != 2, "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
        return (r, j)
    }

    func results(_ j: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for p in (j["patches"] as? [[String: Any]]) ?? [] { out[p["id"] as! String] = p["verdict"] as? String }
        return out
    }

    func recordClock(_ app: AppFixture) {
        app.scratch.write("live/config/clock.rb", Self.patchedClock)
        let r = pk(["record", "config/clock.rb", "--title", "Disable the RSS cleanup job", "--reason", "table locks"] + app.flags)
        precondition(r.status == 0, r.stderr)
    }

    /// A throw-away clone checked out at `rev` for the git CLI reference checks (`git apply
    /// --3way` writes blobs into the repository it runs in: never the one the product reads).
    func checkout(_ app: AppFixture, _ rev: String) -> String {
        let dir = app.scratch.file("checkout-\(rev)-\(UUID().uuidString.prefix(6))")
        git(["clone", "-q", "--no-checkout", app.repo, dir], in: app.scratch.path)
        git(["checkout", "-q", "--detach", rev], in: dir)
        return dir
    }

    @Test("the post-mortem: an unregistered hot patch is lost, a recorded one reapplies, and reapply restores it after the deploy")
    func postMortemStory() throws {
        let app = app()
        // v2 changes another part of the same file.
        let v2 = app.commit(["src/api/config/clock.rb": Self.clock.replacingOccurrences(of: "Report.run", with: "Report.run(:daily)")],
                            message: "v2", tag: "v2")
        // An admin edits config/clock.rb by hand and tells nobody.
        app.scratch.write("live/config/clock.rb", Self.patchedClock)
        var (r, j) = try gate(app, "v2")
        #expect(r.status == 1)
        let lost = try #require(j["lost"] as? [[String: Any]])
        #expect(lost.map { $0["path"] as? String } == ["src/api/config/clock.rb"])
        let text = pk(["gate", "--target", "v2"] + app.flags)
        #expect(text.stdout.split(separator: "\n").last?.hasPrefix("gate: BLOCKED — 1 unregistered change would be lost") == true, "\(text.stdout)")

        // Recorded, it reapplies: strict still blocks (not upstream), the reapply policy lets it through.
        let rec = pk(["record", "config/clock.rb", "--title", "Disable the RSS cleanup job", "--reason", "table locks"] + app.flags)
        #expect(rec.status == 0)
        (r, j) = try gate(app, "v2")
        #expect(results(j) == ["0001": "reapplies"])
        #expect(r.status == 1)
        (r, j) = try gate(app, "v2", policy: "reapply")
        #expect(r.status == 0)
        #expect(j["blocked"] as? Bool == false)

        // git agrees: the patch applies to v2 with a 3-way merge.
        let co = checkout(app, "v2")
        let three = run("/usr/bin/git", ["apply", "--3way", app.registry + "/0001-disable-the-rss-cleanup-job.patch"], cwd: co)
        #expect(three.status == 0, "\(three.stderr)")

        // Deploy v2: the patch is overwritten.
        app.deploy("v2")
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 1)
        #expect(scan.stdout.contains("OVERWRITTEN"))
        // reapply restores it and rebases it onto v2.
        let re = pk(["reapply"] + app.flags)
        #expect(re.status == 0, "\(re.stdout)\(re.stderr)")
        #expect(re.stdout.contains("reapplied"))
        #expect(app.scratch.read("live/config/clock.rb") == Self.patchedClock.replacingOccurrences(of: "Report.run", with: "Report.run(:daily)"))
        let patch = try #require(app.scratch.read("registry/0001-disable-the-rss-cleanup-job.patch"))
        #expect(patch.contains("Base: \(v2)\n"))
        #expect(pk(["scan"] + app.flags).status == 0)
        // The rebased patch applies to a checkout of v2 as it is.
        let check = run("/usr/bin/git", ["apply", "--check", app.registry + "/0001-disable-the-rss-cleanup-job.patch"], cwd: checkout(app, "v2"))
        #expect(check.status == 0, "\(check.stderr)")
        #expect(git(["log", "--format=%s"], in: app.registry).hasPrefix("reapply 0001"))
        // A second reapply has nothing to do.
        let again = pk(["reapply"] + app.flags)
        #expect(again.stdout.contains("unchanged"))
    }

    @Test("upstreamed by patch-id even when a later commit changed those lines again; git apply -R agrees on the fix commit")
    func upstreamedByPatchID() throws {
        let app = app()
        recordClock(app)
        app.commit(["src/api/config/clock.rb": Self.patchedClock], message: "Disable the RSS job upstream", tag: "fixed")
        app.commit(["src/api/config/clock.rb": "every 1.hour do\n  Other.run\nend\n"], message: "rework", tag: "later")
        var (r, j) = try gate(app, "later")
        #expect(r.status == 0)
        let p = try #require((j["patches"] as? [[String: Any]])?.first)
        #expect(p["verdict"] as? String == "upstreamed")
        #expect(p["rule"] as? String == "patch-id")
        #expect(p["commit"] as? String == git(["rev-parse", "fixed"], in: app.repo))
        (r, j) = try gate(app, "fixed")
        #expect(results(j) == ["0001": "upstreamed"])
        let rev = run("/usr/bin/git", ["apply", "-R", "--check", app.registry + "/0001-disable-the-rss-cleanup-job.patch"], cwd: checkout(app, "fixed"))
        #expect(rev.status == 0, "\(rev.stderr)")
    }

    @Test("upstreamed by content when the fix came in another shape, and reapply marks it upstreamed")
    func upstreamedByContentAndRetired() throws {
        let app = app()
        recordClock(app)
        // Upstream fixed it together with another change in the same commit: no patch-id match.
        app.commit(["src/api/config/clock.rb": Self.patchedClock, "src/api/README": "Changed.\n"], message: "fix and docs", tag: "v2")
        let (_, j) = try gate(app, "v2")
        let p = try #require((j["patches"] as? [[String: Any]])?.first)
        #expect(p["verdict"] as? String == "upstreamed")
        #expect(p["rule"] as? String == "content")
        app.deploy("v2")
        let re = pk(["reapply"] + app.flags)
        #expect(re.status == 0)
        #expect(re.stdout.contains("upstreamed"))
        let text = try #require(app.scratch.read("registry/0001-disable-the-rss-cleanup-job.patch"))
        #expect(text.contains("Status: upstreamed\n"))
        #expect(text.contains("Upstreamed-In: \(git(["rev-parse", "v2"], in: app.repo))\n"))
        #expect(pk(["list"] + app.flags).stdout.contains("no active patches"))
        #expect(pk(["scan"] + app.flags).status == 0)
    }

    @Test("a renamed file with edits is followed: reapplies-renamed, and reapply writes the new path")
    func renamedFile() throws {
        let app = app()
        let body = (1...30).map { "  config.line\($0) = \($0)\n" }.joined()
        app.commit(["src/api/config/settings.rb": "Settings.configure do\n" + body + "end\n"], message: "settings", tag: "s1")
        app.deploy("s1")
        app.scratch.write("live/config/settings.rb", "Settings.configure do\n" + body.replacingOccurrences(of: "line5 = 5", with: "line5 = 500") + "end\n")
        #expect(pk(["record", "config/settings.rb", "--title", "Raise line5", "--reason", "r"] + app.flags).status == 0)
        // Renamed and edited elsewhere (about 90% similar).
        let moved = "Settings.configure do\n" + body.replacingOccurrences(of: "line29 = 29", with: "line29 = 2900") + "end\n"
        app.commit(["src/api/config/settings.rb": nil, "src/api/config/app_settings.rb": moved], message: "rename", tag: "s2")
        let (r, j) = try gate(app, "s2", policy: "reapply")
        #expect(r.status == 0)
        let p = try #require((j["patches"] as? [[String: Any]])?.first)
        #expect(p["verdict"] as? String == "reapplies-renamed")
        #expect((p["files"] as? [[String: Any]])?.first?["new_path"] as? String == "src/api/config/app_settings.rb")
        app.deploy("s2")
        let re = pk(["reapply"] + app.flags)
        #expect(re.status == 0, "\(re.stdout)")
        let live = try #require(app.scratch.read("live/config/app_settings.rb"))
        #expect(live.contains("line5 = 500") && live.contains("line29 = 2900"))
        #expect(!app.scratch.exists("live/config/settings.rb"))
        #expect(app.scratch.read("registry/0001-raise-line5.patch")?.contains("+++ b/src/api/config/app_settings.rb") == true)
        #expect(pk(["scan"] + app.flags).status == 0)
    }

    @Test("a conflict is shown with its hunks, and reapply writes nothing for it")
    func conflict() throws {
        let app = app()
        recordClock(app)
        app.commit(["src/api/config/clock.rb": Self.clock.replacingOccurrences(of: "  RssCleanup.run", with: "  RssCleanup.run(batch: 100)")],
                   message: "same line changed", tag: "v2")
        let (r, j) = try gate(app, "v2", policy: "reapply")
        #expect(r.status == 1)
        let file = try #require(((j["patches"] as? [[String: Any]])?.first?["files"] as? [[String: Any]])?.first)
        #expect(file["verdict"] as? String == "conflicts")
        let hunks = try #require(file["conflicts"] as? [String])
        #expect(hunks.first?.contains("<<<<<<<") == true && hunks.first?.contains("RssCleanup.run(batch: 100)") == true)
        // The commit that changed those lines is named, and a second gate (the file history and
        // the named commits read from the patch-id cache) names it the same way.
        let detail = file["detail"] as? String
        #expect(detail?.contains("changed there by") == true && detail?.contains("\"same line changed\"") == true, "\(String(describing: detail))")
        #expect((try? String(contentsOfFile: app.registry + "/.patchkeeper/patchids", encoding: .utf8))?.contains("\nT ") == true)
        let (_, again) = try gate(app, "v2", policy: "reapply")
        #expect(((again["patches"] as? [[String: Any]])?.first?["files"] as? [[String: Any]])?.first?["detail"] as? String == detail)
        let text = pk(["gate", "--target", "v2", "--policy", "reapply"] + app.flags)
        #expect(text.stdout.contains("gate: BLOCKED — 1 conflict"))
        // git agrees that it does not apply cleanly.
        let co = checkout(app, "v2")
        #expect(run("/usr/bin/git", ["apply", "--check", app.registry + "/0001-disable-the-rss-cleanup-job.patch"], cwd: co).status != 0)

        app.deploy("v2")
        let liveBefore = snapshot(app.root)
        let regBefore = snapshot(app.registry)
        let re = pk(["reapply"] + app.flags)
        #expect(re.status == 1)
        #expect(re.stdout.contains("CONFLICTS"))
        #expect(snapshot(app.root) == liveBefore)
        #expect(snapshot(app.registry).filter { !$0.key.hasPrefix(".patchkeeper/") } == regBefore.filter { !$0.key.hasPrefix(".patchkeeper/") })
    }

    @Test("a patched file deleted in the target is removed; a new file patch reapplies")
    func removedAndAdded() throws {
        let app = app()
        app.scratch.write("live/app/models/user.rb", "class User\nend\n")
        #expect(pk(["record", "app/models/user.rb", "--title", "Slim user", "--reason", "r"] + app.flags).status == 0)
        app.scratch.write("live/config/flag.rb", "FLAG = true\n")
        #expect(pk(["record", "config/flag.rb", "--title", "Add flag", "--reason", "r"] + app.flags).status == 0)
        app.commit(["src/api/app/models/user.rb": nil], message: "drop user", tag: "v2")
        let (r, j) = try gate(app, "v2", policy: "reapply")
        #expect(r.status == 1)
        #expect(results(j) == ["0001": "removed", "0002": "reapplies"])
        // A patch classed reapplies applies to a v2 checkout with git's 3-way apply.
        let co = checkout(app, "v2")
        #expect(run("/usr/bin/git", ["apply", "--3way", app.registry + "/0002-add-flag.patch"], cwd: co).status == 0)
    }

    @Test("an unknown target is trouble, exit 2")
    func unknownTarget() {
        let app = app()
        let r = pk(["gate", "--target", "no-such-tag"] + app.flags)
        #expect(r.status == 2)
        #expect(r.stderr.contains("no-such-tag"))
    }
}

@Suite("CLI apply --commit")
struct ApplyCommitTests {
    @Test("a pull request's commit is applied as a hot patch, and gate calls it upstreamed once the commit is in the target")
    func commitTrailer() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        // The fix lives on a PR branch; a spec file outside src/api is not deployed and is skipped.
        git(["checkout", "-q", "-b", "pr-42"], in: app.repo)
        let fix = app.commit(["src/api/config/workers.yml": "timeout: 90\nconcurrency: 4\n", "spec/workers_spec.rb": "it { }\n"],
                             message: "Raise the worker timeout\n\nWorkers time out under load.")
        git(["checkout", "-q", "main"], in: app.repo)
        let r = pk(["apply", "--commit", fix, "--pull-request", "https://example.org/pull/42"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 90\nconcurrency: 4\n")
        let text = try #require(app.scratch.read("registry/0001-raise-the-worker-timeout.patch"))
        #expect(text.contains("Commit: \(fix)\n"))
        #expect(text.contains("Pull-Request: https://example.org/pull/42\n"))
        #expect(text.contains("Workers time out under load."))
        #expect(!text.contains("spec/workers_spec.rb"))

        // main moves on without the fix: the patch must be kept.
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        let before = pk(["gate", "--target", "v2", "--format", "json"] + app.flags)
        #expect(before.stdout.contains("\"verdict\" : \"reapplies\""))
        // The PR is merged (a merge commit, so no patch-id match on main's first-parent line is needed).
        git(["merge", "-q", "--no-ff", "-m", "Merge pull request #42", "pr-42"], in: app.repo)
        git(["tag", "v3"], in: app.repo)
        let after = pk(["gate", "--target", "v3", "--format", "json"] + app.flags)
        #expect(after.status == 0, "\(after.stdout)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(after.stdout.utf8)) as? [String: Any])
        let p = try #require((j["patches"] as? [[String: Any]])?.first)
        #expect(p["verdict"] as? String == "upstreamed")
        #expect(p["rule"] as? String == "commit")  // the commit also changed a spec file: no patch-id match
    }
}
