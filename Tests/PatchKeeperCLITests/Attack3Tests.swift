import Foundation
import Testing
import TestSupport

/// Attack 3: retire --revert, propose, edit, status, --all-apps, config layout.
@Suite("Attack3")
struct Attack3Tests {
    func recorded() -> AppFixture {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        let r = pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "slow jobs"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    @Test("retire --revert after a deploy that carries the fix must not put the old preimage back (undoing part of the deploy)")
    func revertAfterUpstreamDeploy() throws {
        let app = recorded()
        // v2 takes the fix (same bytes) and is deployed; the patch is still active.
        app.commit(["src/api/config/workers.yml": "timeout: 120\nconcurrency: 4\n"], message: "take the fix", tag: "v2")
        app.deploy("v2")
        #expect(pk(["scan"] + app.flags).status == 0)
        let r = pk(["retire", "0001", "--revert", "--reason", "fixed upstream"] + app.flags)
        // Whatever retire does, the live file must stay what the deployed revision has ...
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 120\nconcurrency: 4\n", "\(r.status) \(r.stderr)")
        // ... and scan must not find an unregistered change afterwards.
        let s = pk(["scan"] + app.flags)
        #expect(s.status == 0, "\(s.stdout)")
    }

    @Test("edit --reason accepts a '---' line the way record does (escaped), instead of failing with a journal error")
    func editReasonWithSeparatorLine() throws {
        let app = recorded()
        let e = pk(["edit", "0001", "--reason", "why\n---\nmore"] + app.flags)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(!e.stderr.contains("journal"), "\(e.stderr)")
        let text = try #require(app.scratch.read("registry/0001-raise-timeout.patch"))
        #expect(text.contains("why\n- - -\nmore"), "\(text)")
        #expect(pk(["list"] + app.flags).status == 0)
    }

    @Test("[defaults] in the main config apply to the apps of conf.d files too (README: 'for every app')")
    func defaultsReachConfD() throws {
        let app = AppFixture()
        let etc = app.scratch.file("etc")
        try FileManager.default.createDirectory(atPath: etc + "/conf.d", withIntermediateDirectories: true)
        app.scratch.write("etc/config.toml", "[defaults]\nignore = [\"tmp/\"]\n")
        app.scratch.write("etc/conf.d/10-api.toml", """
            [apps.api]
            root = "\(app.root)"
            repo = "\(app.repo)"
            subdir = "src/api"
            registry = "\(app.registry)"
            """)
        let config = etc + "/config.toml"
        #expect(pk(["init", "--config", config, "--app", "api"]).status == 0)
        app.scratch.write("live/tmp/cache.bin", "x")
        let r = pk(["scan", "--config", config, "--app", "api"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test("a conf.d file (or the config) writable by group or others does not steer root: it is refused")
    func writableConfDRefused() throws {
        let app = AppFixture()
        let etc = app.scratch.file("etc")
        try FileManager.default.createDirectory(atPath: etc + "/conf.d", withIntermediateDirectories: true)
        app.scratch.write("etc/config.toml", """
            [apps.api]
            root = "\(app.root)"
            repo = "\(app.repo)"
            subdir = "src/api"
            registry = "\(app.registry)"
            """)
        let config = etc + "/config.toml"
        #expect(pk(["init", "--config", config, "--app", "api"]).status == 0)
        // The app's user can write this drop-in: it names a root of its choosing for root to write in.
        app.scratch.write("etc/conf.d/50-evil.toml", "[apps.evil]\nroot = \"/etc\"\nregistry = \"\(app.scratch.file("evilreg"))\"\n")
        chmod(app.scratch.file("etc/conf.d/50-evil.toml"), 0o666)
        let r = pk(["list", "--config", config, "--app", "api"])
        #expect(r.status == 2 && r.stderr.contains("50-evil.toml") && r.stderr.contains("writable"), "\(r.stderr)")
        chmod(app.scratch.file("etc/conf.d/50-evil.toml"), 0o644)
        chmod(app.scratch.file("etc/conf.d"), 0o777)
        let d = pk(["list", "--config", config, "--app", "api"])
        #expect(d.status == 2 && d.stderr.contains("conf.d") && d.stderr.contains("writable"), "\(d.stderr)")
        chmod(app.scratch.file("etc/conf.d"), 0o755)
        #expect(pk(["list", "--config", config, "--app", "api"]).status == 0)
    }

    @Test("retire --revert killed at every step: files old or new, and a rerun (or any next command) finishes it")
    func retireRevertCrashes() throws {
        func fresh() -> AppFixture {
            let app = AppFixture()
            #expect(pk(["init"] + app.flags).status == 0)
            app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
            app.scratch.write("live/config/new.rb", "X = 1\n")
            app.scratch.write("live/config/clock.rb", "every 2.hours do\nend\n")
            precondition(pk(["record", "config/workers.yml", "config/new.rb", "config/clock.rb", "--title", "Three", "--reason", "r"] + app.flags).status == 0)
            return app
        }
        let args = ["retire", "0001", "--revert", "--reason", "x"]
        let ref = fresh()
        let before = snapshot(ref.root)
        #expect(pk(args + ref.flags).status == 0)
        let after = snapshot(ref.root)
        var k = 1
        while k < 60 {
            let app = fresh()
            let crashed = pk(args + app.flags, env: ["PATCHKEEPER_FAULT_AFTER": String(k)])
            if crashed.status != 97 { #expect(crashed.status == 0, "step \(k): \(crashed.stderr)"); break }
            for (path, data) in snapshot(app.root) where !path.contains(".pk-tmp-") {
                #expect(data == before[path] || data == after[path], "step \(k): \(path) is neither old nor new")
            }
            let rerun = pk(args + app.flags)
            #expect(rerun.status == 0 || rerun.status == 2, "step \(k): \(rerun.stderr)")
            #expect(snapshot(app.root).filter { !$0.key.contains(".pk-tmp-") } == after, "step \(k): end state differs; rerun: \(rerun.stderr)")
            #expect(app.scratch.read("registry/0001-three.patch")?.contains("Status: retired") == true, "step \(k)")
            #expect(git(["status", "--porcelain"], in: app.registry) == "", "step \(k)")
            let scan = pk(["scan"] + app.flags)
            #expect(scan.status == 0, "step \(k): \(scan.stdout)")
            k += 1
        }
    }

    @Test("status right after a deploy that dropped a hot patch is not 'nothing to report' on the word of the scan before the deploy")
    func statusAfterDeployBeforeScan() throws {
        let app = recorded()
        #expect(pk(["scan"] + app.flags).status == 0)
        #expect(pk(["status"] + app.flags).status == 0)
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        app.deploy("v2")   // the hot patch is gone from the live tree
        let st = pk(["status", "--format", "json"] + app.flags)
        #expect(st.status == 1, "\(st.stdout)")
    }

    @Test("propose: a reason with lines git mailinfo takes for the start of the patch ('diff -', 'Index: ', '--- x') still makes a mail git am applies, message whole")
    func proposeReasonWithPatchBreakLines() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        let reason = "Jobs time out.\nThe old fix was:\ndiff --git a/foo b/foo\nIndex: foo\n--- a/foo\nand that is all."
        #expect(pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", reason] + app.flags).status == 0)
        let mail = app.scratch.file("0001.mail")
        let r = pk(["propose", "0001", "--onto", "v1", "--output", mail] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        let clone = app.scratch.file("clone")
        _ = run("/usr/bin/git", ["clone", "-q", app.repo, clone])
        git(["checkout", "-q", "-b", "hotfix", "v1"], in: clone)
        let am = run("/usr/bin/git", ["-c", "user.name=dev", "-c", "user.email=dev@example.org", "am", "-q", mail], cwd: clone)
        #expect(am.status == 0, "\(am.stderr)")
        #expect(git(["show", "HEAD:src/api/config/workers.yml"], in: clone) == "timeout: 120\nconcurrency: 4")
        let body = git(["log", "-1", "--format=%B"], in: clone)
        #expect(body.contains("and that is all.") && body.contains("Hot-Patch: 0001"), "\(body)")
    }

    @Test("edit --ticket '' is refused like an empty --title or --reason; it does not write an empty 'Ticket:' trailer")
    func editEmptyTicket() throws {
        let app = recorded()
        let before = snapshot(app.registry)
        let e = pk(["edit", "0001", "--ticket", " "] + app.flags)
        #expect(e.status == 2, "\(e.stdout)\(e.stderr)")
        #expect(snapshot(app.registry) == before)
        #expect(app.scratch.read("registry/0001-raise-timeout.patch")?.contains("Ticket:") == false)
    }

    @Test("propose never writes its mail into the registry (a stray .patch breaks every command) or into the live tree (drift): run from there, it is refused")
    func proposeOutputInsideRegistryOrRoot() throws {
        let app = recorded()
        let reg = snapshot(app.registry)
        let inReg = pk(["propose", "0001", "--onto", "v1"] + app.flags, cwd: app.registry)
        #expect(inReg.status == 2, "\(inReg.stdout)\(inReg.stderr)")
        #expect(!app.scratch.exists("registry/0001-raise-timeout.proposed.patch"))
        #expect(pk(["list"] + app.flags).status == 0)
        let live = snapshot(app.root)
        let inRoot = pk(["propose", "0001", "--onto", "v1", "--output", app.root + "/config/fix.patch"] + app.flags)
        #expect(inRoot.status == 2, "\(inRoot.stdout)\(inRoot.stderr)")
        #expect(snapshot(app.root) == live)
        #expect(snapshot(app.registry).filter { !$0.key.hasPrefix(".patchkeeper/") } == reg.filter { !$0.key.hasPrefix(".patchkeeper/") })
    }

    @Test("a failed scan does not hang on (or read through a symlink) a metrics file someone replaced with a FIFO or a link")
    func metricsFailureFileIsNotFollowed() throws {
        let app = recorded()
        let fifo = app.scratch.file("metrics.prom")
        #expect(mkfifo(fifo, 0o644) == 0)
        let flags = ["--root", app.scratch.file("gone"), "--repo", app.repo, "--subdir", "src/api", "--registry", app.registry]
        let r = run("/usr/bin/timeout", ["20", patchkeeperBinary(), "scan", "--metrics-file", fifo] + flags)
        #expect(r.status == 2, "exit \(r.status) (124 = hung on the FIFO): \(r.stderr)")
        // A symlink to a secret: never read as root (the rewritten file must not carry its lines).
        try? FileManager.default.removeItem(atPath: fifo)
        app.scratch.write("secret", "patchkeeper_last_success_timestamp_seconds{app=\"x\"} 1234567\n")
        try FileManager.default.createSymbolicLink(atPath: fifo, withDestinationPath: app.scratch.file("secret"))
        let s = run("/usr/bin/timeout", ["20", patchkeeperBinary(), "scan", "--metrics-file", fifo] + flags)
        #expect(s.status == 2, "\(s.stderr)")
        #expect(app.scratch.read("secret") == "patchkeeper_last_success_timestamp_seconds{app=\"x\"} 1234567\n")
        if !app.scratch.isSymlink("metrics.prom") {
            #expect(!(app.scratch.read("metrics.prom") ?? "").contains("1234567"), "\(app.scratch.read("metrics.prom") ?? "")")
        }
    }

    @Test("--all-apps refuses every per-app flag (--repo, --registry, --subdir, --deployed), not only --app/--root: one value would steer every app")
    func allAppsRefusesPerAppFlags() throws {
        let app = AppFixture()
        app.scratch.write("all.toml", """
            [apps.alpha]
            root = "\(app.root)"
            repo = "\(app.repo)"
            subdir = "src/api"
            registry = "\(app.registry)"
            """)
        let config = app.scratch.file("all.toml")
        #expect(pk(["init", "--config", config, "--app", "alpha"]).status == 0)
        for extra in [["--deployed", "v1"], ["--subdir", "docs"], ["--repo", app.repo], ["--registry", app.registry]] {
            let r = pk(["scan", "--all-apps", "--config", config] + extra)
            #expect(r.status == 64, "\(extra): \(r.status) \(r.stderr)")
        }
    }

    @Test("scan --all-apps --format json is one JSON document, and an app that failed is in it (not only on stderr)")
    func allAppsJSONIsOneDocument() throws {
        let a = AppFixture()
        a.scratch.write("all.toml", """
            [apps.alpha]
            root = "\(a.root)"
            repo = "\(a.repo)"
            subdir = "src/api"
            registry = "\(a.registry)"

            [apps.broken]
            root = "\(a.scratch.file("gone"))"
            repo = "\(a.repo)"
            registry = "\(a.scratch.file("reg2"))"
            """)
        let config = a.scratch.file("all.toml")
        #expect(pk(["init", "--config", config, "--app", "alpha"]).status == 0)
        let r = pk(["scan", "--all-apps", "--config", config, "--format", "json"])
        #expect(r.status == 2, "\(r.stderr)")
        let doc = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        let list = doc as? [[String: Any]]
        #expect(list?.count == 2, "\(r.stdout)")
        #expect(list?.contains { ($0["app"] as? String) == "broken" && $0["error"] != nil } == true, "\(r.stdout)")
    }
}
