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

    /// Takes the lock, waiting up to `wait` seconds (0: fail at once when held).
    public init(path: String, wait: Double = 0) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
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
                close(fd)
                throw PatchKeeperError("the registry is locked by another patchkeeper process (\(path))",
                                       hint: "wait for it to finish, or pass --wait SECONDS", kind: .locked)
            }
            usleep(50_000)
        }
        self.fd = fd
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
