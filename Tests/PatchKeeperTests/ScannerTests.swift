import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

@Suite("Scanner")
struct ScannerTests {
    @Test("a file that changes while it is hashed is reported as a problem, not fatal; a vanished one as deleted")
    func changedDuringScan() throws {
        let app = AppFixture()
        var o = AppOptions()
        o.root = app.root
        o.repo = app.repo
        o.subdir = "src/api"
        o.registry = app.registry
        let cfg = try o.resolve(environment: [:]).app
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
        var o = AppOptions()
        o.root = app.root
        o.repo = app.repo
        o.subdir = "src/api"
        o.registry = app.registry
        let cfg = try o.resolve(environment: [:]).app
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
}
