import Foundation
import Testing
import TestSupport

/// Regression tests for the "a deploy never silently loses a hot patch" bug list: each case runs the
/// built binary on a fixture repository and cross-checks the verdict with the git CLI in a throw-away
/// clone (never in the fixture's app repository: `git apply --3way` writes blobs where it runs).
@Suite("gate and reapply never lose a patch")
struct GateTrustTests {
    // MARK: fixture content

    /// A settings file with `n` numbered lines, so tests can edit line k without touching its neighbours' context.
    static func settings(_ n: Int = 20) -> String {
        "Settings.configure do\n" + (1...n).map { "  config.value\($0) = \($0)\n" }.joined() + "end\n"
    }

    /// `text` with numbered line `k` set to `value`.
    static func edit(_ text: String, _ k: Int, _ value: String) -> String {
        let lines = text.components(separatedBy: "\n")
        guard let i = lines.firstIndex(where: { $0.hasPrefix("  config.value\(k) = ") }) else { preconditionFailure("no value\(k)") }
        var out = lines
        out[i] = "  config.value\(k) = \(value)"
        return out.joined(separator: "\n")
    }

    static let settingsPath = "src/api/config/settings.rb"

    /// An app whose `base` revision adds `files` (repo paths) to the default fixture, deployed, registry initialised.
    func makeApp(_ files: [String: String] = [:], bytes: [String: Data] = [:], tag: String = "base") -> AppFixture {
        let app = AppFixture(deploy: false)
        for (p, d) in bytes { app.scratch.writeBytes("app/" + p, d) }
        if files.isEmpty && bytes.isEmpty { git(["tag", tag], in: app.repo) } else { app.commit(files, message: "base", tag: tag) }
        app.deploy(tag)
        let r = pk(["init"] + app.flags)
        #expect(r.status == 0, "init: \(r.stderr)")
        return app
    }

    /// Commits raw bytes (binary, CRLF, latin-1) to the app repository.
    @discardableResult
    func commitBytes(_ app: AppFixture, _ files: [String: Data], message: String, tag: String) -> String {
        for (p, d) in files { app.scratch.writeBytes("app/" + p, d) }
        git(["add", "-A"], in: app.repo)
        git(["commit", "-qm", message], in: app.repo)
        git(["tag", tag], in: app.repo)
        return git(["rev-parse", "HEAD"], in: app.repo)
    }

    // MARK: running the product

    /// The JSON object a command printed; an issue (and an empty object, so later checks still run) when there is none.
    func json(_ r: ProcessResult, _ what: String) throws -> [String: Any] {
        if let j = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] { return j }
        Issue.record("\(what) printed no JSON object (exit \(r.status)): \(r.stdout)\(r.stderr)")
        return [:]
    }

    func gate(_ app: AppFixture, _ target: String, policy: String = "reapply") throws -> (ProcessResult, [String: Any]) {
        let r = pk(["gate", "--target", target, "--policy", policy, "--format", "json"] + app.flags)
        #expect(r.status != 2, "gate trouble: \(r.stderr)")
        return (r, try json(r, "gate"))
    }

    func reapply(_ app: AppFixture) throws -> (ProcessResult, [String: Any]) {
        let r = pk(["reapply", "--format", "json"] + app.flags)
        return (r, try json(r, "reapply"))
    }

    func scan(_ app: AppFixture) throws -> (ProcessResult, [String: Any]) {
        let r = pk(["scan", "--no-cache", "--format", "json"] + app.flags)
        #expect(r.status != 2, "scan trouble: \(r.stderr)")
        return (r, try json(r, "scan"))
    }

    func patches(_ j: [String: Any]) -> [[String: Any]] { (j["patches"] as? [[String: Any]]) ?? [] }

    /// id → gate result.
    func results(_ j: [String: Any]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: patches(j).map { ($0["id"] as? String ?? "?", $0["verdict"] as? String ?? "?") })
    }

    /// id → reapply action.
    func actions(_ j: [String: Any]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: patches(j).map { ($0["id"] as? String ?? "?", $0["action"] as? String ?? "?") })
    }

    func files(_ j: [String: Any], _ id: String) -> [[String: Any]] {
        (patches(j).first { $0["id"] as? String == id }?["files"] as? [[String: Any]]) ?? []
    }

    @discardableResult
    func record(_ app: AppFixture, _ paths: [String], _ title: String, expect status: Int32 = 0) -> ProcessResult {
        let r = pk(["record"] + paths + ["--title", title, "--reason", "hot fix"] + app.flags)
        #expect(r.status == status, "record \(paths) exited \(r.status): \(r.stdout)\(r.stderr)")
        return r
    }

    /// The registry file of patch `id` (absolute path).
    func patchFile(_ app: AppFixture, _ id: String) throws -> String {
        let name = try #require(app.patchFiles().first { $0.hasPrefix(id + "-") }, "no registry file for \(id): \(app.patchFiles())")
        return app.registry + "/" + name
    }

    func registryCommits(_ app: AppFixture) -> String { git(["rev-list", "--count", "HEAD"], in: app.registry) }

    /// The registry's files, without the lock/journal/cache state directory.
    func registrySnapshot(_ app: AppFixture) -> [String: Data] {
        snapshot(app.registry).filter { !$0.key.hasPrefix(".patchkeeper/") }
    }

    /// The `+`/`-` lines of a patch's hunks (mail header, diffstat and file headers excluded).
    static func changedLines(_ patch: String) -> (plus: [String], minus: [String]) {
        var plus: [String] = [], minus: [String] = []
        // Split on the byte: in a Swift String "\r\n" is one Character, so a CRLF file's lines
        // would not split on "\n".
        var inDiff = false
        for line in patch.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map({ String(String.UnicodeScalarView($0)) }) {
            if line.hasPrefix("diff --git ") { inDiff = true }
            if !inDiff { continue }
            if line.hasPrefix("+++ ") || line.hasPrefix("--- ") { continue }
            if line.hasPrefix("+") { plus.append(line) } else if line.hasPrefix("-") { minus.append(line) }
        }
        return (plus, minus)
    }

    // MARK: git reference

    /// git CLI that may fail (a reference answer, not a fixture step).
    func gitTry(_ args: [String], in dir: String) -> ProcessResult {
        run("/usr/bin/git", ["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"] + args, cwd: dir,
            env: ["GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"])
    }

    /// `git apply --3way` of each patch file in order in a fresh clone at `rev` (with `blobs` stored so
    /// every pre/post image is available): the exit status of each, and the clone.
    func gitThreeWay(_ app: AppFixture, at rev: String, _ patchPaths: [String], blobs: [Data] = []) -> (statuses: [Int32], clone: String, errors: String) {
        let dir = app.clone(at: rev, blobs: blobs)
        var statuses: [Int32] = [], errors = ""
        for p in patchPaths {
            let r = gitTry(["apply", "--3way", p], in: dir)
            statuses.append(r.status)
            errors += r.stderr
        }
        return (statuses, dir, errors)
    }

    func bytes(_ path: String) -> Data? {
        if let dest = try? FileManager.default.destinationOfSymbolicLink(atPath: path) { return Data(dest.utf8) }
        return FileManager.default.contents(atPath: path)
    }

    // MARK: 1

    @Test("1. two patches stacked on one file both reapply after a deploy, as git's 3-way apply of both does; chmod +x of a file an earlier patch created is not 'removed'")
    func stackedPatchesSurviveADeploy() throws {
        let body = Self.settings()
        let app = makeApp([Self.settingsPath: body])
        let live1 = Self.edit(body, 3, "300")
        app.scratch.write("live/config/settings.rb", live1)
        record(app, ["config/settings.rb"], "Raise value3")
        let live2 = Self.edit(live1, 15, "1500")
        app.scratch.write("live/config/settings.rb", live2)
        record(app, ["config/settings.rb"], "Raise value15")
        #expect(app.patchFiles().count == 2)
        app.commit([Self.settingsPath: Self.edit(body, 10, "1000")], message: "v2", tag: "v2")

        let (g, gj) = try gate(app, "v2")
        #expect(results(gj) == ["0001": "reapplies", "0002": "reapplies"], "\(g.stdout)")
        #expect(g.status == 0)

        // git: both patches apply with --3way, one after the other, on the target.
        let ref = gitThreeWay(app, at: "v2", [try patchFile(app, "0001"), try patchFile(app, "0002")], blobs: [Data(body.utf8), Data(live1.utf8), Data(live2.utf8)])
        #expect(ref.statuses == [0, 0], "\(ref.errors)")
        let expected = try #require(bytes(ref.clone + "/" + Self.settingsPath))
        #expect(String(decoding: expected, as: UTF8.self) == Self.edit(Self.edit(Self.edit(body, 10, "1000"), 3, "300"), 15, "1500"))

        app.deploy("v2")
        let (r, rj) = try reapply(app)
        #expect(actions(rj) == ["0001": "reapplied", "0002": "reapplied"], "\(r.stdout)\(r.stderr)")
        #expect(r.status == 0)
        #expect(app.scratch.readBytes("live/config/settings.rb") == expected)
        let s = pk(["scan", "--no-cache"] + app.flags)
        #expect(s.status == 0, "scan after reapply: \(s.stdout)")

        // chmod +x of a file that patch 0001 created.
        let app2 = makeApp()
        let tool = "#!/bin/sh\necho tool\n"
        app2.scratch.write("live/bin/tool", tool)
        record(app2, ["bin/tool"], "Add tool")
        chmod(app2.scratch.file("live/bin/tool"), 0o755)
        record(app2, ["bin/tool"], "Make tool executable")
        #expect(app2.patchFiles().count == 2)
        app2.commit(["src/api/README": "The API, v2.\n"], message: "v2", tag: "v2")
        let (g2, gj2) = try gate(app2, "v2")
        #expect(results(gj2) == ["0001": "reapplies", "0002": "reapplies"], "\(g2.stdout)")
        #expect(g2.status == 0)
        let ref2 = gitThreeWay(app2, at: "v2", [try patchFile(app2, "0001"), try patchFile(app2, "0002")], blobs: [Data(tool.utf8)])
        #expect(ref2.statuses == [0, 0], "\(ref2.errors)")
        #expect(FileManager.default.isExecutableFile(atPath: ref2.clone + "/src/api/bin/tool"))
        app2.deploy("v2")
        let (r2, rj2) = try reapply(app2)
        #expect(actions(rj2) == ["0001": "reapplied", "0002": "reapplied"], "\(r2.stdout)\(r2.stderr)")
        #expect(r2.status == 0)
        #expect(app2.scratch.read("live/bin/tool") == tool)
        #expect(app2.scratch.isExecutable("live/bin/tool"))
        #expect(pk(["scan", "--no-cache"] + app2.flags).status == 0)
    }

    // MARK: 2

    static let logo = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52] + (0..<48).map { UInt8(($0 * 37) & 0xFF) })
    static let newLogo = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52] + (0..<48).map { UInt8(($0 * 91 + 7) & 0xFF) })
    /// "café\nnaïve\nend\n" in ISO-8859-1 (not valid UTF-8).
    static let latin1 = Data([0x63, 0x61, 0x66, 0xE9, 0x0A, 0x6E, 0x61, 0xEF, 0x76, 0x65, 0x0A, 0x65, 0x6E, 0x64, 0x0A])
    /// Line 2 edited: "NAÏVE".
    static let latin1Edited = Data([0x63, 0x61, 0x66, 0xE9, 0x0A, 0x4E, 0x41, 0xCF, 0x56, 0x45, 0x0A, 0x65, 0x6E, 0x64, 0x0A])

    @Test("2. a binary patch and a non-UTF-8 text patch reapply when the target did not touch the files, byte for byte")
    func binaryAndLatin1PatchesReapply() throws {
        let app = makeApp(bytes: ["src/api/public/logo.png": Self.logo, "src/api/config/locale.txt": Self.latin1])
        app.scratch.writeBytes("live/public/logo.png", Self.newLogo)
        record(app, ["public/logo.png"], "New logo")
        app.scratch.writeBytes("live/config/locale.txt", Self.latin1Edited)
        record(app, ["config/locale.txt"], "Shout naive")
        app.commit(["src/api/README": "The API, v2.\n"], message: "v2", tag: "v2")
        // git: the target did not touch either file.
        #expect(gitTry(["diff", "--quiet", "base", "v2", "--", "src/api/public/logo.png", "src/api/config/locale.txt"], in: app.repo).status == 0)

        let (g, gj) = try gate(app, "v2")
        #expect(results(gj) == ["0001": "reapplies", "0002": "reapplies"], "\(g.stdout)")
        #expect(g.status == 0)

        let ref = gitThreeWay(app, at: "v2", [try patchFile(app, "0001"), try patchFile(app, "0002")],
                              blobs: [Self.logo, Self.newLogo, Self.latin1, Self.latin1Edited])
        #expect(ref.statuses == [0, 0], "\(ref.errors)")
        #expect(bytes(ref.clone + "/src/api/public/logo.png") == Self.newLogo)
        #expect(bytes(ref.clone + "/src/api/config/locale.txt") == Self.latin1Edited)

        app.deploy("v2")
        let (r, rj) = try reapply(app)
        #expect(actions(rj) == ["0001": "reapplied", "0002": "reapplied"], "\(r.stdout)\(r.stderr)")
        #expect(r.status == 0)
        #expect(app.scratch.readBytes("live/public/logo.png") == Self.newLogo)
        #expect(app.scratch.readBytes("live/config/locale.txt") == Self.latin1Edited)
        #expect(pk(["scan", "--no-cache"] + app.flags).status == 0)
    }

    // MARK: 3

    @Test("3. with eol=crlf attributes a one-line edit of a CRLF file is a one-line patch, and reapply restores the CRLF bytes git would check out")
    func crlfAttributesGiveOneLinePatches() throws {
        let hosts = "alpha\nbeta\ngamma\ndelta\nepsilon\n"
        let ini = "[main]\nname = api\nport = 80\nworkers = 2\n"
        let app = makeApp(["src/api/.gitattributes": "*.txt eol=crlf\n*.ini text eol=crlf\n",
                           "src/api/config/hosts.txt": hosts, "src/api/config/app.ini": ini])
        let crlf = { (s: String) in Data(s.replacingOccurrences(of: "\n", with: "\r\n").utf8) }
        // The deploy (git archive) checked them out with CRLF.
        #expect(app.scratch.readBytes("live/config/hosts.txt") == crlf(hosts))
        #expect(app.scratch.readBytes("live/config/app.ini") == crlf(ini))

        let hostsEdited = crlf(hosts.replacingOccurrences(of: "beta\n", with: "BETA\n"))
        let iniEdited = crlf(ini.replacingOccurrences(of: "port = 80\n", with: "port = 8080\n"))
        app.scratch.writeBytes("live/config/hosts.txt", hostsEdited)
        record(app, ["config/hosts.txt"], "Rename beta")
        app.scratch.writeBytes("live/config/app.ini", iniEdited)
        record(app, ["config/app.ini"], "Move port")
        for id in ["0001", "0002"] {
            let text = try String(contentsOfFile: try patchFile(app, id), encoding: .utf8)
            let (plus, minus) = Self.changedLines(text)
            #expect(plus.count == 1 && minus.count == 1, "patch \(id) is not a one-line change:\n\(text)")
        }
        app.commit(["src/api/README": "The API, v2.\n"], message: "v2", tag: "v2")

        let (g, gj) = try gate(app, "v2")
        #expect(results(gj) == ["0001": "reapplies", "0002": "reapplies"], "\(g.stdout)")

        // git: a clone checks the files out with CRLF; the registered patches apply to it with the edits.
        let ref = gitThreeWay(app, at: "v2", [try patchFile(app, "0001"), try patchFile(app, "0002")])
        #expect(ref.statuses == [0, 0], "\(ref.errors)")
        #expect(bytes(ref.clone + "/src/api/config/hosts.txt") == hostsEdited)
        #expect(bytes(ref.clone + "/src/api/config/app.ini") == iniEdited)

        app.deploy("v2")
        let (r, rj) = try reapply(app)
        #expect(actions(rj) == ["0001": "reapplied", "0002": "reapplied"], "\(r.stdout)\(r.stderr)")
        #expect(r.status == 0)
        #expect(app.scratch.readBytes("live/config/hosts.txt") == hostsEdited)
        #expect(app.scratch.readBytes("live/config/app.ini") == iniEdited)
        #expect(pk(["scan", "--no-cache"] + app.flags).status == 0)
    }

    // MARK: 4

    @Test("4. a type change (symlink to file, file to symlink) scans as applied right after record, and gate against the deployed revision says reapplies")
    func typeChangesReapply() throws {
        let app = AppFixture(deploy: false)
        app.scratch.write("app/src/api/config/database.yml", "production:\n  pool: 5\n")
        try FileManager.default.createSymbolicLink(atPath: app.scratch.file("app/src/api/config/db.yml"), withDestinationPath: "database.yml")
        app.commit([:], message: "base", tag: "base")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        #expect(app.scratch.isSymlink("live/config/db.yml"))

        // symlink -> regular file
        try FileManager.default.removeItem(atPath: app.scratch.file("live/config/db.yml"))
        app.scratch.write("live/config/db.yml", "production:\n  pool: 50\n")
        record(app, ["config/db.yml"], "Own db file")
        let (s1, sj1) = try scan(app)
        #expect(s1.status == 0, "scan right after recording a symlink->file change: \(s1.stdout)")
        #expect(patches(sj1).first?["state"] as? String == "applied")
        // regular file -> symlink
        try FileManager.default.removeItem(atPath: app.scratch.file("live/config/workers.yml"))
        try FileManager.default.createSymbolicLink(atPath: app.scratch.file("live/config/workers.yml"), withDestinationPath: "database.yml")
        record(app, ["config/workers.yml"], "Link workers")
        let (s2, _) = try scan(app)
        #expect(s2.status == 0, "scan right after recording a file->symlink change: \(s2.stdout)")

        for target in ["base", git(["rev-parse", "base"], in: app.repo)] {
            let (g, gj) = try gate(app, target)
            #expect(results(gj) == ["0001": "reapplies", "0002": "reapplies"], "gate --target \(target): \(g.stdout)")
            #expect(g.status == 0)
        }
        // git: both patches apply to a checkout of the deployed revision.
        let ref = gitThreeWay(app, at: "base", [try patchFile(app, "0001"), try patchFile(app, "0002")])
        #expect(ref.statuses == [0, 0], "\(ref.errors)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: ref.clone + "/src/api/config/db.yml")) == nil)
        #expect(bytes(ref.clone + "/src/api/config/db.yml") == Data("production:\n  pool: 50\n".utf8))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: ref.clone + "/src/api/config/workers.yml")) == "database.yml")

        // Deploying the same revision again wipes both; reapply puts them back.
        app.deploy("base")
        let (r, rj) = try reapply(app)
        #expect(actions(rj) == ["0001": "reapplied", "0002": "reapplied"], "\(r.stdout)\(r.stderr)")
        #expect(!app.scratch.isSymlink("live/config/db.yml") && app.scratch.read("live/config/db.yml") == "production:\n  pool: 50\n")
        #expect(app.scratch.isSymlink("live/config/workers.yml"))
    }

    // MARK: 5

    @Test("5. a patch creating a file where the target has a directory conflicts, and reapply reports it (exit 1) and still reapplies the next patch")
    func fileWhereTargetHasADirectory() throws {
        let app = makeApp()
        app.scratch.write("live/config/extra", "EXTRA = 1\n")
        record(app, ["config/extra"], "Add extra")
        app.scratch.write("live/README", "The API, patched.\n")
        record(app, ["README"], "Patch readme")
        app.commit(["src/api/config/extra/settings.yml": "a: 1\n"], message: "v2", tag: "v2")

        let (g, gj) = try gate(app, "v2")
        #expect(results(gj) == ["0001": "conflicts", "0002": "reapplies"], "\(g.stdout)")
        #expect(g.status == 1)

        // git: the first does not apply to the target, the second does.
        let ref = gitThreeWay(app, at: "v2", [try patchFile(app, "0001")])
        #expect(ref.statuses != [0])
        let ref2 = gitThreeWay(app, at: "v2", [try patchFile(app, "0002")])
        #expect(ref2.statuses == [0], "\(ref2.errors)")

        app.deploy("v2")
        let (r, rj) = try reapply(app)
        #expect(actions(rj) == ["0001": "conflicts", "0002": "reapplied"], "\(r.stdout)\(r.stderr)")
        #expect(r.status == 1, "reapply exit \(r.status): \(r.stderr)")
        #expect(app.scratch.isDirectory("live/config/extra"))
        #expect(app.scratch.read("live/config/extra/settings.yml") == "a: 1\n")
        #expect(app.scratch.read("live/README") == "The API, patched.\n")
    }

    // MARK: 6

    static let pool = "pool do\n  name = \"db\"\n  size = 5\n  timeout = 30\n  retries = 3\n  backoff = 2\nend\n"
    static let pools = "# pools\n" + pool + "\n" + pool + "# end\n"
    /// `pools` with block `n` (0 or 1) at timeout 60.
    static func pools(raising blocks: Set<Int>) -> String {
        let b = (0..<2).map { blocks.contains($0) ? pool.replacingOccurrences(of: "timeout = 30", with: "timeout = 60") : pool }
        return "# pools\n" + b[0] + "\n" + b[1] + "# end\n"
    }

    @Test("6. not upstreamed by look-alike content: the other block got the same edit, a file emptied, a final newline added")
    func noFalseUpstreamedByContent() throws {
        let app = makeApp(["src/api/config/pools.rb": Self.pools, "src/api/config/motd.txt": "Welcome\n", "src/api/VERSION": "1.2.3"])
        app.scratch.write("live/config/pools.rb", Self.pools(raising: [0]))
        record(app, ["config/pools.rb"], "Raise first pool timeout")
        app.scratch.write("live/config/motd.txt", "")
        record(app, ["config/motd.txt"], "Empty motd")
        app.scratch.write("live/VERSION", "1.2.3\n")
        record(app, ["VERSION"], "Final newline")
        app.commit(["src/api/config/pools.rb": Self.pools(raising: [1])], message: "v2: raise the second pool", tag: "v2")

        let (g, gj) = try gate(app, "v2")
        #expect(results(gj) == ["0001": "reapplies", "0002": "reapplies", "0003": "reapplies"], "\(g.stdout)")
        #expect(g.status == 0)

        // git: the look-alike fools a reverse check, but none of the three is in v2: --3way applies each and changes the file.
        let p1 = try patchFile(app, "0001"), p2 = try patchFile(app, "0002"), p3 = try patchFile(app, "0003")
        let probe = app.clone(at: "v2")
        #expect(gitTry(["apply", "-R", "--check", p1], in: probe).status == 0, "the trap: a reverse check of 0001 succeeds on v2")
        #expect(gitTry(["apply", "-R", "--check", p2], in: probe).status != 0)
        #expect(gitTry(["apply", "-R", "--check", p3], in: probe).status != 0)
        let ref = gitThreeWay(app, at: "v2", [p1, p2, p3])
        #expect(ref.statuses == [0, 0, 0], "\(ref.errors)")
        #expect(bytes(ref.clone + "/src/api/config/pools.rb") == Data(Self.pools(raising: [0, 1]).utf8))
        #expect(bytes(ref.clone + "/src/api/config/motd.txt") == Data())
        #expect(bytes(ref.clone + "/src/api/VERSION") == Data("1.2.3\n".utf8))

        app.deploy("v2")
        let (r, rj) = try reapply(app)
        #expect(actions(rj) == ["0001": "reapplied", "0002": "reapplied", "0003": "reapplied"], "\(r.stdout)\(r.stderr)")
        #expect(r.status == 0)
        #expect(app.scratch.read("live/config/pools.rb") == Self.pools(raising: [0, 1]))
        #expect(app.scratch.exists("live/config/motd.txt") && app.scratch.readBytes("live/config/motd.txt") == Data())
        #expect(app.scratch.read("live/VERSION") == "1.2.3\n")
    }

    // MARK: 7

    @Test("7. not upstreamed by history: a fix commit that was reverted later, or merged with -s ours, still reapplies")
    func noFalseUpstreamedByHistory() throws {
        // (a) A pull request's commit is applied with --commit; another patch matches a main commit by patch-id.
        //     Both commits reach the target, and both are reverted there.
        let app = makeApp()
        git(["checkout", "-q", "-b", "pr-7"], in: app.repo)
        let fix = app.commit(["src/api/config/workers.yml": "timeout: 90\nconcurrency: 4\n"], message: "Raise the worker timeout\n\nWorkers time out under load.")
        git(["checkout", "-q", "main"], in: app.repo)
        let a = pk(["apply", "--commit", fix] + app.flags)
        #expect(a.status == 0, "\(a.stderr)")
        let disabled = AppFixture.clock.replacingOccurrences(of: "  RssCleanup.run", with: "  # RssCleanup.run")
        app.scratch.write("live/config/clock.rb", disabled)
        record(app, ["config/clock.rb"], "Disable the RSS cleanup")
        let same = app.commit(["src/api/config/clock.rb": disabled], message: "Disable the RSS cleanup upstream")
        git(["merge", "-q", "--no-ff", "-m", "Merge pull request #7", "pr-7"], in: app.repo)
        let merge = git(["rev-parse", "HEAD"], in: app.repo)
        git(["revert", "--no-edit", same], in: app.repo)
        git(["revert", "--no-edit", "-m", "1", merge], in: app.repo)
        git(["tag", "v2"], in: app.repo)

        let (g, gj) = try gate(app, "v2")
        #expect(results(gj) == ["0001": "reapplies", "0002": "reapplies"], "\(g.stdout)")
        #expect(g.status == 0)

        // git cherry calls the change present upstream (same patch-id) ... (in a clone: the fixture's
        // repository must not gain objects the product could use)
        let cherry = app.clone(at: "base")
        git(["checkout", "-q", "-b", "hot"], in: cherry)
        git(["cherry-pick", "-x", same], in: cherry)  // -x: another commit (fixed dates would make the same one)
        #expect(git(["cherry", git(["rev-parse", "v2"], in: app.repo), "hot"], in: cherry).hasPrefix("- "))
        #expect(gitTry(["merge-base", "--is-ancestor", fix, "v2"], in: app.repo).status == 0)
        // ... but both registered patches apply to the target and change it.
        let ref = gitThreeWay(app, at: "v2", [try patchFile(app, "0001"), try patchFile(app, "0002")])
        #expect(ref.statuses == [0, 0], "\(ref.errors)")
        #expect(gitTry(["diff", "--quiet", "HEAD"], in: ref.clone).status == 1)

        app.deploy("v2")
        let (r, rj) = try reapply(app)
        #expect(actions(rj) == ["0001": "reapplied", "0002": "reapplied"], "\(r.stdout)\(r.stderr)")
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 90\nconcurrency: 4\n")
        #expect(app.scratch.read("live/config/clock.rb") == disabled)

        // (b) The fix's branch is merged with `-s ours`: in the history, not in the tree.
        let app2 = makeApp()
        git(["checkout", "-q", "-b", "fix"], in: app2.repo)
        let fix2 = app2.commit(["src/api/config/workers.yml": "timeout: 90\nconcurrency: 4\n"], message: "Raise the worker timeout\n\nWorkers time out under load.")
        git(["checkout", "-q", "main"], in: app2.repo)
        let a2 = pk(["apply", "--commit", fix2] + app2.flags)
        #expect(a2.status == 0, "\(a2.stderr)")
        app2.commit(["src/api/README": "v2\n"], message: "v2")
        git(["merge", "-q", "-s", "ours", "--no-edit", "fix"], in: app2.repo)
        git(["tag", "v2"], in: app2.repo)
        let (g2, gj2) = try gate(app2, "v2")
        #expect(results(gj2) == ["0001": "reapplies"], "\(g2.stdout)")
        #expect(g2.status == 0)
        #expect(gitTry(["merge-base", "--is-ancestor", fix2, "v2"], in: app2.repo).status == 0)
        #expect(git(["cherry", "v2", "fix"], in: app2.repo).isEmpty)  // nothing of fix is missing from v2's history
        let ref2 = gitThreeWay(app2, at: "v2", [try patchFile(app2, "0001")])
        #expect(ref2.statuses == [0], "\(ref2.errors)")
        #expect(bytes(ref2.clone + "/src/api/config/workers.yml") == Data("timeout: 90\nconcurrency: 4\n".utf8))
        app2.deploy("v2")
        let (r2, rj2) = try reapply(app2)
        #expect(actions(rj2) == ["0001": "reapplied"], "\(r2.stdout)\(r2.stderr)")
        #expect(app2.scratch.read("live/config/workers.yml") == "timeout: 90\nconcurrency: 4\n")
    }

    // MARK: 8

    @Test("8. an unregistered edit on top of a patched file is MODIFIED and unregistered in scan, lost in gate, and blocks another apply")
    func unregisteredEditOnAPatchedFile() throws {
        let body = Self.settings()
        let app = makeApp([Self.settingsPath: body])
        let patched = Self.edit(body, 3, "300")
        app.scratch.write("live/config/settings.rb", patched)
        record(app, ["config/settings.rb"], "Raise value3")
        let onTop = Self.edit(patched, 15, "1500")
        app.scratch.write("live/config/settings.rb", onTop)
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")

        // git: the registered patch alone does not explain the live file.
        let ref = gitThreeWay(app, at: "base", [try patchFile(app, "0001")])
        #expect(ref.statuses == [0])
        #expect(bytes(ref.clone + "/" + Self.settingsPath) != Data(onTop.utf8))

        let (s, sj) = try scan(app)
        #expect(s.status == 1)
        #expect(patches(sj).first?["state"] as? String == "modified", "\(s.stdout)")
        let unregistered = ((sj["unregistered"] as? [[String: Any]]) ?? []).compactMap { $0["path"] as? String }
        #expect(unregistered == [Self.settingsPath], "\(s.stdout)")

        let (g, gj) = try gate(app, "v2")
        let lost = ((gj["lost"] as? [[String: Any]]) ?? []).compactMap { $0["path"] as? String }
        #expect(lost == [Self.settingsPath], "\(g.stdout)")
        #expect(g.status == 1)

        // Another patch, made with git diff in a clone, on a third line.
        let c = app.clone(at: "base")
        try Self.edit(body, 10, "1000").write(toFile: c + "/" + Self.settingsPath, atomically: false, encoding: .utf8)
        let third = app.scratch.file("third.patch")
        try git(["diff", "--full-index"], in: c).appending("\n").write(toFile: third, atomically: false, encoding: .utf8)
        let liveBefore = snapshot(app.root), regBefore = registrySnapshot(app)
        let a = pk(["apply", third, "--title", "Raise value10", "--reason", "r"] + app.flags)
        #expect(a.status == 2, "apply onto an unregistered edit: \(a.stdout)\(a.stderr)")
        #expect(a.stderr.contains("record the unregistered change first"), "\(a.stderr)")
        #expect(snapshot(app.root) == liveBefore)
        #expect(registrySnapshot(app) == regBefore)
    }

    // MARK: 9

    @Test("9. reapply's rebase keeps each patch's own change: the rebased 0001 holds no 0002 lines, and retiring 0002 really drops it")
    func rebaseDoesNotAbsorbOtherPatches() throws {
        let body = Self.settings()
        let app = makeApp([Self.settingsPath: body])
        let live1 = Self.edit(body, 3, "300")
        app.scratch.write("live/config/settings.rb", live1)
        record(app, ["config/settings.rb"], "Raise value3")
        app.scratch.write("live/config/settings.rb", Self.edit(live1, 15, "1500"))
        record(app, ["config/settings.rb"], "Raise value15")
        let v2body = Self.edit(body, 9, "900")
        app.commit([Self.settingsPath: v2body], message: "v2", tag: "v2")
        app.deploy("v2")
        let (r, rj) = try reapply(app)
        #expect(actions(rj) == ["0001": "reapplied", "0002": "reapplied"], "\(r.stdout)\(r.stderr)")

        let p1 = try patchFile(app, "0001"), p2 = try patchFile(app, "0002")
        let (plus1, minus1) = Self.changedLines(try String(contentsOfFile: p1, encoding: .utf8))
        #expect(plus1 == ["+  config.value3 = 300"] && minus1 == ["-  config.value3 = 3"], "rebased 0001: +\(plus1) -\(minus1)")
        let (plus2, minus2) = Self.changedLines(try String(contentsOfFile: p2, encoding: .utf8))
        #expect(plus2 == ["+  config.value15 = 1500"] && minus2 == ["-  config.value15 = 15"], "rebased 0002: +\(plus2) -\(minus2)")
        // git: the rebased 0001 applies to v2 alone and gives v2 plus 0001's line only.
        let ref = gitThreeWay(app, at: "v2", [p1])
        #expect(ref.statuses == [0], "\(ref.errors)")
        #expect(bytes(ref.clone + "/" + Self.settingsPath) == Data(Self.edit(v2body, 3, "300").utf8))

        let retire = pk(["retire", "0002", "--reason", "x"] + app.flags)
        #expect(retire.status == 0, "\(retire.stderr)")
        app.deploy("v2")
        let (r2, rj2) = try reapply(app)
        #expect(actions(rj2) == ["0001": "reapplied"], "\(r2.stdout)\(r2.stderr)")
        #expect(app.scratch.read("live/config/settings.rb") == Self.edit(v2body, 3, "300"))

        // The same when the deploy left the patched file alone (rsync-style: the revision did not
        // change it), so the live file still carries both patches and reapply only rebases them.
        let app2 = makeApp([Self.settingsPath: body])
        app2.scratch.write("live/config/settings.rb", live1)
        record(app2, ["config/settings.rb"], "Raise value3")
        app2.scratch.write("live/config/settings.rb", Self.edit(live1, 15, "1500"))
        record(app2, ["config/settings.rb"], "Raise value15")
        app2.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        app2.scratch.write("live/README", "v2\n")
        app2.writeRevision("v2")
        let (r3, rj3) = try reapply(app2)
        #expect(actions(rj3) == ["0001": "rebased", "0002": "rebased"], "\(r3.stdout)\(r3.stderr)")
        let q1 = try patchFile(app2, "0001")
        let (plus3, minus3) = Self.changedLines(try String(contentsOfFile: q1, encoding: .utf8))
        #expect(plus3 == ["+  config.value3 = 300"] && minus3 == ["-  config.value3 = 3"], "rebased 0001 (live carried both): +\(plus3) -\(minus3)")
        let ref3 = gitThreeWay(app2, at: "v2", [q1])
        #expect(ref3.statuses == [0], "\(ref3.errors)")
        #expect(bytes(ref3.clone + "/" + Self.settingsPath) == Data(Self.edit(body, 3, "300").utf8))
        #expect(pk(["retire", "0002", "--reason", "x"] + app2.flags).status == 0)
        app2.deploy("v2")
        let (r4, rj4) = try reapply(app2)
        #expect(actions(rj4) == ["0001": "reapplied"], "\(r4.stdout)\(r4.stderr)")
        #expect(app2.scratch.read("live/config/settings.rb") == Self.edit(body, 3, "300"), "retired 0002 came back through 0001")
    }

    // MARK: 10

    @Test("10. reapply refuses a patch when REVISION names the new revision but the files are still the old one plus the patch")
    func reapplyDoesNotTrustRevisionBlindly() throws {
        let body = Self.settings()
        let app = makeApp([Self.settingsPath: body])
        let patched = Self.edit(body, 3, "300")
        app.scratch.write("live/config/settings.rb", patched)
        record(app, ["config/settings.rb"], "Raise value3")
        app.commit([Self.settingsPath: Self.edit(body, 15, "1500")], message: "v2", tag: "v2")
        app.writeRevision("v2")  // half-finished deploy: REVISION updated, files not

        // git: the live file is neither v2 nor v2 with the patch.
        let ref = gitThreeWay(app, at: "v2", [try patchFile(app, "0001")])
        #expect(ref.statuses == [0])
        #expect(bytes(ref.clone + "/" + Self.settingsPath) != Data(patched.utf8))
        #expect(git(["show", "v2:" + Self.settingsPath], in: app.repo) + "\n" != patched)

        let liveBefore = snapshot(app.root), regBefore = registrySnapshot(app), commits = registryCommits(app)
        let (r, rj) = try reapply(app)
        #expect(actions(rj) == ["0001": "refused"], "\(r.stdout)\(r.stderr)")
        #expect(r.status == 2)
        #expect(snapshot(app.root) == liveBefore)
        #expect(registrySnapshot(app) == regBefore)
        #expect(registryCommits(app) == commits)
    }

    // MARK: 11

    @Test("11. record refuses to stack on a patch the live file no longer carries (overwritten), and commits nothing")
    func recordAfterOverwriteRefuses() throws {
        let body = Self.settings()
        let app = makeApp([Self.settingsPath: body])
        app.scratch.write("live/config/settings.rb", Self.edit(body, 3, "300"))
        record(app, ["config/settings.rb"], "Raise value3")
        app.deploy("base")  // the same revision again: the hot edit is wiped
        let s = pk(["scan", "--no-cache"] + app.flags)
        #expect(s.status == 1 && s.stdout.contains("OVERWRITTEN"), "\(s.stdout)")
        let edited = Self.edit(body, 15, "1500")
        app.scratch.write("live/config/settings.rb", edited)

        // git: 0001 is missing from the live file (it applies forward, not in reverse).
        let c = app.clone(at: "base")
        try edited.write(toFile: c + "/" + Self.settingsPath, atomically: false, encoding: .utf8)
        #expect(gitTry(["apply", "--check", try patchFile(app, "0001")], in: c).status == 0)
        #expect(gitTry(["apply", "-R", "--check", try patchFile(app, "0001")], in: c).status != 0)

        let commits = registryCommits(app), regBefore = registrySnapshot(app)
        let r = record(app, ["config/settings.rb"], "Raise value15", expect: 2)
        #expect(r.stderr.contains("reapply") && r.stderr.contains("retire"), "\(r.stderr)")
        #expect(!app.patchFiles().contains { $0.hasPrefix("0002-") }, "\(app.patchFiles())")
        #expect(registryCommits(app) == commits)
        #expect(registrySnapshot(app) == regBefore)
    }

    // MARK: 12

    @Test("12. apply of a second, different patch to a file that carries one applies and registers it as 0002")
    func applySecondPatchToPatchedFile() throws {
        let body = Self.settings()
        let app = makeApp([Self.settingsPath: body])
        let patched = Self.edit(body, 3, "300")
        app.scratch.write("live/config/settings.rb", patched)
        record(app, ["config/settings.rb"], "Raise value3")

        let c = app.clone(at: "base")
        try Self.edit(body, 15, "1500").write(toFile: c + "/" + Self.settingsPath, atomically: false, encoding: .utf8)
        let second = app.scratch.file("second.patch")
        try (git(["diff", "--full-index"], in: c) + "\n").write(toFile: second, atomically: false, encoding: .utf8)
        // git: the patch applies to the live content.
        git(["checkout", "-q", "--", Self.settingsPath], in: c)
        try patched.write(toFile: c + "/" + Self.settingsPath, atomically: false, encoding: .utf8)
        #expect(gitTry(["apply", "--check", second], in: c).status == 0)

        let a = pk(["apply", second, "--title", "Raise value15", "--reason", "r"] + app.flags)
        #expect(a.status == 0, "\(a.stdout)\(a.stderr)")
        #expect(!a.stdout.contains("already applied"), "\(a.stdout)")
        #expect(app.patchFiles().contains { $0.hasPrefix("0002-") }, "\(app.patchFiles())")
        #expect(app.scratch.read("live/config/settings.rb") == Self.edit(patched, 15, "1500"))
        #expect(pk(["scan", "--no-cache"] + app.flags).status == 0)
    }

    @Test("12b. apply of a change on cafe\u{301}.rb is not 'already applied' by a patch on caf\u{E9}.rb (paths are bytes)")
    func applyAlreadyAppliedComparesBytes() throws {
        let body = Self.settings()
        let nfc = "config/caf\u{E9}.rb", nfd = "config/cafe\u{301}.rb"
        // (Two dictionaries: as String keys the two paths are one.)
        let app = makeApp(["src/api/" + nfc: body], bytes: ["src/api/" + nfd: Data(body.utf8)])
        #expect(git(["ls-files"], in: app.repo).components(separatedBy: "\n").filter { $0.contains("caf") }.count == 2)
        let patched = Self.edit(body, 3, "300")
        app.scratch.write("live/" + nfc, patched)
        record(app, [nfc], "Raise value3")
        // The same change to the other file, as a patch, with the live file already carrying it.
        let c = app.clone(at: "base")
        try patched.write(toFile: c + "/src/api/" + nfd, atomically: false, encoding: .utf8)
        let second = app.scratch.file("nfd.patch")
        try (git(["-c", "core.quotepath=false", "diff", "--full-index"], in: c) + "\n").write(toFile: second, atomically: false, encoding: .utf8)
        #expect(try String(contentsOfFile: second, encoding: .utf8).contains("e\u{301}"))
        app.scratch.write("live/" + nfd, patched)
        let a = pk(["apply", second, "--title", "Raise value3 there too", "--reason", "r"] + app.flags)
        #expect(!a.stdout.contains("already applied"), "\(a.stdout)\(a.stderr)")
    }

    // MARK: 13

    @Test("13. a file deleted while a third of it moved elsewhere is removed (git sees D + A) with a hint; a real 90% rename reapplies-renamed")
    func renamesNoMoreEagerThanGit() throws {
        let billing = "class Billing\n" + (1...30).map { "  def step\($0); :billing_\($0); end\n" }.joined() + "end\n"
        let app = makeApp(["src/api/app/services/billing.rb": billing])
        app.scratch.write("live/app/services/billing.rb", billing.replacingOccurrences(of: ":billing_5;", with: ":billing_five;"))
        record(app, ["app/services/billing.rb"], "Rename step5")
        let invoicing = "class Invoicing\n" + (1...10).map { "  def step\($0); :billing_\($0); end\n" }.joined()
            + (1...20).map { "  def invoice\($0); :invoice_\($0); end\n" }.joined() + "end\n"
        app.commit(["src/api/app/services/billing.rb": nil, "src/api/app/services/invoicing.rb": invoicing], message: "v2: invoicing", tag: "v2")
        let status = git(["diff", "-M", "--name-status", "base", "v2"], in: app.repo)
        #expect(status.contains("D\tsrc/api/app/services/billing.rb") && status.contains("A\tsrc/api/app/services/invoicing.rb"), "\(status)")

        let (g, gj) = try gate(app, "v2")
        #expect(results(gj) == ["0001": "removed"], "\(g.stdout)")
        #expect(g.status == 1)
        let detail = files(gj, "0001").first?["detail"] as? String ?? ""
        #expect(detail.range(of: #"most similar new file: (src/api/)?app/services/invoicing\.rb \([0-9]{1,3}%\)"#, options: .regularExpression) != nil,
                "detail: \(detail)")

        // A real rename, about 90% similar, edited elsewhere.
        let body = (1...30).map { "  config.line\($0) = \($0)\n" }.joined()
        let app2 = makeApp(["src/api/config/settings.rb": "Settings.configure do\n" + body + "end\n"])
        let patched = "Settings.configure do\n" + body.replacingOccurrences(of: "line5 = 5\n", with: "line5 = 500\n") + "end\n"
        app2.scratch.write("live/config/settings.rb", patched)
        record(app2, ["config/settings.rb"], "Raise line5")
        let moved = "Settings.configure do\n" + body.replacingOccurrences(of: "line29 = 29\n", with: "line29 = 2900\n")
            .replacingOccurrences(of: "line30 = 30\n", with: "line30 = 3000\n") + "end\n"
        app2.commit(["src/api/config/settings.rb": nil, "src/api/config/app_settings.rb": moved], message: "rename", tag: "v2")
        let status2 = git(["diff", "-M", "--name-status", "base", "v2"], in: app2.repo)
        #expect(status2.contains("src/api/config/settings.rb\tsrc/api/config/app_settings.rb") && status2.hasPrefix("R"), "\(status2)")
        let (g2, gj2) = try gate(app2, "v2")
        #expect(results(gj2) == ["0001": "reapplies-renamed"], "\(g2.stdout)")
        #expect(files(gj2, "0001").first?["new_path"] as? String == "src/api/config/app_settings.rb")
        // git merge-file of the patch onto the renamed file is the reference.
        let dir = app2.scratch.file("mf")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try moved.write(toFile: dir + "/ours", atomically: false, encoding: .utf8)
        try ("Settings.configure do\n" + body + "end\n").write(toFile: dir + "/base", atomically: false, encoding: .utf8)
        try patched.write(toFile: dir + "/theirs", atomically: false, encoding: .utf8)
        let merged = gitTry(["merge-file", "-p", "ours", "base", "theirs"], in: dir)
        #expect(merged.status == 0)
        app2.deploy("v2")
        let (r2, rj2) = try reapply(app2)
        #expect(actions(rj2) == ["0001": "reapplied"], "\(r2.stdout)\(r2.stderr)")
        #expect(app2.scratch.read("live/config/app_settings.rb") == merged.stdout)
        #expect(!app2.scratch.exists("live/config/settings.rb"))
    }

    // MARK: 14

    @Test("14. no upstreamed when a fix taken upstream was undone after a rename, in part, or reworded; still upstreamed when upstream only reworked it")
    func noFalseUpstreamedAfterPartialRevert() throws {
        let long = (1...30).map { "line \($0)\n" }.joined()
        func fixed(_ text: String, _ pairs: [(String, String)]) -> String {
            var lines = text.components(separatedBy: "\n")
            for (from, to) in pairs { if let i = lines.firstIndex(of: from) { lines[i] = to } }
            return lines.joined(separator: "\n")
        }
        let path = "src/api/config/long.txt"
        // Each case: the upstream history after the fix commit, and the verdict gate must give.
        struct Case { var name: String; var after: (AppFixture, String) -> Void; var want: String }
        let cases: [Case] = [
            Case(name: "renamed, then the fix reverted", after: { app, fix in
                git(["mv", path, "src/api/config/long2.txt"], in: app.repo)
                git(["commit", "-qm", "rename"], in: app.repo)
                app.commit(["src/api/config/long2.txt": fixed(fix, [("line 15 FIXED", "line 15"), ("line 16", "line 16 changed"), ("line 14", "line 14 changed")])],
                           message: "revert the fix and touch its neighbours")
            }, want: "conflicts"),
            Case(name: "half of a two-line fix reverted", after: { app, fix in
                app.commit([path: fixed(fix, [("line 15 FIXED", "line 15"), ("line 16", "line 16 changed")])], message: "partial revert")
            }, want: "conflicts"),
            Case(name: "reverted with a comment", after: { app, fix in
                app.commit([path: fixed(fix, [("line 5 FIXED", "line 5 # back to default"), ("line 15 FIXED", "line 15 # back to default"), ("line 16", "line 16 changed")])],
                           message: "back to defaults")
            }, want: "conflicts"),
            Case(name: "the fix reworked upstream (control)", after: { app, fix in
                app.commit([path: fixed(fix, [("line 5 FIXED", "line 5 FIXED twice"), ("line 15 FIXED", "line 15 FIXED twice"), ("line 16", "line 16 changed")])],
                           message: "rework the fix")
            }, want: "upstreamed"),
        ]
        for c in cases {
            let app = makeApp(["src/api/config/long.txt": long])
            let fix = fixed(long, [("line 5", "line 5 FIXED"), ("line 15", "line 15 FIXED")])
            app.scratch.write("live/config/long.txt", fix)
            record(app, ["config/long.txt"], "Fix lines 5 and 15")
            app.commit([path: fix], message: "the same fix upstream")
            c.after(app, fix)
            git(["tag", "v2"], in: app.repo)
            let (g, gj) = try gate(app, "v2", policy: "strict")
            #expect(results(gj) == ["0001": c.want], "\(c.name): \(g.stdout)")
            if c.want == "conflicts" {
                #expect(g.status == 1, "\(c.name): a conflict blocks")
                app.deploy("v2")
                let (r, rj) = try reapply(app)
                #expect(actions(rj)["0001"] == "conflicts", "\(c.name): \(r.stdout)\(r.stderr)")
                #expect(pk(["list", "--format", "json"] + app.flags).stdout.contains("\"active\""), "\(c.name): the patch stays active")
            }
        }
    }
}
