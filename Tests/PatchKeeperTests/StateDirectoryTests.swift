import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

/// Files of `.patchkeeper/` are reached through the directory's verified descriptor only: a
/// registry root someone else owns (root with `--trust-repo`) lets them rename `.patchkeeper`
/// and put a link in its place at any moment after the check.
@Suite("state directory by descriptor")
struct StateDirectoryTests {
    static func fixture() throws -> (AppFixture, Deployment) {
        let app = AppFixture()
        let cfg = try app.appConfig()
        try Registry.create(path: app.registry, app: cfg.name, committer: Person(name: "t", email: "t@t"), now: Date())
        return (app, try Deployment(app: cfg))
    }

    static let patchText = "From 0123456789012345678901234567890123456789 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\nDate: Tue, 01 Dec 2026 00:00:00 +0000\nSubject: [PATCH] t\n\nr\n\nPatch-Id: 0001\nBase: 0123456789012345678901234567890123456789\nStatus: active\n---\n f | 1 +\n\ndiff --git a/f b/f\nindex 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"

    static func names(_ dir: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    @Test("a link swapped in for .patchkeeper after it was verified gets no lock, read or write")
    func swappedAfterCheck() throws {
        let (app, deployment) = try Self.fixture()
        let registry = try Registry(path: app.registry)
        let report = try TreeScanner(deployment: deployment, registry: registry).scan()
        let saved = try LastScan.save(report, registry: registry)
        let state = app.registry + "/.patchkeeper"
        let moved = app.registry + "/.patchkeeper-moved"
        let elsewhere = app.scratch.file("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)

        // Swapped while the lock is held: the journal is written nowhere.
        var lock: RegistryLock? = try registry.lock(wait: 0)
        #expect(rename(state, moved) == 0)
        #expect(symlink(elsewhere, state) == 0)
        #expect(throws: PatchKeeperError.self) { try registry.writeStateFile("journal.json", Array("{}".utf8), durable: true) }
        withExtendedLifetime(lock) {}
        lock = nil

        // Later: the link is refused, never followed, by this registry object and a new one.
        #expect(throws: PatchKeeperError.self) { try LastScan.save(report, registry: registry) }
        let push = FleetPushState(remote: "r", host: "h", ok: true, lastAttempt: Date(timeIntervalSince1970: 1), lastSuccess: nil, pendingSince: nil, error: nil)
        #expect(throws: PatchKeeperError.self) { try push.save(registry) }
        #expect(throws: PatchKeeperError.self) { _ = try Registry(path: app.registry).lock(wait: 0) }
        #expect(Self.names(elsewhere) == [], "written through the link")
        #expect(!Self.names(moved).contains("journal.json"))

        // What is planted behind the link is never read.
        try Data("{\"checkedAt\":0,\"deployedRevision\":\"x\",\"states\":{},\"unregistered\":[\"planted\"]}".utf8)
            .write(to: URL(fileURLWithPath: elsewhere + "/last-scan.json"))
        #expect(LastScan.load(registry: registry) == nil)

        // Put back, the directory is used again.
        #expect(unlink(state) == 0 && rename(moved, state) == 0)
        #expect(LastScan.load(registry: registry)?.unregistered == saved.unregistered)
        #expect(LastScan.load(registry: registry)?.states == saved.states)
    }

    @Test("a state directory moved aside is not locked again: a writer that locked the new one keeps others out")
    func movedAsideIsNotRelocked() throws {
        let (app, _) = try Self.fixture()
        let first = try Registry(path: app.registry)
        do { _ = try first.lock(wait: 0) }  // taken and released: its directory is now known
        #expect(rename(app.registry + "/.patchkeeper", app.registry + "/.patchkeeper-aside") == 0)
        let second = try Registry(path: app.registry)
        let held = try second.lock(wait: 0)  // a new .patchkeeper, locked
        #expect(Self.names(app.registry + "/.patchkeeper").contains("lock"))
        #expect(throws: PatchKeeperError.self) { _ = try first.lock(wait: 0) }
        withExtendedLifetime(held) {}
    }

    @Test("a state directory moved away after a job's commit: the job stands, live files and registry agree, the journal goes")
    func movedAfterCommit() throws {
        let (app, deployment) = try Self.fixture()
        let registry = try Registry(deployment: deployment)
        let patch = try JournaledJobTests.write(app, "fix.patch", JournaledJobTests.clockOnly)
        Registry.testHooks.withLock { $0[registry.path] = .init(afterCommit: { path in
            _ = rename(path + "/.patchkeeper", path + "/.patchkeeper-moved")
            _ = mkdir(path + "/.patchkeeper", 0o700)
        }) }
        defer { Registry.testHooks.withLock { $0[registry.path] = nil } }
        _ = try Applier.apply(Applier.Request(patchPath: patch, title: "t", reason: "r"), deployment: deployment, registry: registry)
        #expect(app.scratch.read("live/config/clock.rb")?.hasPrefix("every 2.hours do") == true, "the live file was rolled back")
        #expect(git(["log", "--format=%s", "-1"], in: app.registry).contains("0001"))
        #expect(!Self.names(app.registry + "/.patchkeeper-moved").contains("journal.json"))
        #expect(Self.names(app.registry + "/.patchkeeper") == [])
    }

    @Test("a writer whose locked state directory was moved away commits nothing more")
    func movedWhileLockedRefusesCommit() throws {
        let (app, _) = try Self.fixture()
        let registry = try Registry(path: app.registry)
        let lock = try registry.lock(wait: 0)
        try registry.requireLockedStateDirectory()
        #expect(rename(app.registry + "/.patchkeeper", app.registry + "/.patchkeeper-aside") == 0)
        #expect(throws: PatchKeeperError.self) { try registry.requireLockedStateDirectory() }
        let head = git(["rev-parse", "HEAD"], in: app.registry)
        let patches = try registry.load()
        #expect(patches.isEmpty)
        #expect(throws: PatchKeeperError.self) {
            _ = try registry.writeAndCommit(try PatchFile.parse(Self.patchText, fileName: "0001-t.patch"), action: "record", reason: nil,
                                            author: Person(name: "t", email: "t@t"), now: Date())
        }
        #expect(git(["rev-parse", "HEAD"], in: app.registry) == head)
        #expect(!FileManager.default.fileExists(atPath: app.registry + "/0001-t.patch"))
        withExtendedLifetime(lock) {}
    }

    @Test("a reapply that rebuilds HEAD's own patch and fails at its second file puts the first back (nothing half-written)")
    func failedReapplyOfCommittedTextRollsBack() throws {
        let (app, deployment) = try Self.fixture()
        let registry = try Registry(deployment: deployment)
        let patch = try JournaledJobTests.write(app, "fix.patch", JournaledJobTests.twoFiles)
        _ = try Applier.apply(Applier.Request(patchPath: patch, title: "t", reason: "r"), deployment: deployment, registry: registry)
        let head = git(["rev-parse", "HEAD"], in: app.registry)
        app.deploy("v1")  // the same revision again: the patch is overwritten, its text unchanged
        #expect(app.scratch.read("live/config/clock.rb") == AppFixture.clock)
        Registry.testHooks.withLock { $0[registry.path] = .init(beforeLiveWrite: { rel in
            if rel.hasSuffix("workers.yml") { throw PatchKeeperError("injected failure writing \(rel)") }
        }) }
        defer { Registry.testHooks.withLock { $0[registry.path] = nil } }
        let outcomes = try? Reapplier(deployment: deployment, registry: registry).run(dryRun: false, lockWait: 0)
        #expect(app.scratch.read("live/config/clock.rb") == AppFixture.clock, "left half-written: \(String(describing: outcomes))")
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 30\nconcurrency: 4\n")
        #expect(git(["rev-parse", "HEAD"], in: app.registry) == head)
        #expect(!Self.names(app.registry + "/.patchkeeper").contains("journal.json"))
    }

    @Test("a commit that lands before a later step fails (the registry index's write) is reported as done, and stands")
    func indexWriteFailsAfterCommit() throws {
        let (app, deployment) = try Self.fixture()
        let registry = try Registry(deployment: deployment)
        let patch = try JournaledJobTests.write(app, "fix.patch", JournaledJobTests.clockOnly)
        let before = git(["rev-parse", "HEAD"], in: app.registry)
        #expect(FileManager.default.createFile(atPath: app.registry + "/.git/index.lock", contents: nil))
        var message = ""
        do {
            _ = try Applier.apply(Applier.Request(patchPath: patch, title: "t", reason: "r"), deployment: deployment, registry: registry)
        } catch let e as PatchKeeperError {
            message = e.message + " " + (e.hint ?? "")
        }
        let after = git(["rev-parse", "HEAD"], in: app.registry)
        // libgit2 1.5 creates the commit and moves HEAD, then fails to write the index.
        #expect(after != before)
        #expect(message.contains("was done and committed"), "\(message)")
        #expect(app.scratch.read("live/config/clock.rb")?.hasPrefix("every 2.hours do") == true, "rolled back under a commit")
        #expect(!Self.names(app.registry + "/.patchkeeper").contains("journal.json"))
        // Afterwards the file is not taken for a hand edit (it holds HEAD's bytes), and the next
        // writer says the index is behind instead of "remove it".
        try FileManager.default.removeItem(atPath: app.registry + "/.git/index.lock")
        let again = try Registry(deployment: deployment)
        #expect(try again.handEdits() == [])
        let lock = try again.lock(wait: 0)
        #expect(again.recovered.contains { $0.contains("index differs from HEAD") && $0.contains("0001-t.patch") }, "\(again.recovered)")
        #expect(!again.recovered.contains { $0.contains("or remove it") })
        withExtendedLifetime(lock) {}
    }
}
