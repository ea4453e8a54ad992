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

/// An exclusive `flock` on the registry: one writer at a time. The kernel drops it when the
/// holding process dies, so a killed writer never leaves a stale lock behind.
public final class RegistryLock {
    private let fd: Int32
    public let path: String

    /// Takes the lock on the file `name` in `directory` (created 0600, never through a link),
    /// waiting up to `wait` seconds (0: fail at once when held).
    init(directory: DirectoryHandle, name: String, wait: Double = 0) throws {
        let path = directory.child(name)
        self.path = path
        let fd = openat(directory.fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o600)
        guard fd >= 0 else {
            throw PatchKeeperError("cannot open lock file \(path): \(POSIX.errorText())")
        }
        let deadline = Self.now() + max(0, wait)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                close(fd)
                throw PatchKeeperError("cannot lock \(path): \(POSIX.errorText())")
            }
            if Self.now() >= deadline {
                let holder = Self.holder(fd)
                close(fd)
                throw PatchKeeperError("the registry is locked by another patchkeeper process\(holder.map { " (\($0))" } ?? "") (\(path))",
                                       hint: "wait for it to finish, or pass --wait SECONDS", kind: .locked)
            }
            usleep(50_000)
        }
        self.fd = fd
    }

    /// Takes the lock on the file at `path` (its directory opened as named).
    public convenience init(path: String, wait: Double = 0) throws {
        try self.init(directory: DirectoryHandle.open(POSIX.parentDirectory(path)), name: POSIX.baseName(path), wait: wait)
    }

    /// The process holding the lock, from the kernel's lock table (`/proc/locks`) and its command
    /// line: "pid 4121, patchkeeper reapply". Nothing is written to find it out.
    private static func holder(_ fd: Int32) -> String? {
        var st = stat()
        guard fstat(fd, &st) == 0, let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        let inode = UInt64(st.st_ino)
        for line in table.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // "1: FLOCK  ADVISORY  WRITE 566 00:2a:1234 0 EOF" (a waiter's line starts "1: ->").
            guard f.count >= 6, f[1] == "FLOCK", let pid = Int32(f[4]) else { continue }
            let dev = f[5].split(separator: ":")
            guard dev.count == 3, UInt64(dev[2]) == inode, pid != getpid() else { continue }
            var cmd = ""
            if let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") {
                cmd = data.split(separator: 0).prefix(3).map { POSIX.baseName(String(decoding: $0, as: UTF8.self)) }.joined(separator: " ")
            }
            return "pid \(pid)" + (cmd.isEmpty ? "" : ", " + Text.singleLine(cmd).prefix(80))
        }
        return nil
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
