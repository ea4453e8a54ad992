import Foundation
import Testing
import TestSupport

/// A reapply whose job was done (live file written, registry commit made) when a later step
/// failed: reported as done, with the failure as `trouble`, and exit 2 (not 0, not "refused").
@Suite("reapply: done, then trouble")
struct ReapplyTroubleTests {
    @Test("a stale index.lock in the registry: the patch is reapplied and committed, the run says trouble and exits 2")
    func indexLockAfterCommit() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 2.hours do\n  RssCleanup.run\nend\n")
        let rec = pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags)
        #expect(rec.status == 0, "\(rec.stderr)")
        app.commit(["src/api/README": "The API, v2.\n"], message: "v2", tag: "v2")
        app.deploy("v2")  // a new revision: the patch is overwritten and will be rebased
        let head = git(["rev-parse", "HEAD"], in: app.registry)
        #expect(FileManager.default.createFile(atPath: app.registry + "/.git/index.lock", contents: nil))
        let r = pk(["reapply", "--format", "json"] + app.flags)
        #expect(r.status == 2, "exit \(r.status): \(r.stdout)\(r.stderr)")
        let doc = try #require((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any], "\(r.stdout)\(r.stderr)")
        let patch = try #require((doc["patches"] as? [[String: Any]])?.first)
        #expect(patch["action"] as? String == "reapplied")
        #expect((patch["trouble"] as? String)?.contains("could not write the registry's index") == true, "\(patch)")
        #expect(app.scratch.read("live/config/clock.rb") == "every 2.hours do\n  RssCleanup.run\nend\n")
        #expect(git(["rev-parse", "HEAD"], in: app.registry) != head)
        // Text mode says the same on a rerun once the lock is gone: nothing left to do.
        try FileManager.default.removeItem(atPath: app.registry + "/.git/index.lock")
        let again = pk(["reapply"] + app.flags)
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
    }
}
