import Foundation
import Testing
import TestSupport

/// Scan-side hostile input (security issue items 10–15, 18): what the app's own, unprivileged
/// user can put into the live tree to hide drift or hang a root `scan`, `gate` or `reapply`.
/// Commands that could hang run with a deadline: killed and failed when they pass it.
@Suite("CLI scan: hostile live tree")
struct ScanHostileTests {
    static let isRoot = getuid() == 0

    func initialised(_ app: AppFixture = AppFixture()) -> AppFixture {
        let r = pk(["init"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    func json(_ r: ProcessResult) throws -> [String: Any] { try json(r.stdout, r.stderr) }

    func json(_ stdout: String, _ stderr: String = "") throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "\(stdout)\(stderr)")
    }

    func drift(_ j: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for d in (j["unregistered"] as? [[String: Any]]) ?? [] { out[d["path"] as? String ?? "?"] = d["change"] as? String }
        return out
    }

    func problems(_ j: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for d in (j["problems"] as? [[String: Any]]) ?? [] { out[d["path"] as? String ?? "?"] = d["message"] as? String }
        return out
    }

    /// Runs patchkeeper, killing it after `seconds`: `nil` when it had to be killed.
    func pkWithDeadline(_ args: [String], seconds: Double = 20) -> (status: Int32, stdout: String, stderr: String)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: patchkeeperBinary())
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("GIT_") { env.removeValue(forKey: key) }
        env["HOME"] = "/nonexistent"
        env["NO_COLOR"] = "1"
        env.removeValue(forKey: "PATCHKEEPER_CONFIG")
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        do { try p.run() } catch { Issue.record("cannot run patchkeeper: \(error)"); return nil }
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if done.wait(timeout: .now() + seconds) == .timedOut {
            kill(p.processIdentifier, SIGKILL)
            done.wait()
            group.wait()
            return nil
        }
        group.wait()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    // MARK: - Item 10: .patchkeeperignore

    @Test("a .patchkeeperignore of '*' planted in the live tree hides nothing and is drift itself; gate blocks")
    func plantedPatchkeeperignore() throws {
        let app = initialised()
        app.scratch.write("live/.patchkeeperignore", "*\n")
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        try FileManager.default.removeItem(atPath: app.root + "/README")
        app.scratch.write("live/shell.php", "<?php system($_GET['c']); ?>\n")
        let r = pk(["scan", "--format", "json"] + app.flags)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(drift(try json(r)) == [
            "src/api/.patchkeeperignore": "added", "src/api/config/clock.rb": "modified",
            "src/api/README": "deleted", "src/api/shell.php": "added",
        ])
        let gate = pk(["gate", "--target", "v1"] + app.flags)
        #expect(gate.status == 1, "\(gate.stdout)")
        #expect(gate.stdout.split(separator: "\n").last?.hasPrefix("gate: BLOCKED") == true, "\(gate.stdout)")
    }

    @Test("the deployed revision's .patchkeeperignore hides what it names; a live edit to it is drift and widens nothing")
    func deployedPatchkeeperignore() throws {
        let app = AppFixture(deploy: false)
        app.commit(["src/api/.patchkeeperignore": "public/assets/\n"], message: "ignore assets", tag: "v1.1")
        app.deploy("v1.1")
        _ = initialised(app)
        app.scratch.write("live/public/assets/app.js", "y\n")
        #expect(pk(["scan"] + app.flags).status == 0)
        app.scratch.write("live/.patchkeeperignore", "public/assets/\n*.php\n")
        app.scratch.write("live/shell.php", "<?php system($_GET['c']); ?>\n")
        let r = pk(["scan", "--format", "json"] + app.flags)
        #expect(drift(try json(r)) == ["src/api/.patchkeeperignore": "modified", "src/api/shell.php": "added"])
    }

    // MARK: - Item 11: .gitignore files

    @Test(".gitignore files planted in the live tree hide nothing and are drift themselves")
    func plantedGitignore() throws {
        let app = initialised()
        app.scratch.write("live/.gitignore", "*\n")
        app.scratch.write("live/shell.php", "<?php system($_GET['c']); ?>\n")
        app.scratch.write("live/config/.gitignore", "evil.rb\n.gitignore\n")
        app.scratch.write("live/config/evil.rb", "system(params[:c])\n")
        app.scratch.write("live/newdir/.gitignore", "*\n")
        app.scratch.write("live/newdir/x.rb", "x\n")
        let r = pk(["scan", "--format", "json"] + app.flags)
        #expect(r.status == 1)
        #expect(drift(try json(r)) == [
            "src/api/.gitignore": "added", "src/api/shell.php": "added", "src/api/config/.gitignore": "added",
            "src/api/config/evil.rb": "added", "src/api/newdir/.gitignore": "added", "src/api/newdir/x.rb": "added",
        ])
    }

    @Test("untracked files are ignored as git status ignores them in a checkout of the deployed revision")
    func deployedGitignoreLikeGit() throws {
        let app = AppFixture(deploy: false)
        let rev = app.commit([
            ".gitignore": "*.log\n/build/\nsrc/api/generated/\n*.bak\n",
            "src/.gitignore": "api/cache/*\n!api/cache/.keep\n",
            "src/api/.gitignore": "tmp/\n!important.log\n/local.rb\ndoc/**/*.tmp\n\\#hash\n# a comment\n\nspaced name \n",
            "src/api/lib/.gitignore": "*.out\n!keep.bak\nsub/x.txt\n[ab].gen\n",
            "src/api/lib/placeholder.rb": "# lib\n",
        ], message: "ignores", tag: "v1.1")
        app.deploy("v1.1")
        _ = initialised(app)
        let candidates = ["a.log", "important.log", "lib/deep/b.log", "build/x", "lib/build/x", "generated/g.rb", "cache/c",
                          "cache/.keep", "tmp/t", "lib/tmp/t", "local.rb", "lib/local.rb", "doc/a/b/c.tmp", "doc/c.tmp", "x.tmp",
                          "#hash", "lib/y.out", "lib/z/y.out", "lib/keep.bak", "other.bak", "lib/sub/x.txt", "sub/x.txt",
                          "plain.rb", "spaced name", "lib/a.gen", "lib/c.gen", "lib/deep/b.gen"]
        for c in candidates {
            app.scratch.write("live/" + c, "x\n")
            app.scratch.write("app/src/api/" + c, "x\n")
        }
        // git's answer: the untracked files it does not ignore, in a checkout of the deployed revision.
        #expect(git(["rev-parse", "HEAD"], in: app.repo) == rev)
        let status = git(["status", "--porcelain", "--untracked-files=all"], in: app.repo)
        let gitAdded = Set(status.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("?? ") else { return nil }
            var p = String(line.dropFirst(3))
            if p.hasPrefix("\"") { p = String(p.dropFirst().dropLast()) }  // "#hash" is not quoted, "spaced name" neither
            return p
        })
        let r = pk(["scan", "--format", "json"] + app.flags)
        let added = Set(drift(try json(r)).filter { $0.value == "added" }.keys)
        #expect(added == gitAdded, "git: \(gitAdded.sorted())")
        // The test means something: some of each.
        #expect(gitAdded.contains("src/api/plain.rb") && gitAdded.contains("src/api/cache/.keep") && !gitAdded.contains("src/api/a.log"))
    }

    // MARK: - Item 12: nested .git, submodules, ident

    @Test("a .git directory or file below the top is drift, not skipped")
    func nestedDotGit() throws {
        let app = initialised()
        app.scratch.write("live/config/.git/hooks/evil", "#!/bin/sh\n")
        app.scratch.write("live/app/.git", "gitdir: /tmp/elsewhere\n")
        let r = pk(["scan", "--format", "json"] + app.flags)
        #expect(r.status == 1)
        #expect(drift(try json(r)) == ["src/api/config/.git/hooks/evil": "added", "src/api/app/.git": "added"])
    }

    @Test("a submodule's directory is reported as not compared")
    func submoduleNotCompared() throws {
        let app = AppFixture(deploy: false)
        git(["update-index", "--add", "--cacheinfo", "160000,\(app.v1),src/api/vendor/sub"], in: app.repo)
        git(["commit", "-qm", "submodule"], in: app.repo)
        git(["tag", "v1.1"], in: app.repo)
        app.deploy("v1.1")
        _ = initialised(app)
        app.scratch.write("live/vendor/sub/evil.php", "<?php system($_GET['c']); ?>\n")
        let r = pk(["scan", "--format", "json"] + app.flags)
        #expect(r.status == 1, "\(r.stdout)")
        let p = problems(try json(r))
        #expect(p["src/api/vendor/sub"]?.contains("not compared") == true, "\(p)")
    }

    @Test("an edit between $Id: and $ of an ident file is drift; the expanded keyword alone is not")
    func identHidesNothing() throws {
        let app = AppFixture(deploy: false)
        app.commit(["src/api/.gitattributes": "*.php ident\n", "src/api/index.php": "<?php // $Id$\necho 1;\n"], message: "ident", tag: "v1.1")
        app.deploy("v1.1")
        let live = try #require(app.scratch.read("live/index.php"))
        #expect(live.contains("$Id: "), "git archive expands the keyword: \(live)")
        _ = initialised(app)
        #expect(pk(["scan"] + app.flags).status == 0)
        let evil = live.replacingOccurrences(of: #"\$Id: [0-9a-f]+ \$"#, with: "$Id: ?><?php eval(base64_decode('c3lzdGVt')); ?> $", options: .regularExpression)
        #expect(evil != live)
        app.scratch.write("live/index.php", evil)
        let r = pk(["scan", "--format", "json"] + app.flags)
        #expect(drift(try json(r)) == ["src/api/index.php": "modified"])
    }

    // MARK: - Item 13: Git LFS

    @Test("a Git LFS file is compared by sha256 and size with its pointer: equal is clean, different is drift")
    func lfsPointer() throws {
        let app = AppFixture(deploy: false)
        let content = "the real model weights\n" + String(repeating: "0123456789", count: 1000)
        app.scratch.write("content.bin", content)
        let sha = String(run("/usr/bin/sha256sum", [app.scratch.file("content.bin")]).stdout.prefix(64))
        #expect(sha.count == 64)
        let pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:\(sha)\nsize \(content.utf8.count)\n"
        app.commit(["src/api/.gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n", "src/api/model.bin": pointer], message: "lfs", tag: "v1.1")
        app.deploy("v1.1")
        _ = initialised(app)
        // Deployed with the LFS objects fetched: the real content.
        app.scratch.write("live/model.bin", content)
        let clean = pk(["scan"] + app.flags)
        #expect(clean.status == 0, "\(clean.stdout)")
        // Deployed without them: the pointer itself.
        app.scratch.write("live/model.bin", pointer)
        #expect(pk(["scan"] + app.flags).status == 0)
        app.scratch.write("live/model.bin", content.replacingOccurrences(of: "real", with: "fake"))
        let r = pk(["scan", "--format", "json"] + app.flags)
        #expect(drift(try json(r)) == ["src/api/model.bin": "modified"])
        app.scratch.write("live/model.bin", content + "x")
        #expect(drift(try json(pk(["scan", "--format", "json"] + app.flags))) == ["src/api/model.bin": "modified"])
    }

    // MARK: - Item 14: FIFOs

    @Test("a FIFO where scan, gate or reapply reads a file is an error or a problem, never a hang",
          arguments: ["REVISION", ".patchkeeperignore", "untracked .gitignore"], ["scan", "gate", "reapply"])
    func fifoNeverHangs(place: String, command: String) throws {
        let app = initialised()
        switch place {
        case "REVISION":
            try FileManager.default.removeItem(atPath: app.root + "/REVISION")
            #expect(mkfifo(app.root + "/REVISION", 0o644) == 0)
        case ".patchkeeperignore":
            #expect(mkfifo(app.root + "/.patchkeeperignore", 0o644) == 0)
        default:
            app.scratch.write("live/newdir/x.rb", "x\n")
            #expect(mkfifo(app.root + "/newdir/.gitignore", 0o644) == 0)
        }
        var args = [command] + app.flags
        if command == "gate" { args += ["--target", "v1"] }
        let r = try #require(pkWithDeadline(args), "\(command) hung on a FIFO at \(place)")
        if place == "REVISION" {
            #expect(r.status == 2)
            #expect(r.stderr.contains("REVISION") && r.stderr.contains("not a regular file"), "\(r.stderr)")
        } else if command != "reapply" {
            #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
            #expect(r.stdout.contains("not a regular file"), "\(r.stdout)")
        } else {
            #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        }
    }

    // MARK: - Item 15: deep directories

    @Test("2,000 nested empty directories: scan finishes in seconds and names where it stopped")
    func deepDirectories() throws {
        let app = initialised()
        var fd = open(app.root, O_RDONLY | O_DIRECTORY)
        for _ in 0..<2000 {
            #expect(mkdirat(fd, "d", 0o755) == 0)
            let next = openat(fd, "d", O_RDONLY | O_DIRECTORY)
            close(fd)
            fd = next
        }
        close(fd)
        let started = Date()
        let r = try #require(pkWithDeadline(["scan", "--format", "json"] + app.flags, seconds: 30), "scan took over 30 s")
        let seconds = Date().timeIntervalSince(started)
        #expect(seconds < 5, "scan took \(seconds) s")
        let capped = "src/api/" + Array(repeating: "d", count: 257).joined(separator: "/")
        #expect(problems(try json(r.stdout))[capped]?.contains("more than 256 levels") == true, "\(r.stdout.prefix(2000))")
        // Leave a tree the scratch directory's clean-up can remove.
        run("/bin/rm", ["-rf", app.root + "/d"])
    }

    // MARK: - Item 18: file names that forge output lines

    static let forged = "x\nscan: clean — 0 active patches applied (1 files, 0 hashed, 0.00 s)\ngate: safe — nothing\n\u{1B}[2J"

    @Test("a newline in a file name forges no 'scan: clean' or 'gate: safe' line, and record --all records it")
    func newlineInFileName() throws {
        let app = initialised()
        app.scratch.write("live/" + Self.forged, "evil\n")
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 1)
        let lines = scan.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.filter { $0.hasPrefix("scan:") }.count == 1, "\(scan.stdout)")
        #expect(lines.last?.hasPrefix("scan: 1 unregistered change") == true, "\(scan.stdout)")
        #expect(!scan.stdout.contains("\u{1B}"))
        let gate = pk(["gate", "--target", "v1"] + app.flags)
        #expect(gate.status == 1)
        #expect(!gate.stdout.split(separator: "\n").contains { $0.hasPrefix("gate: safe") }, "\(gate.stdout)")
        #expect(!gate.stdout.contains("\u{1B}"))
        // record --all records the rest of the drift and refuses only that path, in one line.
        app.scratch.write("live/config/new_flag.rb", "X = 1\n")
        let rec = pk(["record", "--all", "--title", "t", "--reason", "r"] + app.flags)
        #expect(rec.status == 0, "\(rec.stdout)\(rec.stderr)")
        #expect(rec.stdout.contains("src/api/config/new_flag.rb"), "\(rec.stdout)")
        #expect(!rec.stdout.contains("\u{1B}") && !rec.stdout.contains("scan: clean"), "\(rec.stdout)")
        #expect(rec.stderr.split(separator: "\n").count == 1 && rec.stderr.contains("not recorded") && rec.stderr.contains("newline"), "\(rec.stderr)")
        #expect(!rec.stderr.contains("\u{1B}"))
        let after = pk(["scan", "--format", "json"] + app.flags)
        #expect(drift(try json(after)) == ["src/api/" + Self.forged: "added"])
    }

    @Test("gate and reapply details show a registry file name without its escape sequences")
    func escapesInDetails() throws {
        let app = initialised()
        app.scratch.write("live/config/clock.rb", "every 1.hour do\n  # RssCleanup.run\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        var text = try #require(app.scratch.read("registry/0001-t.patch"))
        let real = try #require(text.firstMatch(of: /index ([0-9a-f]{40})\.\.([0-9a-f]{40})/))
        text = text.replacingOccurrences(of: String(real.2), with: String(repeating: "1", count: 40))
        let evilName = "0001-t\u{1B}]0;pwned\u{07}\u{1B}[31m.patch"
        try FileManager.default.removeItem(atPath: app.registry + "/0001-t.patch")
        app.scratch.write("registry/" + evilName, text)
        git(["add", "-A"], in: app.registry)
        git(["commit", "-qm", "hand edit"], in: app.registry)
        let v2 = app.commit(["src/api/config/clock.rb": "every 2.hours do\n  RssCleanup.run\nend\n"], message: "v2")
        let gate = pk(["gate", "--target", v2] + app.flags)
        #expect(gate.stdout.contains("says it makes blob 1111111"), "\(gate.stdout)\(gate.stderr)")
        #expect(!gate.stdout.contains("\u{1B}") && !gate.stdout.contains("\u{07}"), "\(gate.stdout.debugDescription)")
        #expect(!gate.stderr.contains("\u{1B}"))
        app.deploy(v2)
        let re = pk(["reapply", "--dry-run"] + app.flags)
        #expect(re.status != 2, "\(re.stderr)")
        #expect(!re.stdout.contains("\u{1B}") && !re.stdout.contains("\u{07}"), "\(re.stdout.debugDescription)")
        #expect(!re.stderr.contains("\u{1B}"))
    }
}
