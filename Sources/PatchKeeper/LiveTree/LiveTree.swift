import Git
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads files of the live tree as git sees them: regular (100644), executable (100755) or
/// symlink (120000, content = link target, never followed).
///
/// The live tree is writable by the app's user, so every access goes through directory
/// descriptors opened from the root down with `O_NOFOLLOW` (`DirectoryHandle`): a directory on
/// the way swapped for a symlink between a check and the read or write is refused, never followed.
public enum LiveTree {
    /// The largest live file read whole: refused (by `fstat`, before reading) above this.
    public static var maxFileSize: Int { PatchBuilder.maxFileSize }

    /// The file at `root/rel`, labelled with `repoPath`; nil when it does not exist.
    public static func read(root: String, relativePath rel: String, repoPath: String) throws -> FileVersion? {
        let full = root + "/" + rel
        guard let found = try LiveIO.parent(root: root, relativePath: rel, create: false) else { return nil }
        let (dir, name) = found
        guard let st = dir.status(name) else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw PatchKeeperError("cannot read \(full): \(POSIX.errorText())")
        }
        switch st.st_mode & S_IFMT {
        case S_IFLNK:
            return FileVersion(path: repoPath, mode: .symlink, content: try dir.readLink(name))
        case S_IFREG:
            if Int(st.st_size) > maxFileSize { throw PatchBuilder.tooBig(full, size: Int(st.st_size)) }
            let read: (bytes: [UInt8], stat: stat)
            do { read = try dir.readFile(name, limit: maxFileSize) } catch {
                // Grown past the limit since the check: the same one-line refusal.
                if let now = dir.status(name), Int(now.st_size) > maxFileSize { throw PatchBuilder.tooBig(full, size: Int(now.st_size)) }
                throw error
            }
            let mode: FileMode = (read.stat.st_mode & 0o100) != 0 ? .executable : .regular
            return FileVersion(path: repoPath, mode: mode, content: read.bytes)
        case S_IFDIR:
            throw PatchKeeperError("\(full) is a directory", hint: "name the files in it")
        default:
            throw PatchKeeperError("\(full) is not a regular file or symlink")
        }
    }

    /// Writes `file` to `root/rel` atomically (content and exec bit; a symlink as a link).
    /// Creates missing parent directories. An existing file keeps its owner, mode (but for the
    /// exec bit) and extended attributes, all set on the temp file before it is renamed in.
    public static func write(_ file: FileVersion, root: String, relativePath rel: String) throws {
        try LiveIO.runBeforeWrite(root: root, rel)
        // What this write creates in the app tree (directories, a new file) belongs to whoever
        // owns the directory it goes in, as the deploy left it: never to root.
        guard let found = try LiveIO.parent(root: root, relativePath: rel, create: true, inheritOwner: true) else {
            throw PatchKeeperError("cannot write \(root)/\(rel): a directory on the way is missing")
        }
        let (dir, name) = found
        if file.mode == .symlink {
            try dir.replaceSymlink(name, target: file.content)
            return
        }
        if let st = dir.status(name), (st.st_mode & S_IFMT) == S_IFLNK {
            // A regular file replaces a symlink: drop the link first (never write through it).
            try dir.remove(name)
        }
        try dir.replaceFile(name, with: file.content, newMode: file.mode == .executable ? 0o755 : 0o644,
                            executable: file.mode == .executable, inheritOwner: true, displayPath: root + "/" + rel)
    }

    /// Removes `root/rel` (a file or link) durably; nothing when it or a directory on the way is missing.
    public static func remove(root: String, relativePath rel: String) throws {
        try LiveIO.runBeforeWrite(root: root, rel)
        guard let found = try LiveIO.parent(root: root, relativePath: rel, create: false) else { return }
        try found.0.remove(found.1)
    }

    /// True when `root/rel` exists (as anything), looked up without following links.
    public static func exists(root: String, relativePath rel: String) throws -> Bool {
        guard let found = try LiveIO.parent(root: root, relativePath: rel, create: false) else { return false }
        return found.0.status(found.1) != nil
    }

    /// Removes temp files a crashed writer left next to `root/rel`.
    public static func removeStaleTemps(root: String, relativePath rel: String) {
        guard let found = (try? LiveIO.parent(root: root, relativePath: rel, create: false)) ?? nil else { return }
        found.0.removeStaleTemps(prefix: DirectoryHandle.tempPrefix(for: found.1))
    }
}
