import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

/// Files of `.patchkeeper/` are reached through the directory's verified descriptor only: a
/// registry root someone else owns (root with `--trust-repo`) lets them rename `.patchkeeper`
/// and put a link in its place at any moment after the check.
@Suite("state directory by descriptor")
struct StateDirectoryTests {
    @Test("a link swapped in for .patchkeeper after it was verified gets no lock, read or write")
    func swappedAfterCheck() throws {
        let app = AppFixture()
        var o = AppOptions()
        o.root = app.root
        o.repo = app.repo
        o.subdir = "src/api"
        o.registry = app.registry
        let cfg = try o.resolve(environment: [:]).app
        try Registry.create(path: app.registry, app: "t", committer: Person(name: "t", email: "t@t"), now: Date())
        let deployment = try Deployment(app: cfg)
        let registry = try Registry(path: app.registry)
        let report = try TreeScanner(deployment: deployment, registry: registry).scan()
        do { _ = try registry.lock(wait: 0) }  // verifies the state directory
        let state = app.registry + "/.patchkeeper"
        let moved = app.registry + "/.patchkeeper-moved"
        let elsewhere = app.scratch.file("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        #expect(rename(state, moved) == 0)
        #expect(symlink(elsewhere, state) == 0)

        let saved = try LastScan.save(report, registry: registry)
        let push = FleetPushState(remote: "r", host: "h", ok: true, lastAttempt: Date(timeIntervalSince1970: 1), lastSuccess: nil, pendingSince: nil, error: nil)
        try push.save(registry)
        try registry.writeStateFile("journal.json", Array("{}".utf8), durable: true)
        try registry.removeStateFile("journal.json")

        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty, "written through the link")
        let kept = try FileManager.default.contentsOfDirectory(atPath: moved)
        #expect(kept.contains("last-scan.json") && kept.contains("fleet-push") && kept.contains("lock"))
        #expect(!kept.contains("journal.json"))
        #expect(LastScan.load(registry: registry) == saved)
        #expect(FleetPushState.load(registry: registry) == push)

        // What is planted behind the link is never read, by this registry or a new one.
        try Data("{\"checkedAt\":0,\"deployedRevision\":\"x\",\"states\":{},\"unregistered\":[\"planted\"]}".utf8)
            .write(to: URL(fileURLWithPath: elsewhere + "/last-scan.json"))
        #expect(LastScan.load(registry: registry)?.unregistered == saved.unregistered)
        #expect(throws: PatchKeeperError.self) { _ = try Registry(path: app.registry).lock(wait: 0) }
    }
}
