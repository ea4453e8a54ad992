#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The audit trail: one line in the system log (syslog/journald through /dev/log, facility
/// authpriv) for every registry write and every gate verdict, naming the real user behind sudo
/// and the patch ids. Best effort: a missing log socket never fails a command.
/// `PATCHKEEPER_SYSLOG_SOCKET` names another datagram socket (tests use one of their own).
public enum AuditLog {
    /// "user=jane (via sudo, uid 0, loginuid 1000)"
    public static var actor: String {
        let s = "user=\(Text.singleLine(POSIX.userName()))"
        var via: [String] = []
        if let su = Environment.value("SUDO_USER"), !su.isEmpty { via.append("via sudo by \(Text.singleLine(su))") }
        via.append("uid \(getuid())")
        if let data = FileManager.default.contents(atPath: "/proc/self/loginuid"),
           let text = String(data: data, encoding: .utf8).map(Text.trimmedWhitespace),
           let id = UInt32(text), id != UInt32.max {
            via.append("loginuid \(id)")
        }
        return s + " (" + via.joined(separator: ", ") + ")"
    }

    /// Logs `event` ("record 0003", "gate BLOCKED", …) for `app` with `details`.
    public static func log(app: String, event: String, details: String = "") {
        let message = "app=\(Text.singleLine(app)) event=\(Text.singleLine(event)) \(actor)" + (details.isEmpty ? "" : " " + Text.singleLine(details))
        send(message)
    }

    static func send(_ message: String) {
        let path = Environment.value("PATCHKEEPER_SYSLOG_SOCKET") ?? "/dev/log"
        // <86> = facility authpriv (10) * 8 + severity info (6); RFC 3164 framing, as logger(1) sends.
        let line = "<86>patchkeeper[\(getpid())]: \(message)"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let payload = Array(line.utf8.prefix(8000))
        _ = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                payload.withUnsafeBytes { buf in
                    sendto(fd, buf.baseAddress, buf.count, Int32(MSG_DONTWAIT), sa, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
    }
}
