import Git
import CXattr
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open directory. Every name below it is reached relative to its descriptor, one component
/// at a time with `O_NOFOLLOW`, and written with `openat`/`renameat`/`unlinkat` and `f*` calls on
/// descriptors: a directory swapped for a symlink after a check can never send a read or a write
/// somewhere else, and nothing is ever touched by name after it was renamed into place.
///
/// The live tree is writable by the app's own (unprivileged) user while patchkeeper runs as root
/// (RELIABILITY.md, "Threat model"), so every read and write of it goes through this type.
public final class DirectoryHandle {
    let fd: Int32
    /// The path it was opened by, for messages only: never used to reach the directory again.
    public let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Opens `path` as named: symlinks in it are followed (an admin named it, e.g. Capistrano's
    /// `current`); nothing below it is.
    public static func open(_ path: String) throws -> DirectoryHandle {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw PatchKeeperError("cannot open directory \(path): \(POSIX.errorText())") }
        return DirectoryHandle(fd: fd, path: path)
    }

    /// `open`, with the errno of a failure instead of an error.
    static func tryOpen(_ path: String) -> (DirectoryHandle?, Int32) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        return fd >= 0 ? (DirectoryHandle(fd: fd, path: path), 0) : (nil, errno)
    }

    /// Opens `path` without following a symlink in its last component (`O_NOFOLLOW`), with the
    /// errno of a failure (ELOOP: it is a symbolic link).
    static func tryOpenNoFollow(_ path: String) -> (DirectoryHandle?, Int32) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        return fd >= 0 ? (DirectoryHandle(fd: fd, path: path), 0) : (nil, errno)
    }

    /// Takes an exclusive `flock` on the directory itself without blocking; false when another
    /// process holds it. Released when the handle is closed.
    func tryLock() -> Bool { flock(fd, LOCK_EX | LOCK_NB) == 0 }

    /// This directory's owner when running as root (new files and directories get it), else nil.
    var directoryOwner: (uid_t, gid_t)? {
        guard geteuid() == 0 else { return nil }
        var st = stat()
        return fstat(fd, &st) == 0 ? (st.st_uid, st.st_gid) : nil
    }

    /// The display path of `name` in this directory.
    public func child(_ name: String) -> String { path.hasSuffix("/") ? path + name : path + "/" + name }

    /// `lstat` of `name` (never follows a link); nil when it does not exist (errno tells why).
    public func status(_ name: String) -> stat? {
        var st = stat()
        return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    /// The directory `name` in this one, never through a symlink; created (`mode`) when missing
    /// and `create` is set, else nil when missing.
    /// `inheritOwner` (live-tree writes as root): a directory created here gets this directory's owner.
    public func subdirectory(_ name: String, create: Bool = false, mode: mode_t = 0o755, inheritOwner: Bool = false) throws -> DirectoryHandle? {
        var sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if sub < 0 && errno == ENOENT && create {
            if mkdirat(fd, name, mode) != 0 && errno != EEXIST {
                throw PatchKeeperError("cannot create directory \(child(name)): \(POSIX.errorText())")
            }
            sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            // What root creates in the app tree belongs to whoever owns the directory it goes in
            // (as the deploy left it), or the deploy user could not replace or remove it.
            if sub >= 0, inheritOwner, let owner = directoryOwner { _ = fchown(sub, owner.0, owner.1) }
        }
        guard sub >= 0 else {
            let code = errno
            if (code == ENOENT) && !create { return nil }
            if let st = status(name) {
                if (st.st_mode & S_IFMT) == S_IFLNK {
                    throw PatchKeeperError("\(child(name)) is a symbolic link; patchkeeper does not follow links out of the app root")
                }
                if (st.st_mode & S_IFMT) != S_IFDIR {
                    if !create { return nil }
                    throw PatchKeeperError("\(child(name)) is not a directory")
                }
            }
            throw PatchKeeperError("cannot open directory \(child(name)): \(POSIX.errorText(code))")
        }
        return DirectoryHandle(fd: sub, path: child(name))
    }

    /// Walks down `components` (see `subdirectory`); nil when one is missing (or a file) and not `create`.
    public func descend<S: StringProtocol>(_ components: [S], create: Bool = false, mode: mode_t = 0o755,
                                           inheritOwner: Bool = false) throws -> DirectoryHandle? {
        var current = self
        for part in components {
            guard let next = try current.subdirectory(String(part), create: create, mode: mode, inheritOwner: inheritOwner) else { return nil }
            current = next
        }
        return current
    }

    /// The regular file `name`, refused when it is larger than `limit` before any of it is read.
    /// Never follows a link and never blocks on a FIFO put in its place.
    public func readFile(_ name: String, limit: Int, label: String = "") throws -> (bytes: [UInt8], stat: stat) {
        let f = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard f >= 0 else { throw PatchKeeperError("cannot read \(label)\(child(name)): \(POSIX.errorText())") }
        defer { close(f) }
        return try POSIX.readDescriptor(f, path: label + child(name), limit: limit)
    }

    /// The target of the symlink `name`.
    public func readLink(_ name: String) throws -> [UInt8] {
        var buf = [Int8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(fd, name, &buf, buf.count - 1)
        guard n >= 0 else { throw PatchKeeperError("cannot read link \(child(name)): \(POSIX.errorText())") }
        return buf[0..<n].map { UInt8(bitPattern: $0) }
    }

    /// Replaces (or creates) the regular file `name` with `bytes`, atomically: a new temp file
    /// (`O_EXCL|O_NOFOLLOW`, unpredictable name), written, given the old file's owner, extended
    /// attributes (ACLs, SELinux label, capabilities) and mode — or `newMode` for a new file —
    /// on its descriptor, fsync'd, then renamed over `name`; the directory is fsync'd. With
    /// `executable`, the exec bits are set (from the read bits) or cleared. Refuses a symlink, a
    /// directory or any other non-regular file at `name`.
    /// `modeAfterRename`: the temp file stays 0600 until it has been renamed into place, and gets
    /// its mode through its still-open descriptor only then, so a temp file a crash leaves behind
    /// is unreadable to others (pam_motd shows every file of a motd.d directory, dotfiles too).
    /// `durable: false` (derived files that the next scan rewrites: caches, the last scan, the
    /// public summary) skips both fsyncs: still never half-visible to a reader, but after a power
    /// failure possibly empty or old, which every reader of those files already survives.
    public func replaceFile(_ name: String, with bytes: [UInt8], newMode: mode_t = 0o644, executable: Bool? = nil,
                            inheritOwner: Bool = false, modeAfterRename: Bool = false,
                            displayPath: String? = nil, durable: Bool = true) throws {
        let shown = displayPath ?? child(name)
        var mode = newMode
        var owner: (uid_t, gid_t)?
        var old: Int32 = -1
        var hardLinked = false
        defer { if old >= 0 { close(old) } }
        if let st = status(name) {
            switch st.st_mode & S_IFMT {
            case S_IFLNK: throw PatchKeeperError("refusing to write \(shown): it is a symbolic link")
            case S_IFDIR: throw PatchKeeperError("cannot write \(shown): it is a directory")
            case S_IFREG: break
            default: throw PatchKeeperError("refusing to write \(shown): it is not a regular file")
            }
            // Mode, owner and attributes come from the inode itself, opened without following a
            // link or blocking: a name swapped since the check cannot lend them.
            var ost = st
            old = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            if old >= 0 {
                guard fstat(old, &ost) == 0, (ost.st_mode & S_IFMT) == S_IFREG else {
                    throw PatchKeeperError("refusing to write \(shown): it is not a regular file")
                }
            }
            mode = ost.st_mode & 0o7777
            owner = (ost.st_uid, ost.st_gid)
            if ost.st_nlink > 1 {
                // A hard link may be someone else's privileged file linked in by the tree's owner:
                // its set-id bits and file capabilities are not lent to the new content.
                mode &= ~mode_t(S_ISUID | S_ISGID)
                hardLinked = true
            }
        }
        if let executable {
            mode = executable ? mode | ((mode & 0o444) >> 2) : mode & ~0o111
        }
        if owner == nil, inheritOwner { owner = directoryOwner }  // a new live file: the directory's owner, not root
        removeStaleTemps(prefix: Self.tempPrefix(for: name))
        let (temp, t) = try createTemp(for: name, shown: shown)
        var renamed = false
        defer { if !renamed { unlinkat(fd, temp, 0) } }
        defer { close(t) }
        try Self.writeAll(t, bytes, shown: shown)
        if let owner { _ = fchown(t, owner.0, owner.1) }
        if old >= 0 { Self.copyExtendedAttributes(from: old, to: t, skipping: hardLinked ? ["security.capability"] : []) }
        if !modeAfterRename {
            guard fchmod(t, mode) == 0 else { throw PatchKeeperError("cannot set mode of \(shown): \(POSIX.errorText())") }
        }
        if durable {
            guard fsync(t) == 0 else { throw PatchKeeperError("cannot flush \(shown) to disk: \(POSIX.errorText())") }
        }
        FaultInjector.step("before rename \(shown)")
        guard renameat(fd, temp, fd, name) == 0 else {
            throw PatchKeeperError("cannot replace \(shown): \(POSIX.errorText())")
        }
        renamed = true
        if modeAfterRename {
            // On the descriptor, never by name: the name may already be someone else's file.
            guard fchmod(t, mode) == 0 else { throw PatchKeeperError("cannot set mode of \(shown): \(POSIX.errorText())") }
        }
        if durable { sync() }
        FaultInjector.step("after rename \(shown)")
    }

    /// Creates or replaces the symlink `name` atomically (a temp link renamed over it).
    public func replaceSymlink(_ name: String, target: [UInt8]) throws {
        let targetString = String(decoding: target, as: UTF8.self)
        var temp = ""
        var made = false
        for _ in 0..<100 {
            temp = Self.tempName(for: name)
            if symlinkat(targetString, fd, temp) == 0 { made = true; break }
            if errno != EEXIST { break }
        }
        guard made else { throw PatchKeeperError("cannot create link \(child(name)): \(POSIX.errorText())") }
        FaultInjector.step("before link rename \(child(name))")
        guard renameat(fd, temp, fd, name) == 0 else {
            let code = errno
            unlinkat(fd, temp, 0)
            throw PatchKeeperError("cannot replace \(child(name)): \(POSIX.errorText(code))")
        }
        sync()
    }

    /// Removes the file or link `name` (never a directory) and makes the removal durable.
    public func remove(_ name: String) throws {
        FaultInjector.step("before remove \(child(name))")
        guard unlinkat(fd, name, 0) == 0 || errno == ENOENT else {
            throw PatchKeeperError("cannot remove \(child(name)): \(POSIX.errorText())")
        }
        sync()
        FaultInjector.step("after remove \(child(name))")
    }

    /// Removes the empty directory `name` (nothing when it is not one, or not empty).
    func removeEmptyDirectory(_ name: String) { _ = unlinkat(fd, name, AT_REMOVEDIR) }

    /// Removes temp files a crashed writer left here (`.NAME.pk-tmp-PID-…` of a dead PID).
    public func removeStaleTemps(prefix: String = ".") {
        for name in names() where name.hasPrefix(prefix) {
            guard let pid = Self.tempOwner(name), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlinkat(fd, name, 0) }
        }
    }

    /// The names in this directory (no `.` and `..`).
    public func names() -> [String] {
        let d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard d >= 0, let dir = fdopendir(d) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// fsync of the directory itself.
    public func sync() { _ = fsync(fd) }

    /// Changes this directory's mode through its descriptor.
    public func setMode(_ mode: mode_t) throws {
        guard fchmod(fd, mode) == 0 else { throw PatchKeeperError("cannot set mode of \(path): \(POSIX.errorText())") }
    }

    /// The directory's own status.
    public func ownStatus() -> stat? {
        var st = stat()
        return fstat(fd, &st) == 0 ? st : nil
    }

    // MARK: - Temp files

    static func tempPrefix(for name: String) -> String {
        // Keep the temp name within NAME_MAX whatever the file's name.
        let base = name.utf8.count > 200 ? String(decoding: name.utf8.prefix(200), as: UTF8.self) : name
        return "." + base + ".pk-tmp-"
    }

    /// `.NAME.pk-tmp-PID-RANDOM`: the PID lets the next writer clean up after a dead one; the
    /// random part makes it unguessable, so nobody can plant a FIFO or link there in advance.
    static func tempName(for name: String) -> String {
        tempPrefix(for: name) + "\(getpid())-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// The PID in a temp file's name, nil when it is not one.
    static func tempOwner(_ name: String) -> Int32? {
        guard let r = name.byteRange(of: ".pk-tmp-", backwards: true) else { return nil }
        let rest = name[r.upperBound...]
        return Int32(rest.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).first ?? rest)
    }

    /// A new temp file next to `name`: `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600, retried on EEXIST.
    func createTemp(for name: String, shown: String) throws -> (String, Int32) {
        for _ in 0..<100 {
            let temp = Self.tempName(for: name)
            let t = openat(fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if t >= 0 { return (temp, t) }
            if errno != EEXIST {
                throw PatchKeeperError("cannot write \(shown): \(POSIX.errorText())", hint: "check that \(path) exists and is writable")
            }
        }
        throw PatchKeeperError("cannot write \(shown): no free temp file name in \(path)", hint: "remove the .*.pk-tmp-* files there")
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], shown: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buf in
                Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw PatchKeeperError("cannot write \(shown): \(POSIX.errorText())")
            }
            offset += n
        }
    }

    /// Copies every extended attribute (system.posix_acl_access, security.selinux,
    /// security.capability, user.*) from one descriptor to another. An attribute the filesystem
    /// or the caller's privileges do not allow is skipped.
    static func copyExtendedAttributes(from src: Int32, to dst: Int32, skipping: Set<String> = []) {
        var size = flistxattr(src, nil, 0)
        guard size > 0 else { return }
        var list = [CChar](repeating: 0, count: size)
        size = flistxattr(src, &list, list.count)
        guard size > 0 else { return }
        var start = 0
        while start < size {
            var end = start
            while end < size && list[end] != 0 { end += 1 }
            let name = String(decoding: list[start..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            start = end + 1
            if name.isEmpty || skipping.contains(name) { continue }
            let n = fgetxattr(src, name, nil, 0)
            guard n >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: max(n, 1))
            let got = fgetxattr(src, name, &value, n)
            guard got >= 0 else { continue }
            _ = fsetxattr(dst, name, value, got, 0)
        }
    }
}

/// Reads and writes of the live tree, resolved from the root down through `DirectoryHandle`s.
enum LiveIO {
    /// A test hook between the checks and the use of a live path: called with the root and the
    /// root-relative path before each live write, removal and rollback opens its directories. It
    /// may throw to make that write fail.
    static let beforeWrite = Mutex<(@Sendable (_ root: String, _ rel: String) throws -> Void)?>(nil)

    static func runBeforeWrite(root: String, _ rel: String) throws {
        if let hook = beforeWrite.withLock({ $0 }) { try hook(root, rel) }
    }

    /// The directory holding `root/rel` and the file's name in it; nil when a directory on the
    /// way is missing (and not `create`).
    static func parent(root: String, relativePath rel: String, create: Bool, inheritOwner: Bool = false) throws -> (DirectoryHandle, String)? {
        var parts = rel.slashParts().map(String.init)
        guard let name = parts.popLast(), !parts.contains(".."), name != "..", name != "." else {
            throw PatchKeeperError("path '\(rel)' is not a file path under \(root)")
        }
        let top = try DirectoryHandle.open(root)
        guard let dir = try top.descend(parts, create: create, inheritOwner: inheritOwner) else { return nil }
        return (dir, name)
    }
}
