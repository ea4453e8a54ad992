import Foundation
import Testing
import TestSupport

/// Expiry that bites: gate blocks on an expired patch, edit renews it, list shows what runs out.
@Suite("CLI expiry and edit")
struct ExpiryTests {
    func app() -> AppFixture {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        let r = pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "slow jobs",
                    "--ticket", "OPS-1", "--expires", "2099-01-01"] + app.flags)
        precondition(r.status == 0, r.stderr)
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        return app
    }

    @Test("an expiry in the past is refused by record and edit, and nothing is written")
    func pastExpiryRefused() throws {
        let app = app()
        app.scratch.write("live/config/clock.rb", "every 2.hours do\nend\n")
        let before = snapshot(app.registry)
        let r = pk(["record", "config/clock.rb", "--title", "t", "--reason", "r", "--expires", "2001-01-01"] + app.flags)
        #expect(r.status == 2 && r.stderr.contains("in the past"), "\(r.stderr)")
        let e = pk(["edit", "0001", "--expires", "2001-01-01"] + app.flags)
        #expect(e.status == 2 && e.stderr.contains("in the past"), "\(e.stderr)")
        #expect(snapshot(app.registry) == before)
    }

    @Test("gate blocks on an expired patch under both policies unless --allow-expired; edit renews it in one commit")
    func expiredPatchBlocksGate() throws {
        let app = app()
        #expect(pk(["gate", "--target", "v2", "--policy", "reapply"] + app.flags).status == 0)
        backdateExpiry(registry: app.registry, file: "0001-raise-timeout.patch", to: "2001-01-01")
        for policy in ["reapply", "strict"] {
            let g = pk(["gate", "--target", "v2", "--policy", policy] + app.flags)
            #expect(g.status == 1, "\(policy): \(g.stdout)")
            #expect(g.stdout.contains("EXPIRED 2001-01-01") && g.stdout.contains("1 expired"), "\(g.stdout)")
        }
        let allowed = pk(["gate", "--target", "v2", "--policy", "reapply", "--allow-expired", "--format", "json"] + app.flags)
        #expect(allowed.status == 0, "\(allowed.stdout)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(allowed.stdout.utf8)) as? [String: Any])
        let p = try #require((j["patches"] as? [[String: Any]])?.first)
        #expect(p["expired"] as? Bool == true && p["blocks"] as? Bool == false)
        #expect(pk(["list", "--expiring", "0"] + app.flags).stdout.contains("0001"))

        let commits = git(["rev-list", "--count", "HEAD"], in: app.registry)
        let e = pk(["edit", "0001", "--expires", "2099-06-30", "--ticket", "OPS-2"] + app.flags)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(Int(git(["rev-list", "--count", "HEAD"], in: app.registry)) == Int(commits)! + 1)
        let text = try #require(app.scratch.read("registry/0001-raise-timeout.patch"))
        #expect(text.contains("Expires: 2099-06-30\n") && text.contains("Ticket: OPS-2\n") && text.contains("Edited-By: "))
        #expect(text.contains("-timeout: 30\n+timeout: 120\n"), "the diff is kept")
        #expect(git(["log", "-1", "--format=%B"], in: app.registry).contains("expires 2001-01-01 → 2099-06-30"))
        #expect(pk(["log", "0001"] + app.flags).stdout.contains("edit 0001"))
        #expect(pk(["gate", "--target", "v2", "--policy", "reapply"] + app.flags).status == 0)
        #expect(!pk(["list", "--expiring", "30"] + app.flags).stdout.contains("0001"))
    }

    @Test("edit without a change, or of a retired patch, is refused")
    func editRefusals() {
        let app = app()
        #expect(pk(["edit", "0001"] + app.flags).status == 2)
        #expect(pk(["edit", "0001", "--expires", "2099-01-01"] + app.flags).stderr.contains("nothing changed"))
        #expect(pk(["retire", "0001", "--reason", "done"] + app.flags).status == 0)
        #expect(pk(["edit", "0001", "--ticket", "X"] + app.flags).status == 2)
    }
}

@Suite("CLI retire --revert")
struct RetireRevertTests {
    @Test("retire --revert takes the change out of the live files in the same commit; refused when edited on top or when a later patch is stacked")
    func retireRevert() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        app.scratch.write("live/config/new.rb", "X = 1\n")
        #expect(pk(["record", "config/workers.yml", "config/new.rb", "--title", "Two files", "--reason", "r"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 2.hours do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "Clock", "--reason", "r"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 3.hours do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "Clock again", "--reason", "r"] + app.flags).status == 0)

        // 0002 has 0003 stacked on it: refused, nothing changed.
        let live0 = snapshot(app.root)
        let stacked = pk(["retire", "0002", "--revert", "--reason", "x"] + app.flags)
        #expect(stacked.status == 2 && stacked.stderr.contains("0003 is stacked on 0002"), "\(stacked.stderr)")
        #expect(snapshot(app.root) == live0)

        // An edit on top of 0001: refused, nothing changed.
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 5\n")
        let edited = pk(["retire", "0001", "--revert", "--reason", "x"] + app.flags)
        #expect(edited.status == 2 && edited.stderr.contains("not what patch 0001 made"), "\(edited.stderr)")
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")

        // Clean: both files back to the deployed content, one registry commit, scan clean.
        let commits = Int(git(["rev-list", "--count", "HEAD"], in: app.registry))!
        let r = pk(["retire", "0001", "--revert", "--reason", "fixed upstream"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 30\nconcurrency: 4\n")
        #expect(!app.scratch.exists("live/config/new.rb"))
        #expect(Int(git(["rev-list", "--count", "HEAD"], in: app.registry))! == commits + 1)
        #expect(app.scratch.read("registry/0001-two-files.patch")?.contains("Status: retired\n") == true)
        #expect(pk(["scan"] + app.flags).status == 0)
        // The stack from the top down works.
        #expect(pk(["retire", "0003", "--revert", "--reason", "x"] + app.flags).status == 0)
        #expect(app.scratch.read("live/config/clock.rb") == "every 2.hours do\nend\n")
        #expect(pk(["retire", "0002", "--revert", "--reason", "x"] + app.flags).status == 0)
        #expect(app.scratch.read("live/config/clock.rb") == AppFixture.clock)
        #expect(pk(["scan"] + app.flags).status == 0)
    }
}

@Suite("CLI propose")
struct ProposeTests {
    @Test("propose writes a format-patch mail that git am applies on the revision; once merged, gate calls the patch upstreamed by patch-id")
    func proposeThenUpstream() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        #expect(pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "Jobs time out under load.",
                    "--ticket", "OPS-42"] + app.flags).status == 0)
        app.commit(["src/api/README": "main moved on\n"], message: "main", tag: "main1")
        let mail = app.scratch.file("0001.mail")
        let before = snapshot(app.repo + "/.git")
        let r = pk(["propose", "0001", "--onto", "main1", "--output", mail] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(snapshot(app.repo + "/.git") == before, "the app repository is never written")
        let text = try #require(app.scratch.read("0001.mail"))
        #expect(text.contains("Subject: [PATCH] Raise timeout") && text.contains("Ticket: OPS-42") && text.contains("Hot-Patch: 0001"))
        #expect(app.scratch.read("registry/0001-raise-timeout.patch")?.contains("Proposed-In: \(mail) onto ") == true)
        // The pull request: git am on a branch at main1 (in the app repo, as a developer would).
        git(["checkout", "-q", "-b", "hotfix", "main1"], in: app.repo)
        let am = run("/usr/bin/git", ["-c", "user.name=dev", "-c", "user.email=dev@example.org", "am", "-q", mail], cwd: app.repo)
        #expect(am.status == 0, "\(am.stderr)")
        git(["checkout", "-q", "main"], in: app.repo)
        git(["-c", "user.name=dev", "-c", "user.email=dev@example.org", "merge", "-q", "--no-ff", "-m", "Merge hotfix", "hotfix"], in: app.repo)
        git(["tag", "v2"], in: app.repo)
        let g = pk(["gate", "--target", "v2", "--format", "json"] + app.flags)
        #expect(g.status == 0, "\(g.stdout)")
        #expect(g.stdout.contains("\"verdict\" : \"upstreamed\""), "\(g.stdout)")
        // Proposing onto a revision that has it already is refused.
        #expect(pk(["propose", "0001", "--onto", "v2", "--output", mail] + app.flags).status == 2)
    }
}
