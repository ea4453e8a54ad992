import Foundation
import Testing
import TestSupport

/// End-to-end: the built binary on generated app repositories.
@Suite("CLI workflow")
struct WorkflowTests {
    func json(_ r: ProcessResult) throws -> [String: Any] {
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        return try #require(obj as? [String: Any], "not a JSON object: \(r.stdout)")
    }

    @Test("init, record a modified, a new and a deleted file, list, show, retire, log")
    func fullWorkflow() throws {
        let app = AppFixture()
        let cfg = ["--config", app.config]
        let i = pk(["init", "--app", "obs-api"] + app.flags + cfg)
        #expect(i.status == 0, "\(i.stderr)")
        #expect(i.stdout.contains("registry  \(app.registry) (created)"))
        #expect(app.scratch.read("config.toml")?.contains("[apps.obs-api]") == true)

        // A second init only verifies.
        let again = pk(["init"] + cfg)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("exists, verified"))

        // Hot edits: modify, add, delete, chmod +x.
        app.scratch.write("live/config/clock.rb", "every 1.hour do\n  # RssCleanup.run  # disabled: table locks\nend\n")
        app.scratch.write("live/config/new_flag.rb", "FLAG = true\n")
        try FileManager.default.removeItem(atPath: app.root + "/README")
        chmod(app.root + "/config/workers.yml", 0o755)
        let rec = pk(["record", "config/clock.rb", "config/new_flag.rb", "README", app.root + "/config/workers.yml",
                      "--title", "Disable the RSS cleanup job", "--reason", "It takes table locks during the migration",
                      "--ticket", "https://example.org/issues/3364", "--expires", "2099-01-31",
                      "--author", "Jane Admin <jane@example.org>"] + cfg)
        #expect(rec.status == 0, "\(rec.stderr)")
        #expect(rec.stdout.contains("recorded 0001: Disable the RSS cleanup job"))
        let file = app.registry + "/0001-disable-the-rss-cleanup-job.patch"
        let text = try #require(app.scratch.read("registry/0001-disable-the-rss-cleanup-job.patch"))
        #expect(text.contains("Base: \(app.v1)\n"))
        #expect(text.contains("old mode 100644\nnew mode 100755"))
        #expect(text.contains("deleted file mode 100644"))
        #expect(text.contains("new file mode 100644"))

        // git itself accepts the recorded patch against a checkout of its Base.
        let check = run("/usr/bin/git", ["apply", "--check", file], cwd: app.repo)
        #expect(check.status == 0, "\(check.stderr)")

        // list: text and JSON.
        let list = pk(["list"] + cfg)
        #expect(list.status == 0)
        #expect(list.stdout.contains("0001  -           Disable the RSS cleanup job"))
        #expect(list.stdout.contains("no scan yet"))
        #expect(list.stdout.contains("Jane Admin"))
        #expect(list.stdout.contains("2099-01-31 ("))  // with the time left
        let lj = try json(pk(["list", "--format", "json"] + cfg))
        #expect(lj["schema_version"] as? Int == 2)
        let patches = try #require(lj["patches"] as? [[String: Any]])
        #expect(patches.count == 1)
        #expect(patches[0]["id"] as? String == "0001")
        #expect(patches[0]["base"] as? String == app.v1)
        #expect(patches[0]["expired"] as? Bool == false)
        let files = try #require(patches[0]["files"] as? [[String: Any]])
        #expect(Set(files.compactMap { $0["path"] as? String }) ==
                ["src/api/README", "src/api/config/clock.rb", "src/api/config/new_flag.rb", "src/api/config/workers.yml"])
        #expect(Set(files.compactMap { $0["change"] as? String }) == ["deleted", "modified", "added"])

        // show: text and JSON.
        let show = pk(["show", "1"] + cfg)
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("Patch 0001: Disable the RSS cleanup job"))
        #expect(show.stdout.contains("It takes table locks during the migration"))
        #expect(show.stdout.contains("+  # RssCleanup.run  # disabled: table locks"))
        #expect(show.stdout.contains("record 0001: Disable the RSS cleanup job"))
        let sj = try json(pk(["show", "0001", "--format", "json"] + cfg))
        #expect((sj["history"] as? [Any])?.count == 1)
        #expect((sj["diff"] as? String)?.hasPrefix("diff --git ") == true)

        // retire, then it is gone from list but in list --all.
        let ret = pk(["retire", "1", "--reason", "Migration done", "--author", "Tom <tom@example.org>"] + cfg)
        #expect(ret.status == 0, "\(ret.stderr)")
        let retired = try #require(app.scratch.read("registry/0001-disable-the-rss-cleanup-job.patch"))
        #expect(retired.contains("Status: retired\n"))
        #expect(retired.contains("Retired-By: Tom <tom@example.org>\n"))
        #expect(retired.contains("Retired-Reason: Migration done\n"))
        #expect(pk(["list"] + cfg).stdout.contains("no active patches"))
        #expect(pk(["list", "--all"] + cfg).stdout.contains("retired"))
        let twice = pk(["retire", "1", "--reason", "again"] + cfg)
        #expect(twice.status == 2)
        #expect(twice.stderr.contains("already retired"))

        // log: one commit per action (init, record, retire), newest first; git agrees.
        let log = pk(["log"] + cfg)
        let lines = log.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0].contains("retire 0001"))
        #expect(lines[1].contains("record 0001"))
        #expect(lines[2].contains("Create patch registry"))
        #expect(git(["log", "--format=%an|%s"], in: app.registry) ==
                "Tom|retire 0001: Disable the RSS cleanup job\nJane Admin|record 0001: Disable the RSS cleanup job\n" +
                git(["log", "-1", "--format=%an", "--reverse", "HEAD~2"], in: app.registry) + "|Create patch registry for obs-api")
        #expect(git(["status", "--porcelain"], in: app.registry) == "")
        let logOne = try json(pk(["log", "1", "--format", "json"] + cfg))
        #expect((logOne["entries"] as? [Any])?.count == 2)
    }

    @Test("record works from flags alone, with paths relative to a directory inside the root")
    func recordWithoutConfig() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        let r = pk(["record", "workers.yml", "--title", "Raise the worker timeout", "--reason", "Jobs time out"] + app.flags,
                   cwd: app.root + "/config")
        #expect(r.status == 0, "\(r.stderr)")
        // `../` climbs inside the root, never above it.
        app.scratch.write("live/app/models/user.rb", "class User\nend\n")
        let up = pk(["record", "../app/models/user.rb", "--title", "Slim user", "--reason", "r"] + app.flags, cwd: app.root + "/config")
        #expect(up.status == 0, "\(up.stderr)")
        let above = pk(["record", "../../app/src/api/README", "--title", "t", "--reason", "r"] + app.flags, cwd: app.root + "/config")
        #expect(above.status == 2)
        #expect(above.stderr.contains("outside the app root"))
        let j = try json(pk(["show", "1", "--format", "json"] + app.flags))
        let patch = try #require(j["patch"] as? [String: Any])
        #expect((patch["files"] as? [[String: Any]])?.first?["path"] as? String == "src/api/config/workers.yml")
    }

    @Test("recording an unchanged file is refused and writes nothing")
    func unchangedFile() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        let before = snapshot(app.registry)
        let r = pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags)
        #expect(r.status == 2)
        #expect(r.stderr.contains("nothing to record"))
        #expect(snapshot(app.registry) == before)
    }

    @Test("a second patch on the same file records only its own change")
    func stackedPatches() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        #expect(pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "r"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 8\n")
        let r = pk(["record", "config/workers.yml", "--title", "More workers", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        let second = try #require(app.scratch.read("registry/0002-more-workers.patch"))
        #expect(second.contains("-concurrency: 4\n+concurrency: 8\n"))
        #expect(!second.contains("-timeout: 30"))
    }

    @Test("apply writes a clean patch to the root and registers it")
    func applyClean() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        // A fix made in the repository, exported as git format-patch.
        app.commit(["src/api/config/workers.yml": "timeout: 90\nconcurrency: 4\n"], message: "Raise the worker timeout")
        let patchText = git(["format-patch", "-1", "--stdout", "HEAD"], in: app.repo) + "\n"
        app.scratch.write("fix.patch", patchText)
        let r = pk(["apply", app.scratch.file("fix.patch"), "--reason", "Workers time out under load"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("applied 0001: Raise the worker timeout"))
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 90\nconcurrency: 4\n")
        let reg = try #require(app.scratch.read("registry/0001-raise-the-worker-timeout.patch"))
        #expect(reg.contains("From: Test <test@example.org>"))
        #expect(reg.contains("Workers time out under load"))
        #expect(git(["log", "--format=%s"], in: app.registry).hasPrefix("apply 0001: Raise the worker timeout"))
    }

    @Test("apply of a patch that does not apply writes nothing and exits 1")
    func applyConflict() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("bad.patch", """
            diff --git a/src/api/config/workers.yml b/src/api/config/workers.yml
            --- a/src/api/config/workers.yml
            +++ b/src/api/config/workers.yml
            @@ -1,2 +1,2 @@
            -timeout: 45
            +timeout: 90
             concurrency: 4
            diff --git a/src/api/config/clock.rb b/src/api/config/clock.rb
            --- a/src/api/config/clock.rb
            +++ b/src/api/config/clock.rb
            @@ -1,3 +1,3 @@
             every 1.hour do
            -  RssCleanup.run
            +  # off
             end

            """)
        let liveBefore = snapshot(app.root)
        let regBefore = snapshot(app.registry)
        let r = pk(["apply", app.scratch.file("bad.patch"), "--title", "t", "--reason", "r"] + app.flags)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("does not apply"))
        #expect(r.stderr.contains("nothing was written"))
        #expect(snapshot(app.root) == liveBefore)
        #expect(snapshot(app.registry) == regBefore)
        #expect(git(["log", "--oneline"], in: app.registry).split(separator: "\n").count == 1)
    }

    @Test("apply finds a hunk some lines away, as git apply does")
    func applyWithOffset() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        // The deployed file gained two lines at the top since the patch was made.
        app.commit(["src/api/app/models/user.rb": "# frozen_string_literal: true\n\nclass User\n  def name\n    @name\n  end\nend\n"],
                   message: "v2", tag: "v2")
        app.deploy("v2")
        app.scratch.write("shift.patch", """
            diff --git a/src/api/app/models/user.rb b/src/api/app/models/user.rb
            --- a/src/api/app/models/user.rb
            +++ b/src/api/app/models/user.rb
            @@ -1,5 +1,5 @@
             class User
               def name
            -    @name
            +    @name || "anonymous"
               end
             end

            """)
        let r = pk(["apply", app.scratch.file("shift.patch"), "--title", "Default name", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.scratch.read("live/app/models/user.rb")?.contains("@name || \"anonymous\"") == true)
        #expect(app.scratch.read("live/app/models/user.rb")?.hasPrefix("# frozen_string_literal: true\n") == true)
    }

    @Test("apply --dry-run checks and changes nothing")
    func applyDryRun() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("new.patch", """
            diff --git a/config/extra.rb b/config/extra.rb
            new file mode 100644
            --- /dev/null
            +++ b/config/extra.rb
            @@ -0,0 +1 @@
            +EXTRA = 1

            """)
        let before = snapshot(app.root)
        let r = pk(["apply", "--dry-run", app.scratch.file("new.patch"), "--title", "Add extra", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("would apply"))
        #expect(snapshot(app.root) == before)
        // Root-relative paths work too (the patch was made on the live tree).
        let real = pk(["apply", app.scratch.file("new.patch"), "--title", "Add extra", "--reason", "r"] + app.flags)
        #expect(real.status == 0, "\(real.stderr)")
        #expect(app.scratch.read("live/config/extra.rb") == "EXTRA = 1\n")
        #expect(app.scratch.read("registry/0001-add-extra.patch")?.contains("+++ b/src/api/config/extra.rb") == true)
    }

    @Test("a symlink is recorded as a link, not followed")
    func symlinkRecorded() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        try FileManager.default.createSymbolicLink(atPath: app.root + "/config/current.yml", withDestinationPath: "workers.yml")
        let r = pk(["record", "config/current.yml", "--title", "Link config", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        let text = try #require(app.scratch.read("registry/0001-link-config.patch"))
        #expect(text.contains("new file mode 120000"))
        #expect(text.contains("+workers.yml"))
    }

    @Test("--help teaches each command")
    func help() {
        let top = pk(["--help"])
        #expect(top.status == 0)
        for c in ["init", "record", "apply", "list", "show", "retire", "log"] { #expect(top.stdout.contains(c)) }
        let rec = pk(["record", "--help"])
        #expect(rec.stdout.contains("--title") && rec.stdout.contains("Example"))
    }
}

@Suite("CLI registry-only commands")
struct RegistryOnlyTests {
    @Test("list, show, log and retire need only --registry")
    func registryOnly() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        #expect(pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "r", "--expires", "2099-01-01"] + app.flags).status == 0)
        backdateExpiry(registry: app.registry, file: "0001-raise-timeout.patch", to: "2001-01-01")
        let list = pk(["list", "--registry", app.registry])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("2001-01-01 EXPIRED"))
        #expect(pk(["show", "1", "--registry", app.registry]).status == 0)
        #expect(pk(["log", "--registry", app.registry]).status == 0)
        // After a scan, STATE shows what it saw, in its column.
        _ = pk(["scan"] + app.flags)
        let rows = pk(["list", "--registry", app.registry]).stdout.split(separator: "\n")
        let stateColumn = try #require(rows[0].range(of: "STATE")).lowerBound.utf16Offset(in: rows[0])
        let applied = try #require(rows[1].range(of: "applied")).lowerBound.utf16Offset(in: rows[1])
        #expect(stateColumn == applied)
        #expect(rows.last?.contains("states from the scan of") == true)
        #expect(pk(["retire", "1", "--reason", "done", "--registry", app.registry]).status == 0)
        #expect(pk(["list", "--all", "--registry", app.registry]).stdout.contains("0001  retired"))
    }
}
