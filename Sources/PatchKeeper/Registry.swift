import Foundation
import Git

/// The app's patch registry: a directory of `NNNN-slug.patch` files that is also a git repository,
/// so every change is a commit. State that is not history (lock, caches) lives in `.patchkeeper/`,
/// which the registry's `.gitignore` excludes.
public final class Registry {
    public let path: String
    let repository: Repository
    /// What the last `lock()` finished for a crashed writer (see `recover()`).
    public private(set) var recovered: [String] = []

    public var stateDirectory: String { path + "/.patchkeeper" }
    public var lockPath: String { stateDirectory + "/lock" }

    /// Opens an existing registry.
    public init(path: String) throws {
        self.path = path
        guard POSIX.isDirectory(path), Repository.exists(atPath: path) else {
            throw PatchKeeperError("registry \(path) does not exist or is not a git repository",
                                   hint: "create it with 'patchkeeper init' (or pass --registry DIR)")
        }
        do {
            repository = try Repository.open(atPath: path)
        } catch let e as GitError {
            if e.isOwnerMismatch {
                throw PatchKeeperError("registry \(path) is owned by another user and libgit2 refuses it",
                                       hint: "give it to the user running patchkeeper (chown -R), or pass --trust-repo if you trust it")
            }
            throw PatchKeeperError("cannot open registry \(path): \(e.message)")
        }
        guard !repository.isBare else { throw PatchKeeperError("registry \(path) is a bare repository", hint: "point --registry at a directory with a work tree") }
        for dir in [path, path + "/.git"] { try Self.refuseWritableByOthers(dir) }
    }

    /// Root applies what the registry says: a registry others can write to is a way in.
    static func refuseWritableByOthers(_ path: String) throws {
        guard let st = POSIX.lstat(path) else { return }
        let mode = st.st_mode & 0o7777
        if mode & 0o022 != 0 {
            throw PatchKeeperError("registry \(path) is writable by group or others (mode \(String(mode, radix: 8)))",
                                   hint: "patches in it are applied as root: run 'chmod go-w \(path)'")
        }
    }

    /// Opens an existing registry; `trusted` (`--trust-repo`, config `trusted`) accepts one owned by
    /// another user, as `Deployment` does for the app's repository.
    public convenience init(path: String, trusted: Bool) throws {
        GitSettings.setOwnerValidation(!trusted)
        try self.init(path: path)
    }

    /// Creates the registry (directory 0755, git repository, `.gitignore`, first commit), or
    /// verifies an existing one. Returns whether it was created.
    @discardableResult
    public static func create(path: String, app: String, committer: Person, now: Date) throws -> Bool {
        if POSIX.exists(path) && Repository.exists(atPath: path),
           let existing = try? Repository.open(atPath: path), !existing.isEmpty {
            _ = try Registry(path: path)
            return false
        }
        if POSIX.exists(path) && !POSIX.isDirectory(path) {
            throw PatchKeeperError("registry path \(path) exists and is not a directory")
        }
        try POSIX.makeDirectories(path)
        try POSIX.makeDirectories(path + "/.patchkeeper")
        chmod(path + "/.patchkeeper", 0o700)
        _ = try RegistryLock(path: path + "/.patchkeeper/lock")  // creates the lock file (0600) once
        do {
            // Also finishes a creation that crashed before its first commit.
            let repo = Repository.exists(atPath: path) ? try Repository.open(atPath: path) : try Repository.create(atPath: path)
            try AtomicFile.write("# patchkeeper state (lock, caches, journal) and temp files: not history\n/.patchkeeper/\n.*.pk-tmp-*\n", to: path + "/.gitignore")
            let sig = Signature(name: committer.name, email: committer.email, time: Int64(now.timeIntervalSince1970))
            FaultInjector.step("before first registry commit")
            try repo.commitWorkdirChanges(paths: [".gitignore"], message: "Create patch registry for \(app)\n\nAction: init\n", author: sig, committer: sig)
            FaultInjector.step("after first registry commit")
            // A new registry keeps every patch's images from the start: nothing to upgrade.
            try? AtomicFile.write(Array("images kept for every active patch\n".utf8), to: path + "/.patchkeeper/images-complete", mode: 0o600)
        } catch let e as GitError {
            throw PatchKeeperError("cannot create registry \(path): \(e.message)")
        }
        return true
    }

    /// Takes the registry's writer lock (see `RegistryLock`) and, with `recover`, finishes
    /// whatever a crashed writer left (see `recover()`; listed in `recovered`).
    public func lock(wait: Double, recover doRecover: Bool = true) throws -> RegistryLock {
        try POSIX.makeDirectories(stateDirectory, mode: 0o700)
        let lock = try RegistryLock(path: lockPath, wait: wait)
        if doRecover {
            AtomicFile.removeStaleTemps(inDirectory: path)
            recovered = try recover()
        }
        return lock
    }

    /// Every patch file, in file-name order. A file that does not parse stops the load with its
    /// name and line; two files with one Patch-Id are refused.
    public func load() throws -> [PatchFile] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".patch") }.sorted()
        } catch {
            throw PatchKeeperError("cannot list registry \(path): \(error.localizedDescription)")
        }
        // Parsing 1,000 patches costs; scan and gate in one process load once.
        let signature = names.map { name -> String in
            let st = POSIX.lstat(path + "/" + name)
            return "\(name):\(st.map { "\($0.st_size):\($0.st_mtim.tv_sec):\($0.st_mtim.tv_nsec):\($0.st_ino)" } ?? "-")"
        }
        if let cached = loaded, cached.signature == signature { return cached.patches }
        let patches = try parseAll(names)
        loaded = (signature, patches)
        return patches
    }

    private var loaded: (signature: [String], patches: [PatchFile])?

    /// Blob ids of registry files an earlier load parsed in full (`.patchkeeper/validated`): their
    /// diffs are parsed only when used. A cache: unreadable, it costs a full parse.
    var validatedPath: String { stateDirectory + "/validated" }

    private func parseAll(_ names: [String]) throws -> [PatchFile] {
        var patches: [PatchFile] = []
        var seen: [String: String] = [:]
        let known = Set(((try? POSIX.readFile(validatedPath)).map { String(decoding: $0, as: UTF8.self) } ?? "")
            .split(separator: "\n").compactMap { ObjectID(hex: String($0)) })
        var validated = Set<ObjectID>()
        for name in names {
            let full = path + "/" + name
            try Self.refuseWritableByOthers(full)
            let bytes = try POSIX.readFile(full)
            guard let text = String(validating: bytes, as: UTF8.self) else {
                // Decoding it anyway would turn the bytes into U+FFFD, and a rewrite would keep that.
                let lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
                let bad = (lines.firstIndex { String(validating: $0, as: UTF8.self) == nil } ?? 0) + 1
                throw PatchKeeperError("registry file \(full):\(bad): not UTF-8 text", hint: "fix or remove the file (it is never rewritten while it does not parse)")
            }
            let patch: PatchFile
            let id = try? ObjectID.hashBlob(bytes)
            do {
                patch = try PatchFile.parse(text, fileName: name, validateDiff: id.map { !known.contains($0) } ?? true)
                if let id { validated.insert(id) }
            } catch {
                throw PatchKeeperError("registry file \(path)/\(error.description)", hint: "fix or remove the file (it is never rewritten while it does not parse)")
            }
            if let other = seen[patch.id] {
                throw PatchKeeperError("registry files \(other) and \(name) both have Patch-Id \(patch.id)", hint: "give one of them a new Patch-Id")
            }
            seen[patch.id] = name
            patches.append(patch)
        }
        // Best effort, and only for who may write the state directory (root, the owner).
        if validated != known, POSIX.isDirectory(stateDirectory) {
            try? AtomicFile.write(Array(validated.map(\.hex).sorted().joined(separator: "\n").utf8), to: validatedPath, mode: 0o600)
        }
        return patches
    }

    /// The patch with this id (`1`, `0001`) or file name.
    public func find(_ idOrName: String, in patches: [PatchFile]) throws -> PatchFile {
        let wanted = idOrName.hasSuffix(".patch") ? nil : Int(idOrName)
        if let p = patches.first(where: { $0.fileName == idOrName || (wanted != nil && Int($0.id) == wanted) }) { return p }
        throw PatchKeeperError("no patch '\(Text.singleLine(idOrName))' in registry \(path)", hint: "'patchkeeper list --all' shows the ids")
    }

    /// The next free id, zero-padded to four digits.
    public func nextID(after patches: [PatchFile]) -> String {
        let next = (patches.compactMap { Int($0.id) }.max() ?? 0) + 1
        let s = String(next)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// Writes a patch file atomically and commits it, through the journal so a crash in between
    /// is finished by the next writer with the same commit message. Call with the lock held.
    public func save(_ patch: PatchFile, action: String, reason: String?, author: Person, now: Date) throws {
        try runJournaled(Journal(action: action, root: "/", writes: [], patch: patch, reason: reason ?? "", author: author, now: now),
                         previous: [])
    }

    /// The file write and commit behind `save` and journals.
    @discardableResult
    func writeAndCommit(_ patch: PatchFile, action: String, reason: String?, author: Person, now: Date) throws -> ObjectID {
        let full = path + "/" + patch.fileName
        try AtomicFile.write(patch.render(), to: full, mode: 0o644)
        var message = "\(action) \(patch.id): \(patch.subject)\n"
        if let reason, !reason.isEmpty { message += "\n\(reason)\n" }
        message += "\nPatch-Id: \(patch.id)\nAction: \(action)\n"
        let committer = Person.current()
        let time = Int64(now.timeIntervalSince1970)
        FaultInjector.step("before commit \(patch.fileName)")
        defer { FaultInjector.step("after commit \(patch.fileName)") }
        do {
            return try repository.commitWorkdirChanges(
                paths: [patch.fileName], message: message,
                author: Signature(name: author.name, email: author.email, time: time),
                committer: Signature(name: committer.name, email: committer.email, time: time))
        } catch let e as GitError {
            throw PatchKeeperError("cannot commit \(full) to the registry: \(e.message)",
                                   hint: "check free space and the registry repository with 'git -C \(path) status'")
        }
    }

    /// One registry commit.
    public struct Entry: Sendable, Equatable {
        public var commit: ObjectID
        public var author: Person
        public var date: Date
        public var subject: String
        public var message: String
        public var files: [String]
    }

    /// Registry commits, newest first; only those touching `fileName` when given.
    public func history(fileName: String? = nil) throws -> [Entry] {
        let commits: [CommitInfo]
        do { commits = try repository.log() } catch let e as GitError {
            throw PatchKeeperError("cannot read registry history in \(path): \(e.message)")
        }
        return commits.compactMap { c in
            if let fileName, !c.changedPaths.contains(fileName) { return nil }
            return Entry(commit: c.id, author: Person(name: c.author.name, email: c.author.email),
                         date: Date(timeIntervalSince1970: TimeInterval(c.author.time)),
                         subject: c.summary, message: c.message, files: c.changedPaths)
        }
    }
}
