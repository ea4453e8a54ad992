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
                let holder = Self.holder(fd)
                close(fd)
                throw PatchKeeperError("the registry is locked by another patchkeeper process\(holder.map { " (\($0))" } ?? "") (\(path))",
                                       hint: "wait for it to finish, or pass --wait SECONDS", kind: .locked)
            }
            usleep(50_000)
        }
        self.fd = fd
        // Who holds it, for the next one's message: "pid 4121, patchkeeper reapply".
        let args = CommandLine.arguments.prefix(2).map { POSIX.baseName($0) }.joined(separator: " ")
        let text = Array("pid \(getpid()), \(Text.singleLine(args).prefix(80))\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
    }

    /// What the holder wrote into the lock file, when it is still running.
    private static func holder(_ fd: Int32) -> String? {
        var buf = [UInt8](repeating: 0, count: 128)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = Text.singleLine(String(decoding: buf[0..<n], as: UTF8.self))
        guard text.hasPrefix("pid "), let pid = Int32(text.dropFirst(4).prefix { $0.isNumber }), kill(pid, 0) == 0 || errno == EPERM else { return nil }
        return text
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
