import Foundation
import Testing
import TestSupport

/// Hostile and bad input (DESIGN §8, issue 8), end to end through the built binary: paths that
/// try to leave the root, symlinks, binary and CRLF files, huge files, patches that lie about
/// their blob ids, junk in the registry, config and REVISION, repositories owned by someone else,
/// unreadable files, a full disk, and escape sequences aimed at a terminal. Every refusal is one
/// `patchkeeper: error:` line naming the file and the fix, exit 2 (1 for a finding), and not one
/// byte changed anywhere in the test's directory: root, registry, repository, files outside.
/// BadInputTests holds the older cases (missing root/repo/revision, `..` on the command line,
/// malformed registry file, duplicate ids, config typos, held lock); none is repeated here.
@Suite("CLI hostile input")
struct HostileInputTests {
    static let isRoot = getuid() == 0
    static let hasSetpriv = FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    func initialised() -> AppFixture {
        let app = AppFixture()
        let r = pk(["init"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    /// Every file under the scratch directory, `.git` internals included (a refused command may
    /// not even touch the app's or the registry's repository).
    func everything(_ app: AppFixture) -> [String: Data] {
        var out: [String: Data] = [:]
        guard let e = FileManager.default.enumerator(atPath: app.scratch.path) else { return out }
        while let rel = e.nextObject() as? String {
            let full = app.scratch.path + "/" + rel
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFREG: out[rel] = FileManager.default.contents(atPath: full) ?? Data()
            case S_IFLNK: out[rel + " -> "] = Data(((try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? "").utf8)
            default: break
            }
        }
        return out
    }

    /// Runs `args`: exit `code`, exactly one `patchkeeper: error:` line on stderr containing every
    /// `mentions`, no escape or control character in it, nothing on stdout, nothing written.
    @discardableResult
    func expectRefused(_ app: AppFixture, _ args: [String], code: Int32 = 2, mentions: [String], env: [String: String] = [:],
                       sourceLocation: SourceLocation = #_sourceLocation) -> ProcessResult {
        let before = everything(app)
        let r = pk(args, env: env)
        checkRefusal(r, code: code, mentions: mentions, sourceLocation: sourceLocation)
        #expect(everything(app) == before, "something was written", sourceLocation: sourceLocation)
        return r
    }

    func checkRefusal(_ r: ProcessResult, code: Int32 = 2, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == code, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("patchkeeper: error: "), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(!Self.hasControl(r.stderr.dropLast()), "control characters in: \(r.stderr)", sourceLocation: sourceLocation)
        for m in mentions { #expect(r.stderr.contains(m), "missing '\(m)' in: \(r.stderr)", sourceLocation: sourceLocation) }
        #expect(r.stdout.isEmpty, "stdout: \(r.stdout)", sourceLocation: sourceLocation)
    }

    /// ESC, C1 controls, BEL and other C0 controls except newline and tab.
    static func hasControl<S: StringProtocol>(_ s: S) -> Bool {
        s.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7f...0x9f).contains($0.value) }
    }

    /// A registry file around `diff`, as `record` would write it (Base: the fixture's v1).
    static func registryFile(_ diff: String, base: String, subject: String = "Evil", author: String = "Eve <eve@example.org>",
                             body: String = "r", trailers: String = "") -> String {
        """
        From \(base) Mon Sep 17 00:00:00 2001
        From: \(author)
        Date: Wed, 25 Nov 2026 12:00:00 +0000
        Subject: [PATCH] \(subject)

        \(body)

        Patch-Id: 0001
        Base: \(base)
        \(trailers)Status: active
        ---
        \(diff)
        """
    }

    // MARK: - Patch paths

    struct HostileDiff: Sendable, CustomStringConvertible {
        var name: String
        var diff: String
        var mentions: [String]
        var registryToo = true
        var description: String { name }
    }

    static let hostileDiffs: [HostileDiff] = [
        HostileDiff(name: "'..' in a created path", diff: """
            diff --git a/src/api/../../../outside.rb b/src/api/../../../outside.rb
            new file mode 100644
            --- /dev/null
            +++ b/src/api/../../../outside.rb
            @@ -0,0 +1 @@
            +pwned

            """, mentions: ["'..'"]),
        HostileDiff(name: "'..' in a rename target", diff: """
            diff --git a/src/api/config/clock.rb b/src/api/../../outside.rb
            similarity index 100%
            rename from src/api/config/clock.rb
            rename to src/api/../../outside.rb

            """, mentions: ["'..'"]),
        HostileDiff(name: "absolute path after the a/ b/ prefix", diff: """
            diff --git a/etc/passwd b/etc/passwd
            --- a//etc/passwd
            +++ b//etc/passwd
            @@ -1 +1 @@
            -root:x:0:0::/root:/bin/sh
            +toor:x:0:0::/root:/bin/sh

            """, mentions: ["'a//etc/passwd' is absolute at line 2"]),
        HostileDiff(name: "absolute path without a prefix", diff: """
            diff --git /etc/cron.d/pk /etc/cron.d/pk
            new file mode 100644
            --- /dev/null
            +++ /etc/cron.d/pk
            @@ -0,0 +1 @@
            +* * * * * root sh -c 'id > /tmp/owned'

            """, mentions: ["'/etc/cron.d/pk' is absolute"]),
        HostileDiff(name: "absolute rename target", diff: """
            diff --git a/src/api/config/clock.rb b/etc/clock.rb
            similarity index 100%
            rename from src/api/config/clock.rb
            rename to /etc/clock.rb

            """, mentions: ["'/etc/clock.rb' is absolute"]),
        HostileDiff(name: "newline in a quoted path", diff: """
            diff --git "a/src/api/a\\nb" "b/src/api/a\\nb"
            new file mode 100644
            --- /dev/null
            +++ "b/src/api/a\\nb"
            @@ -0,0 +1 @@
            +x

            """, mentions: ["'src/api/a\\x0ab'", "newline"]),
        HostileDiff(name: "NUL escape in a quoted path", diff: """
            diff --git "a/src/api/a\\000b" "b/src/api/a\\000b"
            new file mode 100644
            --- /dev/null
            +++ "b/src/api/a\\000b"
            @@ -0,0 +1 @@
            +x

            """, mentions: ["contains a NUL byte"]),
        HostileDiff(name: "quoted path that is not UTF-8", diff: """
            diff --git "a/src/api/caf\\303" "b/src/api/caf\\303"
            new file mode 100644
            --- /dev/null
            +++ "b/src/api/caf\\303"
            @@ -0,0 +1 @@
            +x

            """, mentions: ["is not UTF-8"]),
        HostileDiff(name: "NUL byte in a hunk line", diff: """
            diff --git a/src/api/new.txt b/src/api/new.txt
            new file mode 100644
            --- /dev/null
            +++ b/src/api/new.txt
            @@ -0,0 +1 @@
            +x\u{0}yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy

            """, mentions: ["NUL"]),
        HostileDiff(name: "a path inside the root's .git", diff: """
            diff --git a/src/api/.git/hooks/post-checkout b/src/api/.git/hooks/post-checkout
            new file mode 100755
            --- /dev/null
            +++ b/src/api/.git/hooks/post-checkout
            @@ -0,0 +1 @@
            +rm -rf /

            """, mentions: [".git"], registryToo: false),
    ]

    static let registryDiffs = hostileDiffs.filter(\.registryToo)

    @Test("apply refuses a patch with a hostile path", arguments: hostileDiffs)
    func applyHostilePath(_ h: HostileDiff) {
        let app = initialised()
        app.scratch.write("in.patch", h.diff)
        expectRefused(app, ["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags,
                      mentions: ["in.patch"] + h.mentions)
        #expect(!app.scratch.exists("outside.rb"))
    }

    @Test("a registry file with a hostile path is named with its line, and scan writes nothing", arguments: registryDiffs)
    func registryHostilePath(_ h: HostileDiff) {
        let app = initialised()
        app.scratch.write("registry/0001-evil.patch", Self.registryFile(h.diff, base: app.v1))
        expectRefused(app, ["scan"] + app.flags, mentions: ["0001-evil.patch:"] + h.mentions)
        expectRefused(app, ["list", "--registry", app.registry], mentions: ["0001-evil.patch:"])
    }

    @Test("apply refuses a patch file that is not UTF-8, and says what to do instead")
    func applyNotUTF8() throws {
        let app = initialised()
        let bytes = Array("diff --git a/src/api/caf\u{FF} b/src/api/caf\u{FF}\nnew file mode 100644\n--- /dev/null\n+++ b/src/api/caf\u{FF}\n@@ -0,0 +1 @@\n+x\n".utf8)
            .flatMap { $0 == 0xC3 ? [] : $0 == 0xBF ? [0xE9] : [$0] }  // Latin-1 é where ÿ was
        try Data(bytes).write(to: URL(fileURLWithPath: app.scratch.file("in.patch")))
        expectRefused(app, ["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags,
                      mentions: ["in.patch", "is not UTF-8 text", "patchkeeper record"])
    }

    // MARK: - libgit2 parser bugs: spaces (#6294), empty new files (#5713)

    enum Via: String, Sendable, CaseIterable { case apply, registry }

    @Test("a new file with spaces in its path, and a new empty file, round-trip as git does", arguments: ["my file.rb", "empty.txt"], Via.allCases)
    func libgit2ParserBugs(name: String, via: Via) throws {
        let app = initialised()
        // The patch as git writes it (`+++ b/src/api/my file.rb<TAB>` and a body-less empty file).
        let content = name == "empty.txt" ? "" : "x = 1\n"
        app.scratch.write("app/src/api/" + name, content)
        git(["add", "-N", "src/api/" + name], in: app.repo)
        let diff = git(["diff", "--full-index"], in: app.repo) + "\n"
        git(["reset", "-q"], in: app.repo)
        try FileManager.default.removeItem(atPath: app.scratch.file("app/src/api/" + name))
        #expect(diff.contains(name))
        app.scratch.write("in.patch", diff)
        #expect(run("/usr/bin/git", ["apply", "--check", app.scratch.file("in.patch")], cwd: app.repo).status == 0)
        switch via {
        case .apply:
            let r = pk(["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags)
            #expect(r.status == 0, "\(r.stderr)")
        case .registry:
            app.scratch.write("registry/0001-evil.patch", Self.registryFile(diff, base: app.v1))
            // Committed, as a registry file from a clone or a pull would be (an uncommitted one is
            // reported as a hand edit).
            git(["add", "0001-evil.patch"], in: app.registry)
            git(["-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "add"], in: app.registry)
            let before = pk(["scan"] + app.flags)
            #expect(before.status == 1 && before.stdout.contains("OVERWRITTEN"), "\(before.stdout)\(before.stderr)")
            app.scratch.write("live/" + name, content)
        }
        #expect(app.scratch.read("live/" + name) == content)
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 0, "\(scan.stdout)\(scan.stderr)")
        // git reads the registry file the same way.
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: app.registry).first { $0.hasSuffix(".patch") })
        #expect(run("/usr/bin/git", ["apply", "--check", app.registry + "/" + file], cwd: app.repo).status == 0)
    }

    // MARK: - Symlinks

    @Test("apply never writes through a symlink at a file the patch changes")
    func applyThroughFileSymlink() throws {
        let app = initialised()
        app.scratch.write("outside/workers.yml", "timeout: 30\nconcurrency: 4\n")
        try FileManager.default.removeItem(atPath: app.root + "/config/workers.yml")
        try FileManager.default.createSymbolicLink(atPath: app.root + "/config/workers.yml", withDestinationPath: app.scratch.file("outside/workers.yml"))
        app.scratch.write("in.patch", """
            diff --git a/src/api/config/workers.yml b/src/api/config/workers.yml
            --- a/src/api/config/workers.yml
            +++ b/src/api/config/workers.yml
            @@ -1,2 +1,2 @@
            -timeout: 30
            +timeout: 90
             concurrency: 4

            """)
        expectRefused(app, ["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags,
                      mentions: ["config/workers.yml", "symbolic link", "never writes through links"])
        #expect(app.scratch.read("outside/workers.yml") == "timeout: 30\nconcurrency: 4\n")
    }

    @Test("apply refuses paths through a symlinked directory", arguments: ["created", "modified"])
    func applyThroughDirectorySymlink(kind: String) throws {
        let app = initialised()
        app.scratch.write("outside/user.rb", "class User\n  def name\n    @name\n  end\nend\n")
        try FileManager.default.removeItem(atPath: app.root + "/app/models")
        try FileManager.default.createSymbolicLink(atPath: app.root + "/app/models", withDestinationPath: app.scratch.file("outside"))
        let diff = kind == "created" ? """
            diff --git a/src/api/app/models/evil.rb b/src/api/app/models/evil.rb
            new file mode 100644
            --- /dev/null
            +++ b/src/api/app/models/evil.rb
            @@ -0,0 +1 @@
            +pwned

            """ : """
            diff --git a/src/api/app/models/user.rb b/src/api/app/models/user.rb
            --- a/src/api/app/models/user.rb
            +++ b/src/api/app/models/user.rb
            @@ -1,3 +1,3 @@
             class User
               def name
            -    @name
            +    system("id")
            """ + "\n"
        app.scratch.write("in.patch", diff)
        expectRefused(app, ["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags,
                      mentions: ["app/models", "is a symbolic link"])
        #expect(!app.scratch.exists("outside/evil.rb"))
    }

    @Test("scan reports a file swapped for a symlink to outside the root as a type change, even with equal content")
    func scanSymlinkOut() throws {
        let app = initialised()
        app.scratch.write("outside/README", "The API.\n")
        try FileManager.default.removeItem(atPath: app.root + "/README")
        try FileManager.default.createSymbolicLink(atPath: app.root + "/README", withDestinationPath: app.scratch.file("outside/README"))
        // A symlinked directory: its target's files are not walked (a FIFO there would hang a reader).
        app.scratch.write("elsewhere/secret.rb", "x\n")
        #expect(mkfifo(app.scratch.file("elsewhere/fifo"), 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: app.root + "/linked", withDestinationPath: app.scratch.file("elsewhere"))
        let before = everything(app)
        let r = pk(["scan", "--format", "json"] + app.flags)
        #expect(r.status == 1)
        #expect(r.stdout.contains("\"change\" : \"type\"") && r.stdout.contains("\"path\" : \"src/api/README\""), "\(r.stdout)")
        #expect(r.stdout.contains("\"path\" : \"src/api/linked\""))
        #expect(!r.stdout.contains("secret.rb") && !r.stdout.contains("fifo"), "\(r.stdout)")
        #expect(everything(app).filter { !$0.key.hasPrefix("registry/.patchkeeper/") && $0.key != "registry.summary.json" } == before.filter { !$0.key.hasPrefix("registry/.patchkeeper/") && $0.key != "registry.summary.json" })
    }

    @Test("record keeps a symlink out of the root as a link: the patch holds its target, not the content behind it")
    func recordSymlinkOut() throws {
        let app = initialised()
        app.scratch.write("outside/secret", "TOP-SECRET\n")
        try FileManager.default.removeItem(atPath: app.root + "/README")
        try FileManager.default.createSymbolicLink(atPath: app.root + "/README", withDestinationPath: app.scratch.file("outside/secret"))
        let r = pk(["record", "README", "--title", "Link the README", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        let text = try #require(app.scratch.read("registry/0001-link-the-readme.patch"))
        #expect(text.contains("new mode 120000") || text.contains("new file mode 120000"), "\(text)")
        #expect(text.contains(app.scratch.file("outside/secret")))
        #expect(!text.contains("TOP-SECRET"))
    }

    @Test("motd refuses to write through a symlinked motd file")
    func motdSymlink() throws {
        let app = initialised()
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        app.scratch.write("outside/motd", "Welcome.\n")
        try FileManager.default.createSymbolicLink(atPath: app.scratch.file("motd"), withDestinationPath: app.scratch.file("outside/motd"))
        let before = everything(app)
        let r = pk(["motd", "--file", app.scratch.file("motd")] + app.flags)
        checkRefusal(r, mentions: ["motd", "symbolic link"])
        #expect(app.scratch.read("outside/motd") == "Welcome.\n")
        #expect(everything(app).filter { !$0.key.hasPrefix("registry/.patchkeeper/") && $0.key != "registry.summary.json" } == before.filter { !$0.key.hasPrefix("registry/.patchkeeper/") && $0.key != "registry.summary.json" })
    }

    // MARK: - Binary, CRLF and non-UTF-8 content

    @Test("binary, CRLF and Latin-1 files round-trip: record, git apply --check, apply after a deploy, scan", arguments: ["binary", "crlf", "latin1"])
    func contentRoundTrip(kind: String) throws {
        let app = AppFixture(deploy: false)
        let name = ["binary": "logo.png", "crlf": "win.txt", "latin1": "legacy.conf"][kind]!
        let deployed: [UInt8], edited: [UInt8]
        switch kind {
        case "binary":
            deployed = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0] + (0..<600).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            edited = Array(deployed.prefix(300)) + [0, 0, 0xFF] + Array(deployed.suffix(200))
        case "crlf":
            deployed = Array("a = 1\r\nb = 2\r\nc = 3\r\n".utf8)
            edited = Array("a = 1\r\nb = 20\r\nc = 3\r\nd = 4\r\n".utf8)
        default:
            deployed = Array("name = caf".utf8) + [0xE9] + Array("\nport = 80\n".utf8)
            edited = Array("name = caf".utf8) + [0xE9, 0xE9] + Array("\nport = 8080\n".utf8)
        }
        try Data(deployed).write(to: URL(fileURLWithPath: app.scratch.file("app/src/api/" + name)))
        app.commit([:], message: "add \(name)", tag: "v2")
        app.deploy("v2")
        #expect(pk(["init"] + app.flags).status == 0)
        try Data(edited).write(to: URL(fileURLWithPath: app.root + "/" + name))
        let rec = pk(["record", name, "--title", "Edit \(kind)", "--reason", "r"] + app.flags)
        #expect(rec.status == 0, "\(rec.stderr)")
        #expect(pk(["scan"] + app.flags).status == 0)
        let patch = app.registry + "/0001-edit-\(kind).patch"
        // git reads the registry file the same way (against the deployed revision)...
        #expect(run("/usr/bin/git", ["apply", "--check", patch], cwd: app.repo).status == 0)
        // ...and after a deploy wiped the edit, reapply brings back the exact bytes from the
        // registry's images (applying the registry file again as a new patch is refused).
        app.deploy("v2")
        #expect(pk(["scan"] + app.flags).stdout.contains("OVERWRITTEN"))
        let again = pk(["apply", patch, "--title", "again", "--reason", "r"] + app.flags)
        #expect(again.status == 2 && again.stderr.contains("reapply or retire 0001 first"), "\(again.stderr)")
        let gate = pk(["gate", "--target", "v2", "--format", "json"] + app.flags)
        #expect(gate.stdout.contains("\"verdict\" : \"reapplies\""), "\(gate.stdout)")
        let ap = pk(["reapply"] + app.flags)
        #expect(ap.status == 0, "\(ap.stdout)\(ap.stderr)")
        #expect(FileManager.default.contents(atPath: app.root + "/" + name) == Data(edited))
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 0, "\(scan.stdout)\(scan.stderr)")
    }

    // MARK: - Huge files

    /// Peak resident memory of one run, from /usr/bin/time -v.
    func peakRSS(_ args: [String]) -> (ProcessResult, kilobytes: Int) {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("pk-rss-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = run("/usr/bin/time", ["-v", "-o", out, patchkeeperBinary()] + args)
        let report = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let kb = report.firstMatch(of: /Maximum resident set size \(kbytes\): (\d+)/).flatMap { Int($0.1) } ?? -1
        return (r, kb)
    }

    func write100MB(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        for i in 0..<100 {
            for j in stride(from: 0, to: chunk.count, by: 4096) { chunk[j] = UInt8(truncatingIfNeeded: i &+ j) }
            _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
    }

    @Test("record refuses a 100 MB file with one line, quickly, writing nothing", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/time")))
    func recordHugeFile() throws {
        let app = initialised()
        try write100MB(app.root + "/big.bin")
        let before = everything(app)
        let (r, kb) = peakRSS(["record", "big.bin", "--title", "t", "--reason", "r"] + app.flags)
        checkRefusal(r, mentions: ["big.bin", "is 100 MiB", "up to 16 MiB", "deploy"])
        #expect(everything(app) == before)
        #expect(kb > 0 && kb < 100_000, "record peaked at \(kb) kB")
        let line = "record 100 MB file: exit \(r.status), peak RSS \(kb) kB\n"
        try? line.write(toFile: FileManager.default.temporaryDirectory.path + "/patchkeeper-hugefile-record.txt", atomically: true, encoding: .utf8)
    }

    @Test("scan hashes a 100 MB file in bounded memory", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/time")))
    func scanHugeFile() throws {
        let app = initialised()
        try write100MB(app.root + "/README")  // tracked: scan must hash it
        let (r, kb) = peakRSS(["scan", "--no-cache"] + app.flags)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.contains("modified  src/api/README"), "\(r.stdout)")
        #expect(kb > 0 && kb < 100_000, "scan peaked at \(kb) kB")
        let line = "scan 100 MB file: exit \(r.status), peak RSS \(kb) kB\n"
        try? line.write(toFile: FileManager.default.temporaryDirectory.path + "/patchkeeper-hugefile-scan.txt", atomically: true, encoding: .utf8)
    }

    // MARK: - Patches whose blob ids do not match their hunks

    @Test("apply takes a patch whose index line lies, as git apply does, and registers the real blob ids")
    func applyLyingIndex() throws {
        let app = initialised()
        app.scratch.write("in.patch", """
            diff --git a/src/api/config/workers.yml b/src/api/config/workers.yml
            index 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644
            --- a/src/api/config/workers.yml
            +++ b/src/api/config/workers.yml
            @@ -1,2 +1,2 @@
            -timeout: 30
            +timeout: 90
             concurrency: 4

            """)
        #expect(run("/usr/bin/git", ["apply", "--check", app.scratch.file("in.patch")], cwd: app.repo).status == 0)
        let r = pk(["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        let text = try #require(app.scratch.read("registry/0001-t.patch"))
        let live = git(["hash-object", app.root + "/config/workers.yml"], in: app.repo)
        let deployed = git(["rev-parse", "v1:src/api/config/workers.yml"], in: app.repo)
        #expect(text.contains("index \(deployed)..\(live) 100644"), "\(text)")
        #expect(!text.contains("1111111"))
        #expect(pk(["scan"] + app.flags).status == 0)
    }

    @Test("a registry file whose index line was edited: scan and gate name it instead of misreporting")
    func registryLyingIndex() throws {
        let app = initialised()
        app.scratch.write("live/config/clock.rb", "every 1.hour do\n  # RssCleanup.run\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        var text = try #require(app.scratch.read("registry/0001-t.patch"))
        let real = try #require(text.firstMatch(of: /index ([0-9a-f]{40})\.\.([0-9a-f]{40})/))
        text = text.replacingOccurrences(of: String(real.2), with: String(repeating: "1", count: 40))
        app.scratch.write("registry/0001-t.patch", text)
        git(["commit", "-qam", "hand edit"], in: app.registry)
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 1)
        // The file carries exactly what the hunks make: applied, plus a problem naming the file.
        #expect(scan.stdout.contains("0001   applied"), "\(scan.stdout)")
        #expect(scan.stdout.contains("0001-t.patch: the index line says the patch makes blob 1111111, but its hunks make \(real.2.prefix(7))"), "\(scan.stdout)")
        // Gate blocks on it, naming the file (in the conflict's detail when it has to rebuild the patch).
        let gate = pk(["gate", "--target", "v1"] + app.flags)
        #expect(gate.status == 1)
        #expect(gate.stdout.contains("0001-t.patch: the index line says the patch makes blob 1111111"), "\(gate.stdout)")
        let v2 = app.commit(["src/api/config/clock.rb": "every 2.hours do\n  RssCleanup.run\nend\n"], message: "v2")
        let moved = pk(["gate", "--target", v2] + app.flags)
        #expect(moved.status == 1)
        #expect(moved.stdout.contains("0001-t.patch says it makes blob 1111111 but its hunks make \(real.2.prefix(7))"), "\(moved.stdout)")
    }

    @Test("a scan notes by file blob id that a patch's hunks make its postimage; a hand edit afterwards is still caught by scan and gate")
    func hunksNotedThenEdited() throws {
        let app = initialised()
        app.scratch.write("live/config/clock.rb", "every 1.hour do\n  # RssCleanup.run\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        #expect(pk(["scan"] + app.flags).status == 0)
        let blob = git(["hash-object", app.registry + "/0001-t.patch"], in: app.repo)
        let noted = try #require(app.scratch.read("registry/.patchkeeper/validated"))
        #expect(noted.split(separator: "\n").contains("H " + blob[...]), "\(noted)")
        // The hunks are changed by hand, the index line kept: another file, another blob id.
        var text = try #require(app.scratch.read("registry/0001-t.patch"))
        text = text.replacingOccurrences(of: "+  # RssCleanup.run", with: "+  RssCleanup.run # by hand")
        app.scratch.write("registry/0001-t.patch", text)
        git(["commit", "-qam", "hand edit"], in: app.registry)
        let scan = pk(["scan"] + app.flags)
        #expect(scan.status == 1)
        #expect(scan.stdout.contains("0001-t.patch: the index line says the patch makes blob"), "\(scan.stdout)")
        let v2 = app.commit(["src/api/config/clock.rb": "every 2.hours do\n  RssCleanup.run\nend\n"], message: "v2")
        let gate = pk(["gate", "--target", v2] + app.flags)
        #expect(gate.status == 1)
        #expect(gate.stdout.contains("0001-t.patch says it makes blob"), "\(gate.stdout)")
        // The edited file's hunks do not make its index line's postimage: never noted.
        let edited = git(["hash-object", app.registry + "/0001-t.patch"], in: app.repo)
        #expect(!(try #require(app.scratch.read("registry/.patchkeeper/validated"))).contains("H " + edited))
    }

    // MARK: - Junk in the registry

    @Test("a registry file that is not a patch is named, and nothing is written", arguments: ["prose", "junk", "latin1", "empty", "directory"])
    func registryJunk(kind: String) throws {
        let app = initialised()
        let file = app.registry + "/0002-notes.patch"
        switch kind {
        case "prose": app.scratch.write("registry/0002-notes.patch", "Remember to restart puma after patching.\n")
        case "junk": try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }).write(to: URL(fileURLWithPath: file))
        case "latin1":
            let good = Self.registryFile("diff --git a/src/api/README b/src/api/README\n--- a/src/api/README\n+++ b/src/api/README\n@@ -1 +1 @@\n-The API.\n+The API!\n", base: app.v1, subject: "Caf~")
            try Data(Array(good.utf8).map { $0 == UInt8(ascii: "~") ? 0xE9 : $0 }).write(to: URL(fileURLWithPath: file))
        case "empty": app.scratch.write("registry/0002-notes.patch", "")
        default: try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: true)
        }
        let mentions = ["prose": [":1: not a patch file"], "junk": ["0002-notes.patch"], "latin1": ["0002-notes.patch:4: not UTF-8 text"],
                        "empty": ["0002-notes.patch:1:"], "directory": ["0002-notes.patch", "Is a directory"]][kind]!
        for cmd in [["list", "--registry", app.registry], ["scan"] + app.flags] {
            expectRefused(app, cmd, mentions: ["0002-notes.patch"] + mentions)
        }
    }

    @Test("a garbage journal is named with what to do; nothing is written")
    func garbageJournal() throws {
        let app = initialised()
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        try Data((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37) }).write(to: URL(fileURLWithPath: app.registry + "/.patchkeeper/journal.json"))
        expectRefused(app, ["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags,
                      mentions: ["journal.json is unreadable", "move it aside"])
    }

    @Test("a garbage stat cache is ignored and rebuilt")
    func garbageStatCache() throws {
        let app = initialised()
        #expect(pk(["scan"] + app.flags).status == 0)
        try Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 73) }).write(to: URL(fileURLWithPath: app.registry + "/.patchkeeper/statcache"))
        app.scratch.write("live/README", "Changed.\n")
        let r = pk(["scan"] + app.flags)
        #expect(r.status == 1 && r.stdout.contains("modified  src/api/README"), "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.isEmpty)
        #expect(pk(["scan"] + app.flags).stdout.contains("modified  src/api/README"))
    }

    @Test("a stat cache whose header is sound but whose rows are cut short is dropped: the scan hashes what it needs and finds the change")
    func cutStatCache() throws {
        let app = initialised()
        #expect(pk(["scan"] + app.flags).status == 0)
        let path = app.registry + "/.patchkeeper/statcache"
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(whole.count - 30).write(to: URL(fileURLWithPath: path))
        app.scratch.write("live/README", "Changed.\n")
        let r = pk(["scan"] + app.flags)
        #expect(r.status == 1 && r.stdout.contains("modified  src/api/README"), "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.isEmpty)
        #expect(pk(["scan"] + app.flags).stdout.contains("modified  src/api/README"))
    }

    // MARK: - Junk config and REVISION

    @Test("junk as the config file is named in one line", arguments: ["binary", "nul", "directory"])
    func junkConfig(kind: String) throws {
        let app = initialised()
        switch kind {
        case "binary": try Data((0..<2048).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 3) }).write(to: URL(fileURLWithPath: app.config))
        case "nul": app.scratch.write("config.toml", "[apps.obs-api]\nroot = \"/srv\u{0}/x\"\n")
        default: try FileManager.default.createDirectory(atPath: app.config, withIntermediateDirectories: true)
        }
        let mentions = ["binary": ["config.toml:1:", "invalid TOML"], "nul": ["config.toml:2:", "invalid TOML"],
                        "directory": ["cannot read config", "config.toml", "Is a directory"]][kind]!
        expectRefused(app, ["list", "--config", app.config], mentions: mentions)
        expectRefused(app, ["scan", "--config", app.config], mentions: mentions, env: [:])
    }

    @Test("a REVISION naming something that is not a commit is refused without echoing escapes",
          arguments: ["blob", "tree", "escapes", "ancestor-past-root"])
    func garbageRevision(kind: String) {
        let app = initialised()
        let content: String
        switch kind {
        case "blob": content = git(["rev-parse", "v1:src/api/README"], in: app.repo)
        case "tree": content = git(["rev-parse", "v1:src/api"], in: app.repo)
        case "escapes": content = "\u{1B}]0;owned\u{07}\u{1B}[2J\u{9B}31mv1"
        default: content = "v1~5"
        }
        app.scratch.write("live/REVISION", content + "\n")
        expectRefused(app, ["scan"] + app.flags, mentions: ["REVISION", "is not a commit", "--deployed"])
    }

    // MARK: - Repositories owned by another user (libgit2 GIT_EOWNER)

    @Test("an app repository owned by another user: one line naming --trust-repo, which then works", .enabled(if: isRoot))
    func foreignRepo() {
        let app = initialised()
        #expect(run("/bin/chown", ["-R", "nobody", app.repo]).status == 0)
        expectRefused(app, ["scan"] + app.flags, mentions: [app.repo, "owned by another user", "--trust-repo"])
        let r = pk(["scan", "--trust-repo"] + app.flags)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test("a registry owned by another user: one line naming --trust-repo, which then works for every command", .enabled(if: isRoot))
    func foreignRegistry() {
        let app = initialised()
        #expect(run("/bin/chown", ["-R", "nobody", app.registry]).status == 0)
        expectRefused(app, ["list", "--registry", app.registry], mentions: ["registry", app.registry, "owned by another user", "--trust-repo"])
        expectRefused(app, ["scan"] + app.flags, mentions: ["registry", "owned by another user", "--trust-repo"])
        #expect(pk(["list", "--trust-repo", "--registry", app.registry]).status == 0)
        #expect(pk(["scan", "--trust-repo"] + app.flags).status == 0)
    }

    @Test("ignore files in the state directory hide nothing, whoever owns it (libgit2's ignore handles read no file)", .enabled(if: isRoot))
    func emptyDirectoryRules() throws {
        let app = initialised()
        app.scratch.write("live/config/clock.rb", "changed by hand\n")
        app.scratch.write("live/backdoor.php", "<?php system($_GET['c']);\n")
        let clean = pk(["scan", "--format", "json"] + app.flags)
        #expect(clean.status == 1 && clean.stdout.contains("backdoor.php") && clean.stdout.contains("clock.rb"), "\(clean.stdout)\(clean.stderr)")
        // The registry's owner (not root) asks libgit2 to ignore everything.
        #expect(run("/bin/chown", ["-R", "nobody", app.registry]).status == 0)
        try? FileManager.default.createDirectory(atPath: app.registry + "/.patchkeeper/empty", withIntermediateDirectories: true)
        app.scratch.write("registry/.patchkeeper/empty/.gitignore", "*\n")
        app.scratch.write("registry/.patchkeeper/empty/.gitattributes", "* -text\n")
        #expect(run("/bin/chown", ["-R", "nobody", app.registry]).status == 0)
        for args in [["scan", "--format", "json", "--trust-repo"], ["gate", "--target", app.v1, "--trust-repo"]] {
            let r = pk(args + app.flags)
            #expect(r.status == 1 && r.stdout.contains("backdoor.php") && r.stdout.contains("clock.rb"), "\(args[0]): \(r.status) \(r.stdout)\(r.stderr)")
        }
        // Nor in one's own state directory: libgit2's ignore handles have no work tree at all.
        #expect(run("/bin/chown", ["-R", "root", app.registry]).status == 0)
        let own = pk(["scan", "--format", "json"] + app.flags)
        #expect(own.status == 1 && own.stdout.contains("backdoor.php") && own.stdout.contains("clock.rb"), "\(own.stdout)\(own.stderr)")
    }

    @Test("a scan believes and writes its caches only when the registry and its state directory are root's own", .enabled(if: isRoot))
    func scanCachesNeedOwnRegistry() throws {
        let app = initialised()
        #expect(pk(["scan"] + app.flags).status == 0)
        let listing = app.registry + "/.patchkeeper/deployed-listing"
        var bytes = try #require(app.scratch.readBytes("registry/.patchkeeper/deployed-listing"))
        // Drift, and a listing that says the deployed file was the drifted one all along.
        let old = git(["rev-parse", "\(app.v1):src/api/config/clock.rb"], in: app.repo)
        app.scratch.write("live/config/clock.rb", "changed by hand\n")
        let new = git(["hash-object", app.root + "/config/clock.rb"], in: app.repo)
        func raw(_ hex: String) -> Data {
            let digits = Array(hex.utf8).map { $0 <= 57 ? $0 - 48 : $0 - 87 }
            return Data(stride(from: 0, to: 40, by: 2).map { digits[$0] << 4 | digits[$0 + 1] })
        }
        let oldBytes = raw(old), newBytes = raw(new)
        let at = try #require(bytes.range(of: oldBytes))
        bytes.replaceSubrange(at, with: newBytes)
        try bytes.write(to: URL(fileURLWithPath: listing))
        unlink(app.registry + "/.patchkeeper/statcache")
        // The registry's root given to another user; .patchkeeper stays root's.
        #expect(run("/bin/chown", ["nobody", app.registry]).status == 0)
        let r = pk(["scan", "--format", "json", "--trust-repo"] + app.flags)
        #expect(r.status == 1 && r.stdout.contains("clock.rb"), "the forged listing was believed: \(r.status) \(r.stdout)\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: app.registry + "/.patchkeeper/statcache"), "a stat cache was written there")
    }

    static let canUnmountProc = isRoot && run("/usr/bin/unshare", ["-m", "sh", "-c", "umount -l /proc"]).status == 0

    @Test("without /proc (no arguments to read) a gate is trouble, not a pass", .enabled(if: canUnmountProc))
    func noProc() {
        let app = initialised()
        let script = "umount -l /proc; exec '\(patchkeeperBinary())' gate --target \(app.v1) " + app.flags.map { "'\($0)'" }.joined(separator: " ")
        let r = run("/usr/bin/unshare", ["-m", "sh", "-c", script])
        #expect(r.status == 2 && r.stderr.contains("cannot read its own arguments"), "\(r.status) \(r.stdout)\(r.stderr)")
    }

    // MARK: - Unreadable files and special files

    /// Runs patchkeeper as nobody (util-linux setpriv).
    func pkAsNobody(_ args: [String]) -> ProcessResult {
        run("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", patchkeeperBinary()] + args)
    }

    /// An app whose files belong to nobody, with one file (or directory) nobody may not read.
    func nobodysApp(unreadable: String) -> AppFixture {
        let app = initialised()
        #expect(run("/bin/chown", ["-R", "nobody:nogroup", app.repo, app.root, app.registry]).status == 0)
        chmod(app.root + "/" + unreadable, 0)
        return app
    }

    @Test("scan as an unprivileged user reports an unreadable file or directory as a problem", .enabled(if: isRoot && hasSetpriv),
          arguments: ["config/clock.rb", "app/models"])
    func scanUnreadable(path: String) {
        let app = nobodysApp(unreadable: path)
        let r = pkAsNobody(["scan"] + app.flags)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("problem   src/api/\(path): cannot"), "\(r.stdout)")
        #expect(r.stdout.contains("Permission denied"))
        // Only the warning that nobody may not replace root's public summary beside the registry.
        #expect(r.stderr.split(separator: "\n").allSatisfy { $0.contains("public summary") }, "\(r.stderr)")
        // What it could not read it does not call deleted.
        #expect(!r.stdout.contains("deleted   src/api/\(path)"), "\(r.stdout)")
    }

    @Test("record as an unprivileged user of an unreadable file: one line naming it", .enabled(if: isRoot && hasSetpriv))
    func recordUnreadable() {
        let app = nobodysApp(unreadable: "config/clock.rb")
        let before = everything(app)
        let r = pkAsNobody(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags)
        checkRefusal(r, mentions: ["config/clock.rb", "Permission denied"])
        #expect(everything(app) == before)
    }

    @Test("a FIFO or socket in the root is a scan problem: never read, never drift", arguments: ["tracked-fifo", "fifo", "socket"])
    func specialFiles(kind: String) throws {
        let app = initialised()
        let path: String
        switch kind {
        case "tracked-fifo":
            path = "README"
            try FileManager.default.removeItem(atPath: app.root + "/README")
            #expect(mkfifo(app.root + "/README", 0o644) == 0)
        case "fifo":
            path = "tmp.fifo"
            #expect(mkfifo(app.root + "/tmp.fifo", 0o644) == 0)
        default:
            path = "puma.sock"
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let p = app.root + "/puma.sock"
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in p.utf8CString.withUnsafeBytes { raw.copyMemory(from: $0) } }
            let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            #expect(bound == 0)
            close(fd)
        }
        let r = pk(["scan"] + app.flags)
        #expect(r.status == 1)
        #expect(r.stdout.contains("problem   src/api/\(path): not a regular file or symlink"), "\(r.stdout)")
        #expect(!r.stdout.contains("added     src/api/\(path)"))
        // diff and record --all do not trip over it.
        let d = pk(["diff"] + app.flags)
        #expect(d.status == 0, "\(d.stderr)")
        let all = pk(["record", "--all", "--title", "t", "--reason", "r"] + app.flags)
        #expect(all.status == 2 && all.stderr.contains("no unregistered changes"), "\(all.stderr)")
    }

    // MARK: - A full disk

    /// Mounts a small tmpfs at `dir` (root only); nil when the sandbox does not allow it.
    func mountTmpfs(_ dir: String, size: String = "2m") -> Bool {
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size),mode=755", "tmpfs", dir]).status == 0
    }

    /// Fills the filesystem of `dir` until `free` KiB are left.
    func fill(_ dir: String, leaving free: Int) {
        var fs = statvfs()
        statvfs(dir, &fs)
        let avail = Int(fs.f_bavail) * Int(fs.f_frsize) / 1024
        run("/bin/dd", ["if=/dev/zero", "of=\(dir)/.filler", "bs=1k", "count=\(max(0, avail - free))"])
    }

    @Test("record on a full registry disk fails with one line at every step, leaving no file, and recovery commits nothing",
          .enabled(if: isRoot))
    func fullRegistryDisk() throws {
        let app = AppFixture()
        guard mountTmpfs(app.registry) else { return }
        defer { run("/bin/umount", ["-l", app.registry]) }
        #expect(pk(["init"] + app.flags).status == 0)
        // Big enough that the journal, the patch file and the commit each need their own pages.
        app.scratch.write("live/config/clock.rb", (0..<400).map { "line \($0) \(String(repeating: "x", count: $0 % 50))" }.joined(separator: "\n") + "\n")
        let registryBefore = snapshot(app.registry)
        let headBefore = git(["rev-parse", "HEAD"], in: app.registry)
        var failures: [String: Int] = [:]
        var free = 0
        while free <= 256 {
            fill(app.registry + "/.patchkeeper", leaving: free)
            let r = pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags)
            try? FileManager.default.removeItem(atPath: app.registry + "/.patchkeeper/.filler")
            if r.status == 0 { break }
            checkRefusal(r, mentions: ["No space left on device"].filter { _ in !r.stderr.contains("libgit2 error") } + [app.registry])
            let what = r.stderr.contains("journal.json") ? "journal" : r.stderr.contains("cannot commit") ? "commit"
                : r.stderr.contains(".patch") ? "patch file" : "other: " + r.stderr
            failures[what, default: 0] += 1
            // Nothing left behind: no patch file, no journal, the registry repository clean and sound.
            #expect(snapshot(app.registry) == registryBefore, "free \(free) KiB: registry changed")
            #expect(git(["status", "--porcelain"], in: app.registry) == "", "free \(free) KiB")
            #expect(git(["rev-parse", "HEAD"], in: app.registry) == headBefore)
            #expect(run("/usr/bin/git", ["fsck", "--no-progress"], cwd: app.registry).status == 0)
            // ...and the next writer's recovery does not turn the failed record into a commit.
            let next = pk(["retire", "1", "--reason", "x"] + app.flags)
            #expect(next.status == 2 && next.stderr.contains("no patch '1'"), "free \(free) KiB: \(next.stderr)")
            #expect(git(["rev-parse", "HEAD"], in: app.registry) == headBefore, "free \(free) KiB: recovery committed")
            free += 4
        }
        #expect(failures.count >= 3, "failure points: \(failures)")
        #expect(pk(["list"] + app.flags).stdout.contains("0001"), "record never succeeded")
        let line = "full registry disk: \(failures.values.reduce(0, +)) failing runs at \(failures.count) steps: \(failures.keys.sorted().joined(separator: " | "))\n"
        try? line.write(toFile: FileManager.default.temporaryDirectory.path + "/patchkeeper-enospc.txt", atomically: true, encoding: .utf8)
    }

    @Test("apply on a full root disk fails with one line and leaves every live file as it was", .enabled(if: isRoot))
    func fullRootDisk() throws {
        let app = AppFixture(deploy: false)
        guard mountTmpfs(app.root) else { return }
        defer { run("/bin/umount", ["-l", app.root]) }
        let r0 = run("/bin/sh", ["-c", "git -C '\(app.repo)' archive v1:src/api | tar -x -C '\(app.root)'"])
        #expect(r0.status == 0)
        app.scratch.write("live/REVISION", app.v1 + "\n")
        #expect(pk(["init"] + app.flags).status == 0)
        let big = String(repeating: "# padding\n", count: 3000)
        app.scratch.write("in.patch", """
            diff --git a/src/api/README b/src/api/README
            --- a/src/api/README
            +++ b/src/api/README
            @@ -1 +1,2 @@
             The API.
            +Patched.
            diff --git a/src/api/config/workers.yml b/src/api/config/workers.yml
            --- a/src/api/config/workers.yml
            +++ b/src/api/config/workers.yml
            @@ -1,2 +1,3002 @@
            -timeout: 30
            +timeout: 90
             concurrency: 4
            \(big.split(separator: "\n").map { "+" + $0 }.joined(separator: "\n"))

            """)
        fill(app.root, leaving: 12)
        defer { try? FileManager.default.removeItem(atPath: app.root + "/.filler") }
        let liveBefore = snapshot(app.root)
        let registryBefore = snapshot(app.registry)
        let r = pk(["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags)
        checkRefusal(r, mentions: ["No space left on device", app.root])
        #expect(snapshot(app.root) == liveBefore)
        #expect(snapshot(app.registry) == registryBefore)
        #expect(git(["status", "--porcelain"], in: app.registry) == "")
    }

    // MARK: - Escape sequences and newlines aimed at a terminal

    static let evil = "\u{1B}]0;owned\u{07}\u{1B}[2J\u{1B}[31mRed\u{9B}1mAlert\u{1B}]8;;http://evil\u{1B}\\link\u{1B}]8;;\u{1B}\\"

    /// A hand-written registry file (record would have cleaned it) with escapes in every text field,
    /// committed with an escape-laden message and author.
    func hostileRegistry() -> AppFixture {
        let app = initialised()
        app.scratch.write("live/README", "The API!\n")
        let diff = "diff --git a/src/api/README b/src/api/README\n--- a/src/api/README\n+++ b/src/api/README\n@@ -1 +1 @@\n-The API.\n+The API!\n"
        app.scratch.write("registry/0001-evil.patch", Self.registryFile(
            diff, base: app.v1, subject: "Title \(Self.evil) end", author: "Mal\(Self.evil)lory <m@example.org>",
            body: "Reason \(Self.evil)\nsecond line\r\u{1B}[1Aoverwrite", trailers: "Ticket: \(Self.evil)\nExpires: 2020-01-01\n"))
        git(["add", "-A"], in: app.registry)
        run("/usr/bin/git", ["-c", "user.name=Mal\(Self.evil)", "-c", "user.email=m@x", "commit", "-qm", "record 0001: \(Self.evil)"], cwd: app.registry)
        return app
    }

    @Test("escape sequences in titles, authors, reasons and tickets never reach the output",
          arguments: ["list", "show", "log", "scan", "gate", "motd"])
    func escapesInOutput(command: String) throws {
        let app = hostileRegistry()
        var args: [String]
        switch command {
        case "list": args = ["list", "--all", "--registry", app.registry]
        case "show": args = ["show", "1", "--registry", app.registry]
        case "log": args = ["log", "--registry", app.registry]
        case "gate": args = ["gate", "--target", "v1"] + app.flags
        case "motd": args = ["motd", "--file", app.scratch.file("motd")] + app.flags
        default: args = [command] + app.flags
        }
        let r = pk(args)
        #expect(r.status == 0 || r.status == 1, "\(r.stderr)")
        #expect(!r.stdout.isEmpty)
        #expect(!Self.hasControl(r.stdout), "control characters on stdout: \(r.stdout.debugDescription)")
        #expect(!Self.hasControl(r.stderr), "\(r.stderr.debugDescription)")
        #expect(!r.stdout.contains("owned") && !r.stdout.contains("http://evil"), "\(r.stdout)")
        if command == "motd" {
            let motd = try #require(app.scratch.read("motd"))
            #expect(!Self.hasControl(motd), "\(motd.debugDescription)")
            #expect(motd.contains("MONKEY PATCHES"))
            #expect(motd.split(separator: "\n").allSatisfy { $0.count <= 80 })
        }
        if ["list", "show", "scan", "gate"].contains(command) {
            // The title stays one line: no newline from the file splits it.
            #expect(r.stdout.split(separator: "\n").contains { $0.contains("Title") && $0.contains("RedAlertlink") }, "\(r.stdout)")
        }
    }

    @Test("record cleans escapes and newlines out of what it writes into the registry")
    func recordCleansMetadata() throws {
        let app = initialised()
        app.scratch.write("live/README", "The API!\n")
        let r = pk(["record", "README", "--title", "Title \(Self.evil)\nsecond", "--reason", "Why \(Self.evil)\n---\nmore",
                    "--ticket", "T\(Self.evil)\nX-Injected: yes", "--author", "Mal\(Self.evil) <m@example.org>"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!Self.hasControl(r.stdout), "\(r.stdout.debugDescription)")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: app.registry).first { $0.hasSuffix(".patch") })
        let text = try #require(app.scratch.read("registry/" + name))
        #expect(!Self.hasControl(text), "\(text.debugDescription)")
        #expect(!text.contains("\nX-Injected:"), "a newline in --ticket injected a trailer")
        #expect(!text.contains("owned"))
        #expect(pk(["scan"] + app.flags).status == 0)
    }

    @Test("escapes and newlines in arguments never split or colour the error line", arguments: ["record", "show", "apply", "config"])
    func escapesInErrors(command: String) {
        let app = initialised()
        let bad = "x\(Self.evil)\nforged: line"
        let args: [String]
        switch command {
        case "record": args = ["record", "config/" + bad, "--title", "t", "--reason", "r"] + app.flags
        case "show": args = ["show", bad, "--registry", app.registry]
        case "apply": args = ["apply", app.scratch.file(bad), "--title", "t", "--reason", "r"] + app.flags
        default: args = ["list", "--config", app.scratch.file(bad)]
        }
        expectRefused(app, args, mentions: ["forged: line"])
    }
}
