import Git
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads files of the live tree as git sees them: regular (100644), executable (100755) or
/// symlink (120000, content = link target, never followed).
public enum LiveTree {
    /// The file at `root/rel`, labelled with `repoPath`; nil when it does not exist.
    public static func read(root: String, relativePath rel: String, repoPath: String) throws -> FileVersion? {
        let full = root + "/" + rel
        guard let st = POSIX.lstat(full) else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw PatchKeeperError("cannot read \(full): \(POSIX.errorText())")
        }
        switch st.st_mode & S_IFMT {
        case S_IFLNK:
            return FileVersion(path: repoPath, mode: .symlink, content: try POSIX.readLink(full))
        case S_IFREG:
            let mode: FileMode = (st.st_mode & 0o100) != 0 ? .executable : .regular
            return FileVersion(path: repoPath, mode: mode, content: try POSIX.readFile(full))
        case S_IFDIR:
            throw PatchKeeperError("\(full) is a directory", hint: "name the files in it")
        default:
            throw PatchKeeperError("\(full) is not a regular file or symlink")
        }
    }

    /// Writes `file` to `root/rel` atomically (content and exec bit; a symlink as a link).
    /// Creates missing parent directories. An existing file keeps its owner.
    public static func write(_ file: FileVersion, root: String, relativePath rel: String) throws {
        let full = root + "/" + rel
        // What this write creates (directories, the file) belongs to whoever owns the directory
        // it goes in, as the deploy left it: never to root, or the deploy user could not
        // replace or remove it next time.
        var created: [String] = []
        var existing = POSIX.parentDirectory(full)
        while !POSIX.isDirectory(existing), existing.count > 1 {
            created.append(existing)
            existing = POSIX.parentDirectory(existing)
        }
        let owner = POSIX.lstat(existing).map { ($0.st_uid, $0.st_gid) }
        let isNew = POSIX.lstat(full) == nil
        defer {
            if let owner, geteuid() == 0 {
                for d in created where POSIX.isDirectory(d) { _ = lchown(d, owner.0, owner.1) }
                if isNew, POSIX.lstat(full) != nil { _ = lchown(full, owner.0, owner.1) }
            }
        }
        try POSIX.makeDirectories(POSIX.parentDirectory(full))
        if file.mode == .symlink {
            try AtomicFile.writeSymlink(target: file.content, at: full)
            return
        }
        if let st = POSIX.lstat(full), (st.st_mode & S_IFMT) == S_IFLNK {
            // A regular file replaces a symlink: drop the link first (never write through it).
            try AtomicFile.remove(full)
        }
        try AtomicFile.write(file.content, to: full, mode: file.mode == .executable ? 0o755 : 0o644)
        if let st = POSIX.lstat(full) {
            let exec = (st.st_mode & 0o100) != 0
            if exec != (file.mode == .executable) {
                var m = st.st_mode & 0o7777
                m = file.mode == .executable ? m | ((m & 0o444) >> 2) : m & ~0o111
                _ = chmod(full, m)
            }
        }
    }
}
