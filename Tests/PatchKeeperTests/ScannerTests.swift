import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

@Suite("Scanner")
struct ScannerTests {
    @Test("a file that changes while it is hashed is reported as a problem, not fatal; a vanished one as deleted")
    func changedDuringScan() throws {
        let app = AppFixture()
        let cfg = try app.appConfig()
        try Registry.create(path: app.registry, app: "t", committer: Person(name: "t", email: "t@t"), now: Date())
        let deployment = try Deployment(app: cfg)
        var scanner = TreeScanner(deployment: deployment, registry: try Registry(path: app.registry))
        let root = app.root
        scanner.beforeHash = { path in
            if path == "config/workers.yml" {
                try? "timeout: 30\nconcurrency: 4\n# grown during the scan\n".write(toFile: root + "/config/workers.yml", atomically: false, encoding: .utf8)
            }
            if path == "README" { try? FileManager.default.removeItem(atPath: root + "/README") }
        }
        let report = try scanner.scan()
        #expect(report.problems.map(\.path) == ["src/api/config/workers.yml"])
        #expect(report.problems.first?.message.contains("changed while it was being scanned") == true)
        #expect(report.unregistered == [.init(path: "src/api/README", kind: .deleted)])
        #expect(!report.isClean)
    }

    @Test("a tracked file swapped for a FIFO between the walk and its hashing is a problem, not a hang")
    func fifoSwappedInMidWalk() throws {
        let app = AppFixture()
        let cfg = try app.appConfig()
        try Registry.create(path: app.registry, app: "t", committer: Person(name: "t", email: "t@t"), now: Date())
        let deployment = try Deployment(app: cfg)
        var scanner = TreeScanner(deployment: deployment, registry: try Registry(path: app.registry))
        var options = TreeScanner.Options()
        options.useCache = false
        scanner.options = options
        let root = app.root
        scanner.beforeHash = { path in
            if path == "config/workers.yml" {
                unlink(root + "/config/workers.yml")
                mkfifo(root + "/config/workers.yml", 0o644)
            }
        }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<ScanReport, Error>?
        nonisolated(unsafe) let s = scanner
        Thread.detachNewThread {
            result = Result { try s.scan() }
            done.signal()
        }
        try #require(done.wait(timeout: .now() + 20) == .success, "scan hung on a FIFO swapped in mid-walk")
        let report = try #require(try result?.get())
        #expect(report.problems.map(\.path) == ["src/api/config/workers.yml"], "\(report.problems)")
        #expect(report.problems.first?.message.contains("not a regular file") == true, "\(report.problems)")
        #expect(!report.isClean)
    }

    @Test("SHA-256 matches the FIPS 180-4 examples and sha256sum, across block boundaries")
    func sha256() throws {
        var a = SHA256()
        a.update(Array("abc".utf8))
        #expect(a.hexDigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var b = SHA256()
        b.update(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
        #expect(b.hexDigest() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var e = SHA256()
        #expect(e.hexDigest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // A million 'a's fed in uneven pieces.
        var m = SHA256()
        var left = 1_000_000
        var n = 1
        while left > 0 {
            let k = min(left, n)
            m.update([UInt8](repeating: 97, count: k))
            left -= k
            n = n * 3 % 1000 + 1
        }
        #expect(m.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("an LFS pointer parses only in its own shape")
    func lfsPointerParse() {
        let oid = String(repeating: "ab", count: 32)
        #expect(LFSPointer(Array("version https://git-lfs.github.com/spec/v1\noid sha256:\(oid)\nsize 12\n".utf8)) != nil)
        #expect(LFSPointer(Array("version https://git-lfs.github.com/spec/v1\noid sha256:\(oid)\nsize 12".utf8)) == nil)
        #expect(LFSPointer(Array("version https://git-lfs.github.com/spec/v1\noid sha256:\(oid.dropLast())\nsize 12\n".utf8)) == nil)
        #expect(LFSPointer(Array("version https://git-lfs.github.com/spec/v1\noid sha1:\(oid)\nsize 12\n".utf8)) == nil)
        #expect(LFSPointer(Array("version https://git-lfs.github.com/spec/v1\noid sha256:\(oid)\nsize -1\n".utf8)) == nil)
        #expect(LFSPointer(Array("hello\n".utf8)) == nil)
    }
}
