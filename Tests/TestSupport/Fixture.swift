import Foundation

/// A scratch directory for one test, removed when the fixture goes away.
public final class Scratch: @unchecked Sendable {
    public let path: String

    public convenience init() { self.init(under: nil) }

    /// A scratch directory under `base` (e.g. a tmpfs such as /dev/shm), or the temporary directory.
    public init(under base: String?) {
        let base = base ?? FileManager.default.temporaryDirectory.path
        let dir = base + "/pk-test-" + UUID().uuidString.prefix(8).lowercased()
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        path = (try? FileManager.default.destinationOfSymbolicLink(atPath: dir)) ?? dir
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ rel: String) -> String { path + "/" + rel }

    public func write(_ rel: String, _ text: String) {
        let full = file(rel)
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! text.write(toFile: full, atomically: false, encoding: .utf8)
    }

    public func read(_ rel: String) -> String? { try? String(contentsOfFile: file(rel), encoding: .utf8) }

    public func exists(_ rel: String) -> Bool {
        var st = stat()
        return lstat(file(rel), &st) == 0
    }
}

/// The result of running a process.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program with an environment cut off from the user's git config.
@discardableResult
public func run(_ executable: String, _ args: [String], cwd: String? = nil, env extra: [String: String] = [:]) -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    var env = ProcessInfo.processInfo.environment
    // Run from a git hook or `git rebase -x`, the environment names the developer's repository
    // (GIT_DIR, GIT_INDEX_FILE, ...): the fixtures' `git init`, `commit` and `tag` then went there.
    for key in env.keys where key.hasPrefix("GIT_") { env.removeValue(forKey: key) }
    env["GIT_CONFIG_GLOBAL"] = "/dev/null"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["HOME"] = "/nonexistent"
    env["NO_COLOR"] = "1"
    env.removeValue(forKey: "PATCHKEEPER_CONFIG")
    for (k, v) in extra { env[k] = v }
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try! p.run()
    // Read both pipes concurrently so a chatty process cannot block.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    group.enter()
    DispatchQueue.global().async { outData = readAll(out.fileHandleForReading.fileDescriptor); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData = readAll(err.fileHandleForReading.fileDescriptor); group.leave() }
    p.waitUntilExit()
    group.wait()
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// Reads a pipe to its end, retrying on EINTR (Foundation's reader traps on it).
func readAll(_ fd: Int32) -> Data {
    var data = Data()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 { data.append(contentsOf: buf[0..<n]); continue }
        if n < 0 && errno == EINTR { continue }
        return data
    }
}

/// Runs the git CLI (the reference tool in tests) and fails loudly if it fails.
@discardableResult
public func git(_ args: [String], in dir: String) -> String {
    // Fixed dates: the same fixture gives the same commit ids in every test.
    let r = run("/usr/bin/git", ["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "init.defaultBranch=main",
                                 "-c", "commit.gpgsign=false"] + args, cwd: dir,
                env: ["GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"])
    precondition(r.status == 0, "git \(args.joined(separator: " ")) failed in \(dir): \(r.stderr)")
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A generated app: a git repo with `src/api` (v1), deployed as a live copy with a REVISION file,
/// like Capistrano does. Layout under the scratch dir: `app/` (repo), `live/` (root), `registry/`.
public final class AppFixture: @unchecked Sendable {
    public let scratch = Scratch()
    public var repo: String { scratch.file("app") }
    public var root: String { scratch.file("live") }
    public var registry: String { scratch.file("registry") }
    public var config: String { scratch.file("config.toml") }
    public private(set) var v1 = ""

    public static let clock = "every 1.hour do\n  RssCleanup.run\nend\n"

    public init(deploy: Bool = true) {
        scratch.write("app/src/api/config/clock.rb", Self.clock)
        scratch.write("app/src/api/config/workers.yml", "timeout: 30\nconcurrency: 4\n")
        scratch.write("app/src/api/app/models/user.rb", "class User\n  def name\n    @name\n  end\nend\n")
        scratch.write("app/src/api/README", "The API.\n")
        scratch.write("app/src/api/bin/setup", "#!/bin/sh\necho setup\n")
        chmod(scratch.file("app/src/api/bin/setup"), 0o755)
        scratch.write("app/docs/index.md", "docs\n")
        git(["init", "-q"], in: repo)
        git(["add", "-A"], in: repo)
        git(["commit", "-qm", "v1"], in: repo)
        git(["tag", "v1"], in: repo)
        v1 = git(["rev-parse", "HEAD"], in: repo)
        if deploy { self.deploy("v1") }
    }

    /// Replaces the live tree with `rev`'s src/api and writes REVISION.
    public func deploy(_ rev: String) {
        try? FileManager.default.removeItem(atPath: root)
        try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let r = run("/bin/sh", ["-c", "git -C '\(repo)' archive \(rev):src/api | tar -x -C '\(root)'"])
        precondition(r.status == 0, r.stderr)
        scratch.write("live/REVISION", git(["rev-parse", rev], in: repo) + "\n")
    }

    /// Commits a change to the app repo and returns the new commit id.
    @discardableResult
    public func commit(_ files: [String: String?], message: String, tag: String? = nil) -> String {
        for (path, content) in files {
            if let content { scratch.write("app/" + path, content) } else { try? FileManager.default.removeItem(atPath: scratch.file("app/" + path)) }
        }
        git(["add", "-A"], in: repo)
        git(["commit", "-qm", message], in: repo)
        if let tag { git(["tag", tag], in: repo) }
        return git(["rev-parse", "HEAD"], in: repo)
    }

    /// The flags that name this app without a config file.
    public var flags: [String] { ["--root", root, "--repo", repo, "--subdir", "src/api", "--registry", registry] }
}

/// The patchkeeper binary built next to the test bundle (or $PATCHKEEPER_BIN).
public func patchkeeperBinary() -> String {
    if let env = ProcessInfo.processInfo.environment["PATCHKEEPER_BIN"] { return env }
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("patchkeeper").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    let fallback = FileManager.default.currentDirectoryPath + "/.build/debug/patchkeeper"
    return fallback
}

/// Runs patchkeeper with `args`.
@discardableResult
public func pk(_ args: [String], cwd: String? = nil, env: [String: String] = [:]) -> ProcessResult {
    run(patchkeeperBinary(), args, cwd: cwd, env: env)
}

/// Every file under `dir` (relative path → bytes), `.git` excluded: to prove nothing was written.
public func snapshot(_ dir: String) -> [String: Data] {
    var out: [String: Data] = [:]
    guard let e = FileManager.default.enumerator(atPath: dir) else { return out }
    while let rel = e.nextObject() as? String {
        if rel == ".git" || rel.hasPrefix(".git/") { e.skipDescendants(); continue }
        let full = dir + "/" + rel
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue {
            out[rel] = FileManager.default.contents(atPath: full) ?? Data()
        }
    }
    return out
}

// MARK: - Helpers for the gate/reapply regression tests (additive)

extension Scratch {
    /// Writes raw bytes (binary, CRLF, non-UTF-8 text) at `rel`, creating directories.
    public func writeBytes(_ rel: String, _ data: Data) {
        let full = file(rel)
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! data.write(to: URL(fileURLWithPath: full))
    }

    /// The bytes at `rel`, nil when it does not exist (a symlink is not followed: its target path is returned).
    public func readBytes(_ rel: String) -> Data? {
        if let dest = try? FileManager.default.destinationOfSymbolicLink(atPath: file(rel)) { return Data(dest.utf8) }
        return FileManager.default.contents(atPath: file(rel))
    }

    /// True when `rel` is a regular file with an execute bit.
    public func isExecutable(_ rel: String) -> Bool {
        var st = stat()
        return lstat(file(rel), &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && (st.st_mode & 0o111) != 0
    }

    /// True when `rel` is a symbolic link.
    public func isSymlink(_ rel: String) -> Bool {
        var st = stat()
        return lstat(file(rel), &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    /// True when `rel` is a directory (not followed through a symlink).
    public func isDirectory(_ rel: String) -> Bool {
        var st = stat()
        return lstat(file(rel), &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

extension AppFixture {
    /// A throw-away clone of the app repository checked out (detached) at `rev`, inside the scratch dir.
    /// Use it for git CLI reference checks that write objects (`git apply --3way`): a worktree of the
    /// app repository itself would add blobs the product could then find.
    public func clone(at rev: String, blobs: [Data] = []) -> String {
        let dir = scratch.file("clone-\(UUID().uuidString.prefix(8).lowercased())")
        git(["clone", "-q", "--no-hardlinks", repo, dir], in: scratch.path)
        git(["checkout", "-q", "--detach", git(["rev-parse", rev], in: repo)], in: dir)
        writeBlobs(blobs, in: dir)
        return dir
    }

    /// Writes only the REVISION file (a half-finished deploy: the files stay as they are).
    public func writeRevision(_ rev: String) {
        scratch.write("live/REVISION", git(["rev-parse", rev], in: repo) + "\n")
    }

    /// Active patch files in the registry, sorted by name.
    public func patchFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: registry)) ?? []).filter { $0.hasSuffix(".patch") }.sorted()
    }
}

/// Stores each content as a blob in the repository at `dir` (so `git apply --3way` finds a patch's pre/post images).
public func writeBlobs(_ blobs: [Data], in dir: String) {
    guard !blobs.isEmpty else { return }
    let tmp = dir + "/.git/pk-blobs-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    var files: [String] = []
    for (i, b) in Set(blobs).enumerated() {
        files.append(tmp + "/\(i)")
        try! b.write(to: URL(fileURLWithPath: files.last!))
    }
    git(["hash-object", "-w", "--no-filters"] + files, in: dir)
    try? FileManager.default.removeItem(atPath: tmp)
}

/// Backdates a registry patch's `Expires:` to `day` and commits it with the git CLI, as an old
/// patch whose date has passed would be (record and edit refuse past dates).
public func backdateExpiry(registry: String, file: String, to day: String) {
    let path = registry + "/" + file
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { preconditionFailure("no \(path)") }
    let lines = text.components(separatedBy: "\n").map { $0.hasPrefix("Expires: ") ? "Expires: " + day : $0 }
    precondition(lines.contains("Expires: " + day), "\(file) has no Expires: trailer")
    try! lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    git(["-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "backdate \(file)"], in: registry)
}
