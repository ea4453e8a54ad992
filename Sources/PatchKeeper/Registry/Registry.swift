#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// The app's patch registry: a directory of `NNNN-slug.patch` files that is also a git repository,
/// so every change is a commit. State that is not history (lock, caches) lives in `.patchkeeper/`,
/// which the registry's `.gitignore` excludes.
public final class Registry {
    public let path: String
    let repository: Repository
    /// What the last `lock()` finished for a crashed writer (see `recover()`).
    public private(set) var recovered: [String] = []
    /// The app this registry was opened for; nil when the command did not name one (a
    /// registry-only command given just `--registry`). Checked against `appFileName`.
    public private(set) var appName: String?
    /// The app's live root: the only root a journal in this registry may name. nil for
    /// registry-only commands, which then refuse a journal with live writes.
    public private(set) var appRoot: String?
    /// `PublicSummary` (config `public_summary`, on by default): true keeps it up to date with
    /// every write, false withdraws it, nil (a registry opened without its app's settings) leaves
    /// it alone.
    public var publishesSummary: Bool?

    public var stateDirectory: String { path + "/.patchkeeper" }
    public var lockPath: String { stateDirectory + "/lock" }

    /// The committed file naming the app a registry belongs to.
    public static let appFileName = ".patchkeeper-app"
    /// What a registry's `.gitignore` holds (and how an older registry without `appFileName` is known).
    static let gitignoreText = "# patchkeeper state (lock, caches, journal) and temp files: not history\n/.patchkeeper/\n.*.pk-tmp-*\n"

    /// Opens an existing registry.
    public init(path: String) throws {
        self.path = path
        if POSIX.isDirectory(path), access(path, R_OK | X_OK) != 0 {
            throw PatchKeeperError("registry \(path) is not readable by this user (it is private to its owner: patches hold copies of the files they change)",
                                   hint: "run it as the registry's owner (sudo); the login banner shows the active patches to everyone")
        }
        guard POSIX.isDirectory(path), Repository.exists(atPath: path) else {
            throw PatchKeeperError("registry \(path) does not exist or is not a git repository",
                                   hint: "create it with 'patchkeeper init' (or pass --registry DIR)")
        }
        do {
            repository = try Repository.open(atPath: path)
        } catch let e as GitError {
            if e.isOwnerMismatch { throw Self.ownerMismatch(path) }
            throw PatchKeeperError("cannot open registry \(path): \(e.message)")
        }
        guard !repository.isBare else { throw PatchKeeperError("registry \(path) is a bare repository", hint: "point --registry at a directory with a work tree") }
        for dir in [path, path + "/.git"] { try Self.refuseWritableByOthers(dir) }
        if repository.isEmpty {
            throw PatchKeeperError("registry \(path) has no commit yet (an interrupted init?)", hint: "run 'patchkeeper init' again")
        }
        guard try Self.looksLikeRegistry(repository, path: path) else {
            throw PatchKeeperError("\(path) is a git repository but not a patchkeeper registry (no \(Self.appFileName), no registry .gitignore)",
                                   hint: "point --registry at the app's registry, or at a new directory for 'patchkeeper init'")
        }
    }

    /// Opens the registry of a deployment: the registry must not be (or hold, or lie in) the app's
    /// repository, must belong to this app, and its journals may only name this app's root.
    public convenience init(deployment: Deployment) throws {
        try Self.refuseOverlap(registry: deployment.registryPath, deployment: deployment)
        try self.init(path: deployment.registryPath)
        appName = deployment.app.name
        appRoot = deployment.root
        publishesSummary = deployment.app.publicSummary
        try checkApp()
        try Self.verifiedStateDirectory(registry: path, create: false, requireOwner: false)
    }

    /// Opens an existing registry for a command that knows only the registry (list, show, log,
    /// retire); `app` (nil when the command did not name one) is checked like `init(deployment:)`.
    public convenience init(path: String, trusted: Bool, app: String?, publishesSummary: Bool? = nil) throws {
        GitSettings.setOwnerValidation(!trusted)
        try self.init(path: path)
        appName = app
        self.publishesSummary = publishesSummary
        try checkApp()
        // A reader who is not the owner may be unable to enter a private state directory; it
        // then uses nothing in it (no lock, journal or cache), so there is nothing to verify.
        if geteuid() != 0, POSIX.lstat(stateDirectory) != nil, access(stateDirectory, X_OK) != 0 { return }
        try Self.verifiedStateDirectory(registry: path, create: false, requireOwner: false)
    }

    /// A registry has `appFileName`, or (an older one) the `.gitignore` `create` writes.
    static func looksLikeRegistry(_ repo: Repository, path: String) throws -> Bool {
        if POSIX.lstat(path + "/" + appFileName) != nil { return true }
        guard let head = try? repo.resolveCommit("HEAD") else { return false }
        if (try? repo.entry(atPath: appFileName, inCommit: head)) != nil { return true }
        guard let entry = try? repo.entry(atPath: ".gitignore", inCommit: head), let blob = try? repo.blob(entry.id) else { return false }
        return String(decoding: blob, as: UTF8.self).split(separator: "\n").contains("/.patchkeeper/")
    }

    /// The app named in `appFileName`, nil when the file is missing (an older registry).
    public func recordedApp() throws -> String? {
        let file = path + "/" + Self.appFileName
        guard POSIX.lstat(file) != nil else { return nil }
        let text = String(decoding: try POSIX.readFile(file, limit: 4096), as: UTF8.self)
        return Text.trimmedWhitespace(text)
    }

    /// Refuses a registry that belongs to another app.
    func checkApp() throws {
        guard let appName, let recorded = try recordedApp() else { return }
        if recorded != appName {
            throw PatchKeeperError("registry \(path) belongs to app '\(Text.singleLine(recorded))', not '\(appName)'",
                                   hint: "pass --app \(Text.singleLine(recorded)) if that is this app, or give '\(appName)' its own registry (--registry DIR)")
        }
    }

    /// An older registry (no `appFileName`) is adopted by the first writer that names its app:
    /// the file is written and committed. Call with the lock held.
    func adoptIfNeeded() throws {
        guard let appName else { return }
        let head = try? repository.resolveCommit("HEAD")
        if let head, (try? repository.entry(atPath: Self.appFileName, inCommit: head)) != nil { return }
        if try recordedApp() != appName { try AtomicFile.write(appName + "\n", to: path + "/" + Self.appFileName, mode: 0o644) }
        let me = Person.current()
        let sig = Signature(name: me.name, email: me.email, time: Int64(Date().timeIntervalSince1970))
        do {
            try repository.commitWorkdirChanges(paths: [Self.appFileName], message: "Adopt registry for \(appName)\n\nAction: adopt\n",
                                                author: sig, committer: sig)
        } catch let e as GitError {
            throw PatchKeeperError("cannot commit \(path)/\(Self.appFileName): \(e.message)", hint: "check 'git -C \(path) status'")
        }
        recovered.append("registry \(path) now records that it belongs to app '\(appName)' (\(Self.appFileName))")
    }

    /// Nothing should be written where the app's repository is: the registry may not be the
    /// repository's work tree, lie inside its git directory, or contain either.
    static func refuseOverlap(registry: String, deployment: Deployment) throws {
        let reg = canonical(registry)
        var repoDirs = [canonical(deployment.repository.gitdir)]
        if let work = deployment.repository.workdir { repoDirs.append(canonical(work)) }
        if repoDirs.contains(reg) {
            throw PatchKeeperError("registry \(registry) is the app repository \(deployment.repoPath)",
                                   hint: "give the registry its own directory (--registry DIR, default \(Deployment.defaultRegistryDirectory)/\(deployment.app.name))")
        }
        for dir in repoDirs {
            if SafePath.strip(prefix: reg, from: dir) != nil {
                throw PatchKeeperError("registry \(registry) contains the app repository \(deployment.repoPath)",
                                       hint: "give the registry its own directory (--registry DIR)")
            }
        }
        if SafePath.strip(prefix: canonical(deployment.repository.gitdir), from: reg) != nil {
            throw PatchKeeperError("registry \(registry) lies inside the app repository's git directory \(deployment.repository.gitdir)",
                                   hint: "give the registry its own directory (--registry DIR)")
        }
        // Inside a work tree, a registry is the repository's untracked files ('git clean' removes
        // them); only the root may hold one (DESIGN §3), even when the root is (in) the work tree.
        if let work = deployment.repository.workdir, SafePath.strip(prefix: canonical(work), from: reg) != nil,
           SafePath.strip(prefix: canonical(deployment.root), from: reg) == nil {
            throw PatchKeeperError("registry \(registry) lies inside the app repository's work tree \(deployment.repoPath)",
                                   hint: "give the registry its own directory (--registry DIR)")
        }
        // A registry inside the root sits in the app user's reach: no symlink on the way to it.
        if let rel = SafePath.strip(prefix: Deployment.absolute(deployment.root), from: Deployment.absolute(registry)), !rel.isEmpty {
            do { _ = try DirectoryHandle.open(deployment.root).descend(rel.slashParts(), create: false) } catch let e as PatchKeeperError {
                throw PatchKeeperError("registry \(registry): \(e.message)", hint: "a registry inside the app root must be a real directory")
            }
        }
    }

    /// The canonical path of `path`, resolving what exists of it (a registry may not exist yet).
    static func canonical(_ path: String) -> String {
        var p = Deployment.absolute(path)
        if let real = POSIX.realPath(p) { return real }
        var tail: [String] = []
        while p != "/" {
            tail.insert(POSIX.baseName(p), at: 0)
            p = POSIX.parentDirectory(p)
            if let real = POSIX.realPath(p) { return (real == "/" ? "" : real) + "/" + tail.joined(separator: "/") }
        }
        return "/" + tail.joined(separator: "/")
    }

    /// The registry's `.patchkeeper/` state directory, verified before anything in it is used:
    /// a real directory (never a symlink), owned by the user running patchkeeper, not writable
    /// by group or others. Created (0700) when missing and `create` is set. Opening a registry
    /// for a command checks the same but the owner (a `--trust-repo` reader of someone else's
    /// registry); taking the writer lock checks everything.
    @discardableResult
    func stateDirectoryHandle(create: Bool) throws -> DirectoryHandle? {
        if let open = ownedState {
            if isCurrentStateDirectory(open) { return open }
            // Moved aside (or removed and made anew) since it was verified: while this process
            // holds the lock taken in the old one, another may lock the new one; nothing more is
            // written (review: two writers held the lock at once, a journal went to the old one).
            try requireLockedStateDirectory()
            ownedState = nil
        }
        let handle = try Self.verifiedStateDirectory(registry: path, create: create)
        ownedState = handle
        return handle
    }

    /// Whether `handle` is still the registry's `.patchkeeper` (same device and inode), not a
    /// directory moved aside or removed since it was opened.
    func isCurrentStateDirectory(_ handle: DirectoryHandle) -> Bool {
        guard let top = try? DirectoryHandle.open(path), let named = top.status(".patchkeeper"), let open = handle.ownStatus() else { return false }
        return named.st_dev == open.st_dev && named.st_ino == open.st_ino
    }

    /// The lock this registry object took last, while it is held.
    weak var heldLock: RegistryLock?

    /// Throws when the state directory this process holds the lock in is no longer the
    /// registry's `.patchkeeper`: checked before a job writes live files and before each registry
    /// commit, so a second writer that locked a replacement cannot interleave with this one
    /// (the window left is between this check and the write, not the whole job).
    func requireLockedStateDirectory() throws {
        guard heldLock != nil, let held = ownedState, !isCurrentStateDirectory(held) else { return }
        throw PatchKeeperError("\(stateDirectory) was moved or replaced while this patchkeeper held the registry lock in it; nothing more was written",
                               hint: "leave .patchkeeper where patchkeeper keeps it, check the registry ('patchkeeper status'), then run the command again")
    }

    /// The state directory as verified for this user's writes (`stateDirectoryHandle`), kept
    /// open: every later lock, read and write of a file in it goes through this descriptor, so a
    /// registry root another user owns (root reading it with `--trust-repo`) cannot swap
    /// `.patchkeeper` for a link between the check and the use.
    var ownedState: DirectoryHandle?
    /// The state directory as verified for reading (the owner not checked), kept open.
    var readableState: DirectoryHandle?

    @discardableResult
    static func verifiedStateDirectory(registry: String, create: Bool, requireOwner: Bool = true) throws -> DirectoryHandle? {
        let state = registry + "/.patchkeeper"
        let top = try DirectoryHandle.open(registry)
        if let st = top.status(".patchkeeper") {
            switch st.st_mode & S_IFMT {
            case S_IFDIR: break
            case S_IFLNK:
                throw PatchKeeperError("\(state) is a symbolic link; patchkeeper keeps its lock and journal only in a real directory",
                                       hint: "remove the link (rm \(state)); patchkeeper creates the directory itself")
            default:
                throw PatchKeeperError("\(state) is not a directory", hint: "move it aside; patchkeeper creates the directory itself")
            }
        } else if !create {
            return nil
        }
        guard let dir = try top.subdirectory(".patchkeeper", create: create, mode: 0o700), let st = dir.ownStatus() else { return nil }
        if requireOwner && st.st_uid != geteuid() {
            throw PatchKeeperError("\(state) is owned by uid \(st.st_uid), not by the user running patchkeeper (uid \(geteuid()))",
                                   hint: "its journal is finished as this user: check it, then 'chown -R \(geteuid()) \(state)'")
        }
        let mode = st.st_mode & 0o7777
        if mode & 0o022 != 0 {
            throw PatchKeeperError("\(state) is writable by group or others (mode \(String(mode, radix: 8)))",
                                   hint: "its journal is finished as this user: check it, then 'chmod 700 \(state)'")
        }
        return dir
    }

    static func ownerMismatch(_ path: String) -> PatchKeeperError {
        PatchKeeperError("registry \(path) is owned by another user and libgit2 refuses it",
                         hint: "give it to the user running patchkeeper (chown -R), or pass --trust-repo if you trust it")
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

    /// Creates the registry (directory 0700: patches hold copies of live files, secrets
    /// included; git repository, `.gitignore`, `appFileName`, first commit), or verifies an
    /// existing one. Returns whether it was created. Refuses a directory that holds anything but a
    /// registry (or what an interrupted `create` left), and a symlinked `.patchkeeper/`.
    @discardableResult
    public static func create(path: String, app: String, committer: Person, now: Date) throws -> Bool {
        if POSIX.lstat(path + "/.git") != nil {
            do { _ = try Repository.open(atPath: path) } catch let e as GitError where e.isOwnerMismatch { throw ownerMismatch(path) } catch {}
        }
        if POSIX.exists(path) && Repository.exists(atPath: path),
           let existing = try? Repository.open(atPath: path), !existing.isEmpty {
            let registry = try Registry(path: path)
            registry.appName = app
            try registry.checkApp()
            return false
        }
        if POSIX.exists(path) && !POSIX.isDirectory(path) {
            throw PatchKeeperError("registry path \(path) exists and is not a directory")
        }
        var created = false
        if POSIX.exists(path) {
            // A directory someone else owns is theirs: the patches (copies of live files, secrets
            // included) would be readable and replaceable by them. Refused before anything is
            // written in it, whatever --trust-repo says (that trusts a repository, not a home for one).
            if let st = POSIX.lstat(path), st.st_uid != geteuid() {
                throw PatchKeeperError("registry directory \(path) is owned by uid \(st.st_uid), not by the user running patchkeeper (uid \(geteuid())): nothing was created in it",
                                       hint: "give a new directory (patchkeeper creates it, 0700), or one this user owns, with --registry")
            }
            // What an interrupted create leaves may be there; anything else is someone's data.
            let leftovers: Set<String> = [".git", ".gitignore", ".patchkeeper", appFileName]
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            let foreign = names.filter { !leftovers.contains($0) && !$0.contains(".pk-tmp-") }.sorted()
            if !foreign.isEmpty {
                throw PatchKeeperError("registry directory \(path) is not empty and not a patchkeeper registry (it holds \(foreign.prefix(3).map { Text.singleLine($0) }.joined(separator: ", "))\(foreign.count > 3 ? ", ..." : ""))",
                                       hint: "give an empty or new directory with --registry")
            }
        } else {
            try POSIX.makeDirectories(POSIX.parentDirectory(path))
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw PatchKeeperError("cannot create directory \(path): \(POSIX.errorText())")
            }
            created = true
        }
        // Before anything is created in it: refuse a planted symlink or foreign state directory.
        try verifiedStateDirectory(registry: path, create: false)
        let top = try DirectoryHandle.open(path)
        if created { try top.setMode(0o700) }
        guard let state = try verifiedStateDirectory(registry: path, create: true) else { throw PatchKeeperError("cannot create \(path)/.patchkeeper") }
        _ = try RegistryLock(directory: state, name: "lock")  // creates the lock file (0600) once
        do {
            // Also finishes a creation that crashed before its first commit.
            let repo = Repository.exists(atPath: path) ? try Repository.open(atPath: path) : try Repository.create(atPath: path)
            try AtomicFile.write(gitignoreText, to: path + "/.gitignore")
            try AtomicFile.write(app + "\n", to: path + "/" + appFileName)
            let sig = Signature(name: committer.name, email: committer.email, time: Int64(now.timeIntervalSince1970))
            FaultInjector.step("before first registry commit")
            try repo.commitWorkdirChanges(paths: [".gitignore", appFileName], message: "Create patch registry for \(app)\n\nAction: init\n", author: sig, committer: sig)
            FaultInjector.step("after first registry commit")
            // A new registry keeps every patch's images from the start: nothing to upgrade.
            try? state.replaceFile("images-complete", with: Array("images kept for every active patch\n".utf8), newMode: 0o600)
        } catch let e as GitError {
            if e.isOwnerMismatch { throw ownerMismatch(path) }
            throw PatchKeeperError("cannot create registry \(path): \(e.message)")
        }
        return true
    }

    /// Takes the registry's writer lock (see `RegistryLock`) and, with `recover`, finishes
    /// whatever a crashed writer left (see `recover()`; listed in `recovered`).
    public func lock(wait: Double, recover doRecover: Bool = true) throws -> RegistryLock {
        guard let state = try stateDirectoryHandle(create: true) else { throw PatchKeeperError("cannot create \(stateDirectory)") }
        let lock = try RegistryLock(directory: state, name: "lock", wait: wait)
        // Moved aside between the check and the lock: another writer may lock the new one.
        guard isCurrentStateDirectory(state) else {
            ownedState = nil
            throw PatchKeeperError("\(stateDirectory) was moved or replaced while patchkeeper took its lock; nothing was written",
                                   hint: "leave .patchkeeper where patchkeeper keeps it, then run the command again")
        }
        heldLock = lock
        // A writer reads the registry's root tree (70 KB at 1,000 patches) several times.
        GitSettings.readWithoutRehash()
        if doRecover {
            AtomicFile.removeStaleTemps(inDirectory: path)
            recovered = try recover()
            try adoptIfNeeded()
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
            throw PatchKeeperError("cannot list registry \(path): \(POSIX.errorText(error))")
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
    /// Parsed registry file heads by file blob id (`HeaderCache`).
    var headersPath: String { stateDirectory + "/headers" }

    /// What `validated` held at the last load: file blob ids, and (lines `H <id>`) those whose
    /// hunks a scan found to make their index lines' postimages.
    private var validatedIDs = Set<ObjectID>()
    /// The first line of `validated`: the version of the checks its lines vouch for (the header
    /// path check, the hunk check). A file without it, or with another, is read as empty: bump it
    /// whenever either check gets stricter, or a file an older binary let through skips the new one.
    /// 2: header paths read as bytes (a combining mark after "diff --git " hid a header line), and
    /// `H` only for files whose every text hunk was checked (one without a preimage id was not).
    static let validatedVersion = "# patchkeeper validated 2"
    /// The first line of `validated` as this binary writes it: the checks' version and the
    /// binary's identity (another build's lines are read as none: `BinaryIdentity`).
    static let validatedHeader: String? = BinaryIdentity.current.map { validatedVersion + " " + $0 }

    /// Whether the state directory is this user's and nobody else may write it: only then are
    /// the caches that let a load skip checks (`validated`, `headers`) read or written. (Root
    /// reading another user's registry wrote them there on every run, and never read them.)
    /// The registry directory must be too: its owner could otherwise swap `.patchkeeper` for a
    /// directory of their own between this check and the read (review).
    var stateDirectoryIsOwn: Bool {
        for dir in [path, stateDirectory] {
            guard let st = POSIX.lstat(dir), st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else { return false }
        }
        return true
    }
    /// The bytes of a cache file in the state directory (`validated`, `headers`), or nil when it
    /// cannot be believed: not a regular file, another user's, or writable by group or others.
    /// The directories are `stateDirectoryIsOwn`'s to check.
    static func ownCacheFile(_ path: String) -> [UInt8]? {
        guard let (fd, st) = try? POSIX.openRegular(path) else { return nil }
        defer { close(fd) }
        guard st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else { return nil }
        return try? POSIX.readDescriptor(fd, path: path, limit: 256 << 20).bytes
    }
    private var hunkIDs = Set<ObjectID>()

    private func parseAll(_ names: [String]) throws -> [PatchFile] {
        var patches: [PatchFile] = []
        var seen: [String: String] = [:]
        var known = Set<ObjectID>(), knownHunks = Set<ObjectID>()
        // Lines noted by a binary whose checks were another version say nothing about these.
        // (Read on bytes: splitting 1,000 lines as a String was 6% of a record.)
        let own = stateDirectoryIsOwn
        let noted = own ? Self.ownCacheFile(validatedPath) ?? [] : []
        noted.withUnsafeBufferPointer { b in
            let lines = b.split(separator: 10)
            guard let first = lines.first, let header = Self.validatedHeader, first.elementsEqual(header.utf8) else { return }
            for line in lines.dropFirst() {
                let hunk = line.starts(with: [72, 32]) // "H "
                guard let id = ObjectID(hexDigits: UnsafeBufferPointer(rebasing: hunk ? line.dropFirst(2) : line)) else { continue }
                if hunk { knownHunks.insert(id) } else { known.insert(id) }
            }
        }
        // Read and parsed on up to two threads (a 1,000-patch registry was 60 ms on one, before
        // the walk could start); checked in name order, so the first bad file is the one named.
        let registryPath = path
        let heads = own ? HeaderCache.load(headersPath) : HeaderCache()
        let parsed = ResultSlots<Result<(PatchFile, ArraySlice<UInt8>?), any Error>?>(count: names.count, initial: nil)
        let workers = names.count >= 64 ? min(2, Threads.cpuCount) : 1
        let knownIDs = known, knownHunkIDs = knownHunks
        let parse = { @Sendable (name: String) in
            Result { try Self.parseFile(named: name, in: registryPath, known: knownIDs, knownHunks: knownHunkIDs, heads: heads) }
        }
        Threads.run(workers) { w in
            for i in stride(from: w, to: names.count, by: workers) { parsed[i] = parse(names[i]) }
        }
        var validated = Set<ObjectID>()
        var records: [ObjectID: ArraySlice<UInt8>] = [:]
        for (i, name) in names.enumerated() {
            // A thread that could not be started (a task limit, no memory) left its share: read here.
            let result = parsed[i] ?? parse(name)
            let (patch, record) = try result.get()
            if let id = patch.contentID {
                validated.insert(id)
                records[id] = record
            }
            if let other = seen[patch.id] {
                throw PatchKeeperError("registry files \(other) and \(name) both have Patch-Id \(patch.id)", hint: "give one of them a new Patch-Id")
            }
            seen[patch.id] = name
            patches.append(patch)
        }
        // Best effort, and only for who may write the state directory (root, the owner).
        let hunks = knownHunks.intersection(validated)
        if validated != known || hunks != knownHunks { writeValidated(validated, hunks) }
        if own, Set(records.keys) != Set(heads.records.keys), let file = HeaderCache.encode(records) {
            try? writeStateFile("headers", file, durable: false)
        }
        validatedIDs = validated
        hunkIDs = hunks
        return patches
    }

    /// One registry file, read and parsed: its diff checked unless `known` has its blob id, its
    /// head taken from `heads` when that also has it. Also returns the file's `heads` record.
    private static func parseFile(named name: String, in path: String, known: Set<ObjectID>, knownHunks: Set<ObjectID>,
                                  heads: HeaderCache) throws -> (PatchFile, ArraySlice<UInt8>?) {
        let full = path + "/" + name
        try refuseWritableByOthers(full)
        let bytes = try POSIX.readFile(full)
        var patch: PatchFile
        var record: ArraySlice<UInt8>?
        // A name for the content, compared only (the `validated` cache, the summary's stamp):
        // the fast hash where the CPU has it (docs/DESIGN.md, "Which SHA-1").
        let id = BlobHasher.comparisonID(bytes)
        if let id, known.contains(id), let kept = heads.records[id], let head = HeaderCache.patch(kept, bytes: bytes, fileName: name) {
            // These exact bytes parsed in full before, to this head.
            patch = head
            record = kept
        } else {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                // Decoding it anyway would turn the bytes into U+FFFD, and a rewrite would keep that.
                let lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
                let bad = (lines.firstIndex { String(validating: $0, as: UTF8.self) == nil } ?? 0) + 1
                throw PatchKeeperError("registry file \(full):\(bad): not UTF-8 text", hint: "fix or remove the file (it is never rewritten while it does not parse)")
            }
            do {
                patch = try PatchFile.parse(text, fileName: name, validateDiff: id.map { !known.contains($0) } ?? true)
            } catch {
                throw PatchKeeperError("registry file \(path)/\(error.description)", hint: "fix or remove the file (it is never rewritten while it does not parse)")
            }
            record = HeaderCache.record(of: patch, text: text).map { $0[...] }
        }
        if let id {
            patch.contentID = id
            if knownHunks.contains(id) { patch.hunksVerifiedTail = patch.tail }
        }
        return (patch, record)
    }

    private func writeValidated(_ validated: Set<ObjectID>, _ hunks: Set<ObjectID>) {
        guard stateDirectoryIsOwn, let header = Self.validatedHeader else { return }
        let lines = [header] + validated.map(\.hex).sorted() + hunks.map { "H " + $0.hex }.sorted()
        try? writeStateFile("validated", Array(lines.joined(separator: "\n").utf8), durable: false)
    }

    /// Notes registry files (by blob id) whose hunks were found to make their postimages, for
    /// later loads (`PatchFile.hunksVerified`). Best effort, like the rest of the cache.
    func noteHunksVerified(_ ids: Set<ObjectID>) {
        let add = ids.intersection(validatedIDs).subtracting(hunkIDs)
        if add.isEmpty { return }
        hunkIDs.formUnion(add)
        writeValidated(validatedIDs, hunkIDs)
    }

    /// The patch with this id (`1`, `0001`) or file name.
    public func find(_ idOrName: String, in patches: [PatchFile]) throws -> PatchFile {
        try Self.find(idOrName, in: patches, registry: path)
    }

    public static func find(_ idOrName: String, in patches: [PatchFile], registry: String) throws -> PatchFile {
        let wanted = idOrName.hasSuffix(".patch") ? nil : Int(idOrName)
        if let p = patches.first(where: { $0.fileName == idOrName || (wanted != nil && Int($0.id) == wanted) }) { return p }
        throw PatchKeeperError("no patch '\(Text.singleLine(idOrName))' in registry \(registry)", hint: "'patchkeeper list --all' shows the ids")
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
        try requireLockedStateDirectory()
        let full = path + "/" + patch.fileName
        try AtomicFile.write(patch.render(), to: full, mode: 0o644)
        var message = "\(action) \(patch.id): \(patch.subject)\n"
        if let reason, !reason.isEmpty { message += "\n\(reason)\n" }
        message += "\nPatch-Id: \(patch.id)\nAction: \(action)\n"
        let committer = Person.current()
        let time = Int64(now.timeIntervalSince1970)
        FaultInjector.step("before commit \(patch.fileName)")
        defer { FaultInjector.step("after commit \(patch.fileName)") }
        let commit: ObjectID
        let parent = try? repository.resolveCommit("HEAD")
        do {
            commit = try repository.commitWorkdirChanges(
                paths: [patch.fileName], message: message,
                author: Signature(name: author.name, email: author.email, time: time),
                committer: Signature(name: committer.name, email: committer.email, time: time))
        } catch let e as GitError {
            // The index is written after the commit: only that step's failure means the commit
            // was made (HEAD moving proves nothing: an admin's own commit makes libgit2 refuse ours).
            if e.operation == Repository.indexWriteAfterCommit {
                throw PatchKeeperError("committed \(patch.fileName) to the registry, but could not write the registry's index afterwards: \(e.message)",
                                       hint: "'git -C \(path) reset -q -- \(patch.fileName)' brings the index up to HEAD")
            }
            throw PatchKeeperError("cannot commit \(full) to the registry: \(e.message)",
                                   hint: "check free space, and whether someone committed in the registry meanwhile ('git -C \(path) log -1'), with 'git -C \(path) status'; then run the command again")
        }
        // The registry write stands whatever happens to the summary: one that could not be
        // written is rebuilt in full by the next write or scan (its log does not end at HEAD).
        // The log line as `history()` reads it back (libgit2 trims the signature's name and email).
        let written = try? repository.commit(commit)
        let entry = Entry(commit: commit,
                          author: written.map { Person(name: $0.author.name, email: $0.author.email) } ?? author,
                          date: Date(timeIntervalSince1970: TimeInterval(written?.author.time ?? time)),
                          subject: message.prefix { $0 != "\n" }.description,
                          message: message, files: [patch.fileName])
        updateSummary { try PublicSummary.noteWrite(self, patch: patch, commit: entry, parent: parent, now: now) }
        return commit
    }

    /// Why the public summary could not be updated (nil when it was, or was not asked for).
    public internal(set) var summaryProblem: String?

    /// Runs `publish` when the summary is on, withdraws the summary when it is off; records a
    /// failure in `summaryProblem` instead of failing the write or scan it follows.
    func updateSummary(_ publish: () throws -> Void) {
        guard let on = publishesSummary else { return }
        do {
            if on { try publish() } else { try PublicSummary.withdraw(self) }
            summaryProblem = nil
        } catch let e as PatchKeeperError {
            summaryProblem = "the public summary \(PublicSummary.path(registry: path)) was not updated: \(e.message)" + (e.hint.map { " (\($0))" } ?? "")
        } catch {
            summaryProblem = "the public summary \(PublicSummary.path(registry: path)) was not updated: \(error)"
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

    /// Registry commits, newest first; only those touching `fileName` when given; at most `limit`
    /// (each commit's changed paths cost a tree diff: the public summary needs only the newest).
    public func history(fileName: String? = nil, limit: Int = .max, from start: ObjectID? = nil) throws -> [Entry] {
        let commits: [CommitInfo]
        do { commits = try repository.log(from: start, limit: fileName == nil ? limit : .max) } catch let e as GitError {
            throw PatchKeeperError("cannot read registry history in \(path): \(e.message)")
        }
        let entries = commits.compactMap { c -> Entry? in
            if let fileName, !c.changedPaths.contains(fileName) { return nil }
            return Entry(commit: c.id, author: Person(name: c.author.name, email: c.author.email),
                         date: Date(timeIntervalSince1970: TimeInterval(c.author.time)),
                         subject: c.summary, message: c.message, files: c.changedPaths)
        }
        return Array(entries.prefix(limit))
    }
}
