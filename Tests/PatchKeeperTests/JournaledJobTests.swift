import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

/// How a reapply reports and carries on when one patch's journaled job fails part way, or
/// fails only after it was done.
@Suite("journaled jobs in a reapply")
struct JournaledJobTests {
    static func write(_ app: AppFixture, _ name: String, _ text: String) throws -> String {
        let path = app.scratch.file(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let clockPart = "diff --git a/config/clock.rb b/config/clock.rb\n--- a/config/clock.rb\n+++ b/config/clock.rb\n"
        + "@@ -1,3 +1,3 @@\n-every 1.hour do\n+every 2.hours do\n   RssCleanup.run\n end\n"
    static let workersPart = "diff --git a/config/workers.yml b/config/workers.yml\n--- a/config/workers.yml\n+++ b/config/workers.yml\n"
        + "@@ -1,2 +1,2 @@\n-timeout: 30\n+timeout: 60\n concurrency: 4\n"
    static let clockOnly = clockPart + "\n"
    static let twoFiles = clockPart + workersPart + "\n"

    static let onTop = """
    diff --git a/config/clock.rb b/config/clock.rb
    --- a/config/clock.rb
    +++ b/config/clock.rb
    @@ -1,3 +1,3 @@
     every 2.hours do
       RssCleanup.run
    -end
    +end # watched

    """

    static func setUp() throws -> (AppFixture, Deployment, Registry) {
        let app = AppFixture()
        _ = try Initializer.run(options: app.options, environment: [:])
        let deployment = try Deployment(app: try app.appConfig())
        let registry = try Registry(deployment: deployment)
        _ = try Applier.apply(Applier.Request(patchPath: try write(app, "1.patch", twoFiles), title: "one", reason: "r"), deployment: deployment, registry: registry)
        _ = try Applier.apply(Applier.Request(patchPath: try write(app, "2.patch", onTop), title: "two", reason: "r"), deployment: deployment, registry: registry)
        #expect(app.scratch.read("live/config/clock.rb") == "every 2.hours do\n  RssCleanup.run\nend # watched\n")
        app.deploy("v1")  // the same revision again: both patches overwritten
        return (app, deployment, registry)
    }

    @Test("a patch refused part way is put back, and the next patch on its file does not build on what was put back")
    func refusedPatchIsNotCarriedByTheNext() throws {
        let (app, deployment, registry) = try Self.setUp()
        let head = git(["rev-parse", "HEAD"], in: app.registry)
        Registry.testHooks.withLock { $0[registry.path] = .init(beforeLiveWrite: { rel in
            if rel.hasSuffix("workers.yml") { throw PatchKeeperError("injected failure writing \(rel)") }
        }) }
        defer { Registry.testHooks.withLock { $0[registry.path] = nil } }
        let outcomes = try Reapplier(deployment: deployment, registry: registry).run(dryRun: false, lockWait: 0)
        #expect(outcomes.map(\.action) == [.refused, .refused], "\(outcomes.map { ($0.id, $0.action, $0.detail ?? "") })")
        #expect(outcomes.last?.detail?.contains("does not carry patch 0001") == true, "\(outcomes.last?.detail ?? "")")
        #expect(app.scratch.read("live/config/clock.rb") == AppFixture.clock, "a refused patch's change was written")
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 30\nconcurrency: 4\n")
        #expect(git(["rev-parse", "HEAD"], in: app.registry) == head)
        // Once the failure is gone, the same reapply restores both.
        Registry.testHooks.withLock { $0[registry.path] = nil }
        let again = try Reapplier(deployment: deployment, registry: registry).run(dryRun: false, lockWait: 0)
        #expect(again.map(\.action) == [.reapplied, .reapplied])
        #expect(app.scratch.read("live/config/clock.rb") == "every 2.hours do\n  RssCleanup.run\nend # watched\n")
    }

    @Test("a job done and committed whose journal could not be removed is reported as reapplied, with the failure as trouble")
    func doneJobIsNotRefused() throws {
        let (app, deployment, registry) = try Self.setUp()
        Registry.testHooks.withLock { $0[registry.path] = .init(afterCommit: { path in
            // The journal's removal fails: its name is taken by a directory.
            let state = path + "/.patchkeeper"
            _ = unlink(state + "/journal.json")
            _ = mkdir(state + "/journal.json", 0o700)
            _ = FileManager.default.createFile(atPath: state + "/journal.json/keep", contents: nil)
        }) }
        defer { Registry.testHooks.withLock { $0[registry.path] = nil } }
        let outcomes = try Reapplier(deployment: deployment, registry: registry).run(dryRun: false, lockWait: 0)
        #expect(outcomes.first?.action == .reapplied, "\(outcomes.map { ($0.id, $0.action, $0.detail ?? "") })")
        #expect(outcomes.first?.trouble?.contains("was done and committed") == true)
        #expect(outcomes.first?.detail == nil)
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 60\nconcurrency: 4\n")
    }
}
