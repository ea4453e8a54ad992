#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that a crash leaves either the old or the new content, never a torn file:
/// temp file in the same directory, fsync, rename over the target, fsync the directory.
/// The work is done by `DirectoryHandle` on the parent directory's descriptor: the temp file is
/// created `O_EXCL|O_NOFOLLOW` under an unpredictable name, gets its owner, extended attributes
/// and mode through its descriptor before the rename, and the path is never touched afterwards.
public enum AtomicFile {
    /// Replaces (or creates) `path` with `bytes`. An existing file keeps its mode, owner and
    /// extended attributes; a new one gets `mode`. Refuses to write through a symlink at `path`.
    public static func write(_ bytes: [UInt8], to path: String, mode newMode: mode_t = 0o644) throws {
        let dir = try openParent(path)
        try dir.replaceFile(POSIX.baseName(path), with: bytes, newMode: newMode, displayPath: path)
    }

    public static func write(_ text: String, to path: String, mode: mode_t = 0o644) throws {
        try write(Array(text.utf8), to: path, mode: mode)
    }

    /// A derived file the next scan rewrites (a cache, the last scan): atomic, not fsync'd.
    /// Its readers must take an empty or old file (after a power failure) as "none".
    public static func writeDerived(_ bytes: [UInt8], to path: String, mode newMode: mode_t = 0o600) throws {
        let dir = try openParent(path)
        try dir.replaceFile(POSIX.baseName(path), with: bytes, newMode: newMode, displayPath: path, durable: false)
    }

    /// Creates or replaces a symbolic link atomically.
    public static func writeSymlink(target: [UInt8], at path: String) throws {
        try openParent(path).replaceSymlink(POSIX.baseName(path), target: target)
    }

    /// Removes a file and makes the removal durable.
    public static func remove(_ path: String) throws {
        let (dir, code) = DirectoryHandle.tryOpen(POSIX.parentDirectory(path))
        guard let dir else {
            if code == ENOENT || code == ENOTDIR { return }
            throw PatchKeeperError("cannot remove \(path): \(POSIX.errorText(code))")
        }
        try dir.remove(POSIX.baseName(path))
    }

    /// Removes temp files a crashed writer left next to `path` (`.NAME.pk-tmp-PID-…` of a dead PID).
    public static func removeStaleTemps(for path: String) {
        guard let dir = try? openParent(path) else { return }
        dir.removeStaleTemps(prefix: DirectoryHandle.tempPrefix(for: POSIX.baseName(path)))
    }

    /// Removes every stale `.NAME.pk-tmp-PID-…` in `dir` (or only those starting with `prefix`).
    public static func removeStaleTemps(inDirectory dir: String, prefix: String = ".") {
        guard let handle = try? DirectoryHandle.open(dir) else { return }
        handle.removeStaleTemps(prefix: prefix)
    }

    static func openParent(_ path: String) throws -> DirectoryHandle {
        let dir = POSIX.parentDirectory(path)
        let (handle, code) = DirectoryHandle.tryOpen(dir)
        guard let handle else {
            throw PatchKeeperError("cannot write \(path): \(POSIX.errorText(code))", hint: "check that \(dir) exists and is writable")
        }
        return handle
    }
}
