import Foundation
import Testing
import TestSupport

@Suite("CLI status")
struct StatusTests {
    @Test("status shows each configured app from the last scan, with the age of the oldest unregistered change; exit 1 on findings, 2 on a broken app")
    func statusAcrossApps() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        #expect(pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "r"] + app.flags).status == 0)
        // Before any scan: a finding (the state is unknown).
        var r = pk(["status", "--format", "json"] + app.flags)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(pk(["scan"] + app.flags).status == 0)
        r = pk(["status"] + app.flags)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("1 applied"))

        // An unregistered change: first seen at the first scan that finds it, kept by later scans.
        app.scratch.write("live/app/models/user.rb", "class User\nend\n")
        #expect(pk(["scan"] + app.flags).stdout.contains("(new)"))
        let first = try json(pk(["status", "--format", "json"] + app.flags))
        Thread.sleep(forTimeInterval: 1.1)
        let again = pk(["scan"] + app.flags)
        #expect(again.stdout.contains("(unregistered for ") && !again.stdout.contains("(new)"), "\(again.stdout)")
        r = pk(["status", "--format", "json"] + app.flags)
        #expect(r.status == 1)
        let row = try #require((try json(r))["apps"] as? [[String: Any]]).first
        #expect(row?["unregistered"] as? Int == 1)
        #expect(row?["oldest_unregistered"] as? String == "src/api/app/models/user.rb")
        let firstRow = (first["apps"] as? [[String: Any]])?.first
        #expect(row?["oldest_unregistered_since"] as? String == firstRow?["oldest_unregistered_since"] as? String)
        #expect(row?["last_scan"] as? String != firstRow?["last_scan"] as? String)

        // A config with two apps, one broken: both listed, exit 2.
        app.scratch.write("config.toml", """
            [apps.live]
            root = "\(app.root)"
            repo = "\(app.repo)"
            subdir = "src/api"
            registry = "\(app.registry)"

            [apps.gone]
            root = "\(app.root)"
            repo = "\(app.repo)"
            registry = "\(app.scratch.file("no-registry"))"
            """)
        r = pk(["status", "--config", app.config])
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("live") && r.stdout.contains("gone") && r.stdout.contains("does not exist"), "\(r.stdout)")
    }

    func json(_ r: ProcessResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\(r.stderr)")
    }
}

@Suite("CLI status table")
struct StatusTableTests {
    @Test("status sizes its columns to the widest cell and cuts the last one to the terminal ($COLUMNS)")
    func columnsFit() throws {
        let app = AppFixture()
        let name = "a-rather-long-application-name-x"
        app.scratch.write("config.toml", """
            [apps.\(name)]
            root = "\(app.root)"
            repo = "\(app.repo)"
            subdir = "src/api"
            registry = "\(app.registry)"
            """)
        #expect(pk(["init", "--config", app.config]).status == 0)
        #expect(pk(["scan", "--config", app.config]).status == 0)
        // A deploy after the scan makes the last column long ("deployed since: run ...").
        let later = Date().addingTimeInterval(60)
        try FileManager.default.setAttributes([.modificationDate: later], ofItemAtPath: app.root + "/REVISION")
        let r = pk(["status", "--config", app.config], env: ["COLUMNS": "90"])
        let lines = r.stdout.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(lines.count >= 2, "\(r.stdout)")
        #expect(lines.allSatisfy { $0.count <= 90 }, "\(r.stdout)")
        #expect(lines.contains { $0.hasSuffix("…") }, "the last column is cut, not wrapped: \(r.stdout)")
        #expect(pk(["status", "--config", app.config], env: ["COLUMNS": "200"]).stdout.contains("run 'patchkeeper scan')"))
        // DEPLOYED starts where the row's revision does: the name did not push the row out of line.
        let header = try #require(lines.first)
        let row = try #require(lines.first { $0.hasPrefix(name) })
        let col = try #require(header.range(of: "DEPLOYED")).lowerBound.utf16Offset(in: header)
        #expect(Array(row)[col - 1] == " " && Array(row)[col] != " ", "\(r.stdout)")
        #expect(col == name.count + 1, "\(r.stdout)")
    }
}

@Suite("CLI hand edits in the registry")
struct HandEditTests {
    /// An app with a registry holding one patch, 0001 "Raise timeout" on config/workers.yml.
    private func recordedApp() -> AppFixture {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        #expect(pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "r"] + app.flags).status == 0)
        return app
    }

    @Test("a registry file edited by hand and not committed is reported by scan, list and status, and blocks gate")
    func handEditsAreReported() throws {
        let app = recordedApp()
        #expect(pk(["scan"] + app.flags).status == 0)
        let file = app.registry + "/0001-raise-timeout.patch"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        try text.replacingOccurrences(of: "Subject: [PATCH] Raise timeout", with: "Subject: [PATCH] Raise timeout (approved)").write(toFile: file, atomically: true, encoding: .utf8)
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 1 && scan.stdout.contains("uncommitted change in the registry"), "\(scan.stdout)")
        #expect(pk(["list"] + app.flags).stderr.contains("uncommitted changes"))
        #expect(pk(["status"] + app.flags).status == 1)
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        #expect(pk(["gate", "--target", "v2", "--policy", "reapply"] + app.flags).status == 1)
    }

    @Test("a record commits its own patch file only: another patch file's hand edit that an admin staged with git add stays staged and uncommitted")
    func recordLeavesStagedEditsAlone() throws {
        let app = recordedApp()
        let file = app.registry + "/0001-raise-timeout.patch"
        try (try String(contentsOfFile: file, encoding: .utf8)).replacingOccurrences(of: "Subject: [PATCH] Raise timeout", with: "Subject: [PATCH] Raise timeout (sneaky)")
            .write(toFile: file, atomically: false, encoding: .utf8)
        git(["add", "0001-raise-timeout.patch"], in: app.registry)
        app.scratch.write("live/README", "Patched.\n")
        let r = pk(["record", "README", "--title", "Readme", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(git(["show", "--name-only", "--format=%s", "HEAD"], in: app.registry) == "record 0002: Readme\n\n0002-readme.patch")
        #expect(!git(["show", "HEAD:0001-raise-timeout.patch"], in: app.registry).contains("sneaky"))
        #expect(git(["status", "--porcelain"], in: app.registry) == "M  0001-raise-timeout.patch")
    }

    @Test("edit and retire refuse a patch file with uncommitted changes (they would commit an admin's hand edit under their own message) and write nothing")
    func writesRefuseHandEditedFile() throws {
        let app = recordedApp()
        let file = app.registry + "/0001-raise-timeout.patch"
        let edited = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "Subject: [PATCH] Raise timeout", with: "Subject: [PATCH] Raise timeout (by hand)")
        try edited.write(toFile: file, atomically: false, encoding: .utf8)
        let head = git(["rev-parse", "HEAD"], in: app.registry)
        for args in [["edit", "1", "--ticket", "OPS-1"], ["retire", "1", "--reason", "done"]] {
            let r = pk(args + app.flags)
            #expect(r.status != 0 && r.stderr.contains("uncommitted changes"), "\(args): \(r.status) \(r.stderr)")
            #expect(git(["rev-parse", "HEAD"], in: app.registry) == head)
            #expect(try String(contentsOfFile: file, encoding: .utf8) == edited, "the hand edit is left as it was")
        }
        git(["checkout", "--", "0001-raise-timeout.patch"], in: app.registry)
        #expect(pk(["edit", "1", "--ticket", "OPS-1"] + app.flags).status == 0)
    }

    @Test("what decides a hand edit is the file against HEAD: an index left behind HEAD does not block a write, an ignored stray file or a detached HEAD does")
    func writeChecksFileAgainstHead() throws {
        let app = recordedApp()
        #expect(pk(["edit", "1", "--ticket", "OPS-1"] + app.flags).status == 0)
        // The index one commit behind (a commit whose index write was cut short): no hand edit.
        git(["read-tree", "HEAD~1"], in: app.registry)
        let stale = pk(["edit", "1", "--ticket", "OPS-2"] + app.flags)
        #expect(stale.status == 0, "\(stale.stderr)")
        #expect(git(["status", "--porcelain"], in: app.registry) == "")
        #expect(try String(contentsOfFile: app.registry + "/0001-raise-timeout.patch", encoding: .utf8).contains("OPS-2"))
        // A stray file where the next record writes, hidden by an ignore rule: still refused.
        let text = try String(contentsOfFile: app.registry + "/0001-raise-timeout.patch", encoding: .utf8)
        try text.replacingOccurrences(of: "Patch-Id: 0001", with: "Patch-Id: 0002").write(toFile: app.registry + "/0002-stray.patch", atomically: false, encoding: .utf8)
        app.scratch.write("excludes", "*.patch\n")
        git(["config", "core.excludesFile", app.scratch.file("excludes")], in: app.registry)
        let stray = pk(["edit", "2", "--ticket", "X"] + app.flags)
        #expect(stray.status != 0 && stray.stderr.contains("uncommitted changes"), "\(stray.status) \(stray.stderr)")
        try FileManager.default.removeItem(atPath: app.registry + "/0002-stray.patch")
        // A carriage return added by hand, with core.autocrlf on (a filtered hash would not see it).
        git(["config", "core.autocrlf", "true"], in: app.registry)
        let crlf = app.registry + "/0001-raise-timeout.patch"
        let original = try String(contentsOfFile: crlf, encoding: .utf8)
        #expect(original.contains("\n+timeout: 120\n"))
        try original.replacingOccurrences(of: "\n+timeout: 120\n", with: "\n+timeout: 120\r\n").write(toFile: crlf, atomically: false, encoding: .utf8)
        let cr = pk(["edit", "1", "--ticket", "CR"] + app.flags)
        #expect(cr.status != 0 && cr.stderr.contains("uncommitted changes"), "\(cr.status) \(cr.stderr) \(cr.stdout)")
        try original.write(toFile: crlf, atomically: false, encoding: .utf8)
        git(["config", "--unset", "core.autocrlf"], in: app.registry)
        // HEAD on no branch: a commit there is lost at the next checkout.
        git(["checkout", "-q", "--detach", "HEAD"], in: app.registry)
        let head = git(["rev-parse", "HEAD"], in: app.registry)
        let detached = pk(["edit", "1", "--ticket", "OPS-3"] + app.flags)
        #expect(detached.status != 0 && detached.stderr.contains("detached"), "\(detached.status) \(detached.stderr)")
        #expect(git(["rev-parse", "HEAD"], in: app.registry) == head)
    }

    @Test("reapply with one hand-edited patch file writes nothing at all: not the others, not the ones stacked on it")
    func reapplyRefusesWholeOnHandEdit() throws {
        let app = recordedApp()
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 8\n")
        #expect(pk(["record", "config/workers.yml", "--title", "More workers", "--reason", "r"] + app.flags).status == 0)
        app.scratch.write("live/README", "Patched.\n")
        #expect(pk(["record", "README", "--title", "Readme", "--reason", "r"] + app.flags).status == 0)
        let file = app.registry + "/0001-raise-timeout.patch"
        try (try String(contentsOfFile: file, encoding: .utf8)).replacingOccurrences(of: "Subject: [PATCH] Raise timeout", with: "Subject: [PATCH] Raise timeout (by hand)")
            .write(toFile: file, atomically: false, encoding: .utf8)
        app.commit(["src/api/NEWS": "v2\n"], message: "v2", tag: "v2")
        app.deploy("v2")
        let before = snapshot(app.root)
        let head = git(["rev-parse", "HEAD"], in: app.registry)
        let dry = pk(["reapply", "--dry-run"] + app.flags)
        #expect(dry.status != 0 && dry.stderr.contains("uncommitted changes"), "a dry run says what the run would: \(dry.status) \(dry.stderr)")
        let r = pk(["reapply"] + app.flags)
        #expect(r.status != 0 && r.stderr.contains("uncommitted changes"), "\(r.status) \(r.stdout) \(r.stderr)")
        #expect(snapshot(app.root) == before, "reapply wrote into the live tree")
        #expect(git(["rev-parse", "HEAD"], in: app.registry) == head)
    }

    @Test("no registry write while a merge in the registry is unfinished: the commit would land where the merge's end does not keep it")
    func noWriteDuringMerge() throws {
        let app = recordedApp()
        let name = "0001-raise-timeout.patch"
        let main = git(["rev-parse", "--abbrev-ref", "HEAD"], in: app.registry)
        git(["checkout", "-q", "-b", "side"], in: app.registry)
        try (try String(contentsOfFile: app.registry + "/" + name, encoding: .utf8) + "# side\n").write(toFile: app.registry + "/" + name, atomically: false, encoding: .utf8)
        git(["commit", "-q", "-a", "-m", "side"], in: app.registry)
        git(["checkout", "-q", main], in: app.registry)
        try (try String(contentsOfFile: app.registry + "/" + name, encoding: .utf8) + "# main\n").write(toFile: app.registry + "/" + name, atomically: false, encoding: .utf8)
        git(["commit", "-q", "-a", "-m", "main"], in: app.registry)
        let merge = run("/usr/bin/git", ["-c", "user.name=T", "-c", "user.email=t@e", "merge", "side"], cwd: app.registry)
        #expect(merge.status != 0, "the merge was meant to conflict")
        let head = git(["rev-parse", "HEAD"], in: app.registry)
        app.scratch.write("live/README", "Patched.\n")
        let r = pk(["record", "README", "--title", "Readme", "--reason", "r"] + app.flags)
        #expect(r.status != 0 && r.stderr.contains("in progress"), "\(r.status) \(r.stderr)")
        #expect(git(["rev-parse", "HEAD"], in: app.registry) == head)
        git(["merge", "--abort"], in: app.registry)
        #expect(pk(["record", "README", "--title", "Readme", "--reason", "r"] + app.flags).status == 0)
        #expect(git(["log", "-1", "--format=%s", main], in: app.registry) == "record 0002: Readme")
    }

    @Test("a registry whose status libgit2 cannot read (a split index from the git CLI) is reported by scan, status and list and blocks gate, never taken for clean")
    func uncheckableRegistryIsNotClean() throws {
        let app = recordedApp()
        #expect(pk(["scan"] + app.flags).status == 0)
        git(["config", "core.splitIndex", "true"], in: app.registry)
        git(["update-index", "--split-index"], in: app.registry)
        let file = app.registry + "/0001-raise-timeout.patch"
        try (try String(contentsOfFile: file, encoding: .utf8)).replacingOccurrences(of: "Subject: [PATCH] Raise timeout", with: "Subject: [PATCH] Raise timeout (approved)")
            .write(toFile: file, atomically: false, encoding: .utf8)
        #expect(git(["status", "--porcelain"], in: app.registry) == "M 0001-raise-timeout.patch")
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 1 && scan.stdout.contains("cannot check the registry"), "\(scan.stdout)\n\(scan.stderr)")
        let status = pk(["status", "--format", "json"] + app.flags)
        #expect(status.status == 1 && status.stdout.contains("\"hand_edit_check\""), "\(status.stdout)")
        #expect(pk(["list"] + app.flags).stderr.contains("cannot check the registry"))
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        let gate = pk(["gate", "--target", "v2", "--policy", "reapply"] + app.flags)
        #expect(gate.status == 1, "\(gate.stdout)")
    }
}

@Suite("CLI private registry and other users")
struct PrivateRegistryTests {
    @Test("a user who cannot read the root-owned private registry is told so, not that it does not exist",
          .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func privateRegistryMessage() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        // The temp dirs on the way must be traversable for nobody to reach the registry path.
        _ = run("/bin/chmod", ["o+x", app.scratch.path])
        // Without its public summary (NonRootReaderTests covers the reader with one).
        try? FileManager.default.removeItem(atPath: app.registry + ".summary.json")
        let r = run("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", patchkeeperBinary(), "list", "--registry", app.registry])
        #expect(r.status == 2)
        #expect(r.stderr.contains("private to its owner") && !r.stderr.contains("does not exist"), "\(r.stderr)")
    }
}

@Suite("CLI diff paths")
struct DiffPathTests {
    @Test("diff of a path that is in neither tree is trouble (exit 2), not an empty 'no drift'")
    func typoIsTrouble() {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        let r = pk(["diff", "config/wokers.yml"] + app.flags)
        #expect(r.status == 2 && r.stderr.contains("wokers.yml"), "\(r.stderr)")
        app.scratch.write("live/config/workers.yml", "timeout: 99\nconcurrency: 4\n")
        let ok = pk(["diff", "config/workers.yml"] + app.flags)
        #expect(ok.status == 1 && ok.stdout.contains("+timeout: 99"))
        // Relative to the current directory inside the root, as the help says.
        let inside = pk(["diff", "workers.yml"] + app.flags, cwd: app.root + "/config")
        #expect(inside.status == 1 && inside.stdout.contains("+timeout: 99"), "\(inside.stdout)\(inside.stderr)")
    }
}

@Suite("CLI colour")
struct ColorTests {
    @Test("--color always colours findings even into a pipe; never and the default (not a terminal) do not")
    func colorChoice() {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 99\nconcurrency: 4\n")
        #expect(pk(["gate", "--target", "v1", "--color", "always"] + app.flags).stdout.contains("\u{1B}["))
        #expect(!pk(["gate", "--target", "v1", "--color", "never"] + app.flags).stdout.contains("\u{1B}["))
        #expect(!pk(["gate", "--target", "v1"] + app.flags).stdout.contains("\u{1B}["))
    }
}
