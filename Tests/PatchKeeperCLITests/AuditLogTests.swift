import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for /dev/log: what patchkeeper (and logger) send to it.
final class SyslogSink {
    let path: String
    let fd: Int32

    init(_ path: String) {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        precondition(rc == 0, "bind \(path)")
    }

    deinit { close(fd); unlink(path) }

    /// Every message received so far.
    func drain() -> [String] {
        var out: [String] = []
        var buf = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = recv(fd, &buf, buf.count, Int32(MSG_DONTWAIT))
            if n <= 0 { break }
            out.append(String(decoding: buf[0..<n], as: UTF8.self))
        }
        return out
    }
}

@Suite("audit trail in the system log")
struct AuditLogTests {
    @Test("every registry write and every gate verdict is one syslog line with the real user and the patch id")
    func oneLinePerEvent() throws {
        let app = AppFixture()
        let sink = SyslogSink(app.scratch.file("log.sock"))
        let env = ["PATCHKEEPER_SYSLOG_SOCKET": sink.path, "SUDO_USER": "jane"]
        #expect(pk(["init"] + app.flags, env: env).status == 0)
        _ = sink.drain()
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        #expect(pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "r"] + app.flags, env: env).status == 0)
        var lines = sink.drain()
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.first?.contains("patchkeeper[") == true && lines.first?.contains("event=record 0001") == true, "\(lines)")
        #expect(lines.first?.contains("via sudo by jane") == true, "\(lines)")

        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        _ = pk(["gate", "--target", "v2"] + app.flags, env: env)
        lines = sink.drain()
        #expect(lines.count == 1 && lines[0].contains("event=gate BLOCKED") && lines[0].contains("0001:reapplies"), "\(lines)")

        #expect(pk(["edit", "0001", "--ticket", "OPS-9"] + app.flags, env: env).status == 0)
        #expect(pk(["retire", "0001", "--reason", "done"] + app.flags, env: env).status == 0)
        lines = sink.drain()
        #expect(lines.count == 2 && lines[0].contains("event=edit 0001") && lines[1].contains("event=retire 0001"), "\(lines)")

        // The deploy hook's override is logged too (by logger, to the same socket).
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/logger") {
            let hook = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("contrib/hooks/pre-deploy.sh").path
            let r = run("/bin/sh", [hook, "v2"], env: env.merging(["PATCHKEEPER_SKIP_GATE": "1"]) { $1 })
            #expect(r.status == 0, "\(r.stderr)")
            lines = sink.drain()
            #expect(lines.count == 1 && lines[0].contains("event=gate-override") && lines[0].contains("user=jane"), "\(lines)")
        }
    }
}
