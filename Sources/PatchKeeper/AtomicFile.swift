import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that a crash leaves either the old or the new content, never a torn file:
/// temp file in the same directory, fsync, rename over the target, fsync the directory.
public enum AtomicFile {
    /// Replaces (or creates) `path` with `bytes`. An existing file keeps its mode and owner;
    /// a new one gets `mode`. Refuses to write through a symlink at `path`.
    public static func write(_ bytes: [UInt8], to path: String, mode newMode: mode_t = 0o644) throws {
        let dir = POSIX.parentDirectory(path)
        var mode = newMode
        var owner: (uid_t, gid_t)?
        if let st = POSIX.lstat(path) {
            if (st.st_mode & S_IFMT) == S_IFLNK {
                throw PatchKeeperError("refusing to write \(path): it is a symbolic link")
            }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                throw PatchKeeperError("cannot write \(path): it is a directory")
            }
            mode = st.st_mode & 0o7777
            owner = (st.st_uid, st.st_gid)
        }
        removeStaleTemps(for: path)
        let temp = dir + "/.\(POSIX.baseName(path)).pk-tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw PatchKeeperError("cannot write \(path): \(POSIX.errorText())", hint: "check that \(dir) exists and is writable")
        }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        do {
            defer { close(fd) }
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { buf in
                    Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw PatchKeeperError("cannot write \(path): \(POSIX.errorText())")
                }
                offset += n
            }
            if let owner { _ = fchown(fd, owner.0, owner.1) }
            guard fchmod(fd, mode) == 0 else { throw PatchKeeperError("cannot set mode of \(path): \(POSIX.errorText())") }
            guard fsync(fd) == 0 else { throw PatchKeeperError("cannot flush \(path) to disk: \(POSIX.errorText())") }
        }
        FaultInjector.step("before rename \(path)")
        guard rename(temp, path) == 0 else {
            throw PatchKeeperError("cannot replace \(path): \(POSIX.errorText())")
        }
        ok = true
        syncDirectory(dir)
        FaultInjector.step("after rename \(path)")
    }

    public static func write(_ text: String, to path: String, mode: mode_t = 0o644) throws {
        try write(Array(text.utf8), to: path, mode: mode)
    }

    /// Creates or replaces a symbolic link atomically.
    public static func writeSymlink(target: [UInt8], at path: String) throws {
        let dir = POSIX.parentDirectory(path)
        let temp = dir + "/.\(POSIX.baseName(path)).pk-tmp-\(getpid())"
        unlink(temp)
        let targetString = String(decoding: target, as: UTF8.self)
        guard symlink(targetString, temp) == 0 else { throw PatchKeeperError("cannot create link \(path): \(POSIX.errorText())") }
        FaultInjector.step("before link rename \(path)")
        guard rename(temp, path) == 0 else {
            unlink(temp)
            throw PatchKeeperError("cannot replace \(path): \(POSIX.errorText())")
        }
        syncDirectory(dir)
    }

    /// Removes a file and makes the removal durable.
    public static func remove(_ path: String) throws {
        FaultInjector.step("before remove \(path)")
        guard unlink(path) == 0 || errno == ENOENT else { throw PatchKeeperError("cannot remove \(path): \(POSIX.errorText())") }
        syncDirectory(POSIX.parentDirectory(path))
        FaultInjector.step("after remove \(path)")
    }

    /// Removes temp files a crashed writer left next to `path` (`.NAME.pk-tmp-PID` of a dead PID).
    public static func removeStaleTemps(for path: String) {
        removeStaleTemps(inDirectory: POSIX.parentDirectory(path), prefix: ".\(POSIX.baseName(path)).pk-tmp-")
    }

    /// Removes every stale `.NAME.pk-tmp-PID` in `dir` (or only those starting with `prefix`).
    public static func removeStaleTemps(inDirectory dir: String, prefix: String = ".") {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let r = name.range(of: ".pk-tmp-", options: .backwards),
                  let pid = Int32(name[r.upperBound...]), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(dir + "/" + name) }
        }
    }

    static func syncDirectory(_ dir: String) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }
}
