import Foundation
import Testing
import TestSupport

/// Where patchkeeper writes, and what it keeps, when the app's own user (who owns the live tree)
/// or a careless argument tries to steer it — the security issue's write-side items, end to end
/// through the built binary (RELIABILITY.md, "Threat model"). The races themselves are driven
/// in-process in `LiveWriteRaceTests`.
@Suite("CLI write safety")
struct WriteSafetyTests {
    static let isRoot = getuid() == 0
    static let hasSetpriv = FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    func initialised(_ app: AppFixture = AppFixture()) -> AppFixture {
        let r = pk(["init"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    /// One `patchkeeper: error:` line containing every `mentions`, exit `code`, nothing on stdout.
    func checkRefusal(_ r: ProcessResult, code: Int32 = 2, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == code, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("patchkeeper: error: "), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        for m in mentions { #expect(r.stderr.contains(m), "missing '\(m)' in: \(r.stderr)", sourceLocation: sourceLocation) }
        #expect(r.stdout.isEmpty, "stdout: \(r.stdout)", sourceLocation: sourceLocation)
    }

    func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    func names(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    static let workersPatch = """
        diff --git a/src/api/config/workers.yml b/src/api/config/workers.yml
        --- a/src/api/config/workers.yml
        +++ b/src/api/config/workers.yml
        @@ -1,2 +1,2 @@
        -timeout: 30
        +timeout: 90
         concurrency: 4

        """

    func apply(_ app: AppFixture, _ patch: String = workersPatch, extra: [String] = []) -> ProcessResult {
        app.scratch.write("in.patch", patch)
        return pk(["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + extra + app.flags)
    }

    // MARK: - Item 16: temp files

    /// The old writer's temp file was `.NAME.pk-tmp-PID`, opened without O_EXCL: a FIFO planted
    /// at the next PIDs' names hung `apply`/`reapply` while it held the registry lock.
    @Test("FIFOs planted at guessable temp-file names never block a live write")
    func fifoAtTempName() throws {
        let app = initialised()
        let pidMax = Int((try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 32768
        let last = Int((try? String(contentsOfFile: "/proc/sys/kernel/ns_last_pid", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 300
        for i in 1...4000 {
            let pid = (last + i) % pidMax
            if pid < 2 { continue }
            _ = mkfifo(app.root + "/config/.workers.yml.pk-tmp-\(pid)", 0o644)
        }
        app.scratch.write("in.patch", Self.workersPatch)
        let started = Date()
        // SIGKILL: the test runner's threads block SIGTERM, and its children inherit the mask.
        let r = run("/usr/bin/timeout", ["-s", "KILL", "30", patchkeeperBinary(), "apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "exit \(r.status) after \(Date().timeIntervalSince(started)) s: \(r.stderr)")
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 90\nconcurrency: 4\n")
    }

    // MARK: - Item 17: huge files

    @Test("apply refuses a 1 GiB live file, patch file or REVISION by its size, before reading it",
          arguments: ["live file", "patch file", "REVISION"])
    func hugeFile(kind: String) throws {
        let app = initialised()
        let big = kind == "live file" ? app.root + "/config/workers.yml" : kind == "REVISION" ? app.root + "/REVISION" : app.scratch.file("in.patch")
        app.scratch.write("in.patch", Self.workersPatch)
        #expect(truncate(big, 1 << 30) == 0)  // sparse: no disk, but 1 GiB to read
        let started = Date()
        let r = pk(["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags)
        let took = Date().timeIntervalSince(started)
        checkRefusal(r, mentions: [kind == "live file" ? "config/workers.yml" : kind == "REVISION" ? "REVISION" : "in.patch", "1024 MiB"])
        #expect(took < 3, "took \(took) s")
        #expect(names(app.registry).filter { $0.hasSuffix(".patch") } == [])
    }

    // MARK: - Item 7: ACLs and extended attributes

    @Test("a rewritten live file keeps its ACL and extended attributes")
    func keepsACLAndXattrs() throws {
        let app = initialised()
        let file = app.root + "/config/workers.yml"
        let acl = run("/usr/bin/setfacl", ["-m", "u:nobody:r", file])
        let attr = run("/usr/bin/setfattr", ["-n", "user.patchkeeper-test", "-v", "kept", file])
        if acl.status != 0 || attr.status != 0 {
            try Test.cancel("the filesystem of \(app.root) refuses ACLs or user xattrs: \(acl.stderr)\(attr.stderr)")
        }
        let modeBefore = mode(file)
        let r = apply(app)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 90\nconcurrency: 4\n")
        let facl = run("/usr/bin/getfacl", ["-c", file]).stdout
        #expect(facl.contains("user:nobody:r--"), "ACL after apply: \(facl)")
        let x = run("/usr/bin/getfattr", ["--only-values", "-n", "user.patchkeeper-test", file])
        #expect(x.status == 0 && x.stdout == "kept", "xattr after apply: \(x.stdout)\(x.stderr)")
        #expect(mode(file) == modeBefore)
    }

    // MARK: - Item 3: the journal is not trusted

    /// Writes `registry/.patchkeeper/journal.json` as a crashed writer would have, but naming
    /// `root` and `registryFile` of the planter's choice.
    func plantJournal(_ app: AppFixture, root: String, writes: [[String: String]], registryFile: String, registryText: String) throws {
        let journal: [String: Any] = [
            "action": "apply", "root": root, "writes": writes, "registryFile": registryFile, "registryText": registryText,
            "reason": "r", "author": ["name": "Eve", "email": "eve@example.org"], "time": 1_780_000_000.0,
        ]
        let data = try JSONSerialization.data(withJSONObject: journal, options: [.sortedKeys])
        let path = app.registry + "/.patchkeeper/journal.json"
        #expect(FileManager.default.createFile(atPath: path, contents: data))
        chmod(path, 0o600)
    }

    /// A patch file's text that parses (recorded for real, then retired from the registry).
    func validPatchText(_ app: AppFixture) throws -> String {
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        return try #require(app.scratch.read("registry/0001-t.patch"))
    }

    @Test("a planted journal naming another root or a registry file outside the registry is refused; nothing is written",
          arguments: ["root", "registry file"])
    func plantedJournal(kind: String) throws {
        let app = initialised()
        let text = try validPatchText(app)
        let elsewhere = app.scratch.file("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        if kind == "root" {
            try plantJournal(app, root: elsewhere, writes: [["path": "cron.d/evil", "mode": "100644", "content": Data("pwned\n".utf8).base64EncodedString()]],
                             registryFile: "0002-t.patch", registryText: text.replacingOccurrences(of: "Patch-Id: 0001", with: "Patch-Id: 0002"))
        } else {
            try plantJournal(app, root: "/", writes: [], registryFile: "../elsewhere/0002-t.patch",
                             registryText: text.replacingOccurrences(of: "Patch-Id: 0001", with: "Patch-Id: 0002"))
        }
        let head = git(["rev-parse", "HEAD"], in: app.registry)
        let r = pk(["motd", "--file", app.scratch.file("motd")] + app.flags)
        checkRefusal(r, mentions: ["journal.json", kind == "root" ? "not this app's root" : "not a patch file in"])
        #expect(names(elsewhere) == [], "written outside: \(names(elsewhere))")
        #expect(!app.scratch.exists("motd"))
        #expect(git(["rev-parse", "HEAD"], in: app.registry) == head)
    }

    @Test("a registry-only command does not finish a journal with live writes: it says which command will")
    func journalNeedsRoot() throws {
        let app = initialised()
        let text = try validPatchText(app)
        try plantJournal(app, root: app.root, writes: [["path": "README", "mode": "100644", "content": Data("x\n".utf8).base64EncodedString()]],
                         registryFile: "0002-t.patch", registryText: text.replacingOccurrences(of: "Patch-Id: 0001", with: "Patch-Id: 0002"))
        let r = pk(["retire", "1", "--reason", "done", "--registry", app.registry])
        checkRefusal(r, mentions: ["journal.json", "does not name the app's root", "--root"])
        #expect(app.scratch.read("live/README") == "The API.\n")
        // The app's own writer finishes it.
        let m = pk(["motd", "--file", app.scratch.file("motd")] + app.flags)
        #expect(m.status == 0, "\(m.stderr)")
        #expect(app.scratch.read("live/README") == "x\n")
    }

    @Test("a .patchkeeper directory writable by others or owned by another user is refused before its journal is read",
          .enabled(if: isRoot), arguments: ["0777", "0770", "owner"])
    func stateDirectoryPermissions(kind: String) throws {
        let app = initialised()
        let state = app.registry + "/.patchkeeper"
        switch kind {
        case "0777": chmod(state, 0o777)
        case "0770": chmod(state, 0o770)
        default: #expect(run("/bin/chown", ["nobody", state]).status == 0)
        }
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        let before = snapshot(app.registry)
        let r = pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags)
        checkRefusal(r, mentions: [state, kind == "owner" ? "chown" : "chmod 700"])
        #expect(snapshot(app.registry) == before)
    }

    // MARK: - Item 5: a planted .patchkeeper symlink

    @Test("scan and list refuse a symlinked or group-writable .patchkeeper; scan creates nothing behind the link",
          arguments: ["symlink", "0777"])
    func readersRefuseBadStateDirectory(kind: String) throws {
        let app = initialised()
        let state = app.registry + "/.patchkeeper"
        let elsewhere = app.scratch.file("elsewhere")
        if kind == "symlink" {
            try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
            try FileManager.default.removeItem(atPath: state)
            #expect(symlink(elsewhere, state) == 0)
        } else {
            chmod(state, 0o777)
        }
        for args in [["scan"] + app.flags, ["list", "--registry", app.registry]] {
            checkRefusal(pk(args), mentions: [state, kind == "symlink" ? "symbolic link" : "writable by group or others"])
        }
        #expect(names(elsewhere) == [])
    }

    @Test("init refuses a symlinked .patchkeeper in a registry inside the root, before touching its target")
    func symlinkedStateDirectory() throws {
        let app = AppFixture()
        let registry = app.root + "/.pk-registry"
        let victim = app.scratch.file("victim")
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        chmod(victim, 0o755)
        try FileManager.default.createDirectory(atPath: registry, withIntermediateDirectories: true)
        #expect(symlink(victim, registry + "/.patchkeeper") == 0)
        let r = pk(["init", "--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", registry])
        checkRefusal(r, mentions: [".patchkeeper", "symbolic link"])
        #expect(mode(victim) == 0o755)
        #expect(names(victim) == [])
        #expect(!FileManager.default.fileExists(atPath: registry + "/.git"))
    }

    @Test("a registry inside the root reached through a symlink is refused before anything is created behind it")
    func symlinkedRegistryInRoot() throws {
        let app = AppFixture()
        let registry = app.root + "/.pk-registry"
        let elsewhere = app.scratch.file("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        #expect(symlink(elsewhere, registry) == 0)
        let r = pk(["init", "--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", registry])
        checkRefusal(r, mentions: [".pk-registry", "symbolic link"])
        #expect(names(elsewhere) == [])
    }

    @Test("init refuses a registry directory the app's user owns before writing anything in it, --trust-repo or not",
          .enabled(if: isRoot))
    func foreignRegistryDirectory() throws {
        let app = AppFixture()
        let registry = app.root + "/.pk-registry"
        try FileManager.default.createDirectory(atPath: registry, withIntermediateDirectories: true)
        #expect(run("/bin/chown", ["-R", "nobody:nogroup", app.root]).status == 0)
        let r = pk(["init", "--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", registry])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("is owned by uid") && r.stderr.contains("nothing was created"), "\(r.stderr)")
        #expect(!r.stderr.contains("safe.directory"), "\(r.stderr)")
        // Nothing was written into the other user's directory, with --trust-repo either.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: registry)) ?? ["?"]).isEmpty)
        let trusted = pk(["init", "--trust-repo", "--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", registry])
        #expect(trusted.status == 2, "\(trusted.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: registry)) ?? ["?"]).isEmpty)
    }

    // MARK: - Item 6: secrets in the registry

    @Test("a recorded 0600 file is not readable by other users through the registry", .enabled(if: isRoot && hasSetpriv))
    func registryIsPrivate() throws {
        let app = initialised()
        app.scratch.write("live/config/database.yml", "password: hunter2\n")
        chmod(app.root + "/config/database.yml", 0o600)
        let r = pk(["record", "config/database.yml", "--title", "Database", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(mode(app.registry) == 0o700)
        let patch = app.registry + "/0001-database.patch"
        #expect(app.scratch.read("registry/0001-database.patch")?.contains("hunter2") == true)
        let cat = run("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/bin/cat", patch])
        #expect(cat.status != 0 && !cat.stdout.contains("hunter2"), "nobody read the secret: \(cat.stdout)")
        let grep = run("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/bin/grep", "-r", "hunter2", app.registry])
        #expect(!grep.stdout.contains("hunter2"))
    }

    // MARK: - Item 8: where nothing should be written

    @Test("the app repository is refused as a registry, by init and by record", arguments: ["init", "record"])
    func registryIsAppRepository(command: String) throws {
        let app = initialised()
        let flags = ["--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", app.repo]
        let head = git(["rev-parse", "HEAD"], in: app.repo)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        let r = command == "init" ? pk(["init"] + flags) : pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + flags)
        checkRefusal(r, mentions: ["is the app repository"])
        #expect(git(["rev-parse", "HEAD"], in: app.repo) == head)
        #expect(git(["status", "--porcelain"], in: app.repo) == "")
    }

    @Test("a registry that contains the app repository, or lies in its .git or work tree, is refused",
          arguments: ["contains", "inside .git", "inside the work tree"])
    func registryOverlapsRepository(kind: String) throws {
        let app = AppFixture()
        let registry = ["contains": app.scratch.path, "inside .git": app.repo + "/.git/pk", "inside the work tree": app.repo + "/patches"][kind]!
        let r = pk(["init", "--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", registry])
        let mention = ["contains": "contains the app repository", "inside .git": "inside the app repository's git directory",
                       "inside the work tree": "inside the app repository's work tree"][kind]!
        checkRefusal(r, mentions: [mention])
        #expect(!FileManager.default.fileExists(atPath: app.repo + "/.git/pk"))
        #expect(!FileManager.default.fileExists(atPath: app.repo + "/patches"))
        #expect(!FileManager.default.fileExists(atPath: app.scratch.file(".git")))
    }

    @Test("a registry inside the root is allowed even when the root is the repository's work tree")
    func registryInsideRootThatIsTheRepository() throws {
        let app = AppFixture(deploy: false)
        let registry = app.repo + "/src/api/.pk-registry"
        let r = pk(["init", "--root", app.repo + "/src/api", "--repo", app.repo, "--subdir", "src/api", "--deployed", "HEAD", "--registry", registry])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: registry + "/.patchkeeper-app"))
    }

    @Test("app names that are not plain names are refused before any path is made of them", arguments: ["..", ".", "a/b", "-x", ""])
    func badAppName(name: String) throws {
        let app = AppFixture()
        let r = pk(["init", "--app", name, "--root", app.root, "--repo", app.repo, "--subdir", "src/api"])
        #expect(r.status == 2 || r.status == 64, "exit \(r.status): \(r.stderr)")
        if r.status == 2 { checkRefusal(r, mentions: ["app name"]) }
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/.git"))
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/patchkeeper/.git"))
    }

    @Test("init refuses a directory that is not empty and not a registry")
    func initNonEmptyDirectory() throws {
        let app = AppFixture()
        app.scratch.write("registry/notes.txt", "mine\n")
        let r = pk(["init"] + app.flags)
        checkRefusal(r, mentions: ["not empty and not a patchkeeper registry", "notes.txt"])
        #expect(names(app.registry) == ["notes.txt"])
    }

    @Test("a registry belongs to one app: another app's commands are refused naming the owner", arguments: ["record", "list"])
    func registryOfAnotherApp(command: String) throws {
        let app = initialised()
        let other = AppFixture()
        other.scratch.write("live/config/clock.rb", "every 2.hours do\nend\n")
        let before = snapshot(app.registry)
        let flags = ["--app", "other-app", "--root", other.root, "--repo", other.repo, "--subdir", "src/api", "--registry", app.registry]
        let r = command == "record" ? pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + flags)
            : pk(["list", "--app", "other-app", "--registry", app.registry])
        checkRefusal(r, mentions: ["belongs to app 'live'", "other-app"])
        #expect(snapshot(app.registry) == before)
        #expect(app.scratch.read("registry/.patchkeeper-app") == "live\n")
    }

    @Test("an older registry without .patchkeeper-app is adopted by its first writer")
    func adoptOlderRegistry() throws {
        let app = initialised()
        git(["rm", "-q", ".patchkeeper-app"], in: app.registry)
        git(["commit", "-qm", "as before"], in: app.registry)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        let r = pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(git(["show", "HEAD:.patchkeeper-app"], in: app.registry) == "live")
        #expect(git(["status", "--porcelain"], in: app.registry) == "")
        let other = pk(["list", "--app", "web", "--registry", app.registry])
        checkRefusal(other, mentions: ["belongs to app 'live'"])
    }

    // MARK: - Item 9: forged registry entries

    @Test("apply refuses a patch that writes into a registry inside the root")
    func applyIntoRegistry() throws {
        let app = AppFixture()
        let registry = app.root + "/.pk-registry"
        let flags = ["--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", registry]
        #expect(pk(["init"] + flags).status == 0)
        app.scratch.write("in.patch", """
            diff --git a/src/api/.pk-registry/0042-approved.patch b/src/api/.pk-registry/0042-approved.patch
            new file mode 100644
            --- /dev/null
            +++ b/src/api/.pk-registry/0042-approved.patch
            @@ -0,0 +1 @@
            +forged

            """)
        let before = snapshot(registry)
        let r = pk(["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + flags)
        checkRefusal(r, mentions: ["inside the registry", ".pk-registry/0042-approved.patch"])
        #expect(snapshot(registry) == before)
    }

    @Test("reapply refuses a registry patch that would write into the registry inside the root")
    func reapplyIntoRegistry() throws {
        let app = AppFixture()
        let registry = app.root + "/.pk-registry"
        let flags = ["--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", registry]
        #expect(pk(["init"] + flags).status == 0)
        let blob = run("/bin/sh", ["-c", "printf 'forged\\n' | git hash-object --stdin"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let path = "src/api/.pk-registry/0042-approved.patch"
        let text = """
            From \(app.v1) Mon Sep 17 00:00:00 2001
            From: Eve <eve@example.org>
            Date: Wed, 25 Nov 2026 12:00:00 +0000
            Subject: [PATCH] Approve

            r

            Patch-Id: 0001
            Base: \(app.v1)
            Status: active
            ---
            diff --git a/\(path) b/\(path)
            new file mode 100644
            index 0000000000000000000000000000000000000000..\(blob)
            --- /dev/null
            +++ b/\(path)
            @@ -0,0 +1 @@
            +forged

            """
        try text.write(toFile: registry + "/0001-approve.patch", atomically: false, encoding: .utf8)
        git(["add", "0001-approve.patch"], in: registry)
        git(["commit", "-qm", "hand-written"], in: registry)
        // reapply reports the patch refused (one patch's failure does not stop the others) and
        // exits 2.
        let r = pk(["reapply"] + flags)
        #expect(r.status == 2)
        #expect(r.stdout.contains("REFUSED") && r.stdout.contains("inside the") && r.stdout.contains("registry")
                && r.stdout.contains(".pk-registry/0042-approved.patch"), "\(r.stdout)")
        #expect(!FileManager.default.fileExists(atPath: registry + "/0042-approved.patch"))
        #expect(git(["status", "--porcelain"], in: registry) == "")
    }

    @Test("recovery never commits a patch file no journal names")
    func recoveryCommitsOnlyJournalFiles() throws {
        let app = initialised()
        let text = try validPatchText(app)
        app.scratch.write("registry/0042-approved.patch", text.replacingOccurrences(of: "Patch-Id: 0001", with: "Patch-Id: 0042"))
        app.scratch.write("live/README", "Changed.\n")
        let r = pk(["record", "README", "--title", "u", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("0042-approved.patch") && r.stderr.contains("uncommitted"), "\(r.stderr)")
        let tracked = git(["ls-files"], in: app.registry)
        #expect(!tracked.contains("0042-approved.patch"), "\(tracked)")
    }
}
