import Foundation
import Testing
import TestSupport

/// Attack 3: retire --revert, propose, edit, status, --all-apps, config layout.
@Suite("Attack3")
struct Attack3Tests {
    func recorded() -> AppFixture {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        let r = pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "slow jobs"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    @Test("retire --revert after a deploy that carries the fix must not put the old preimage back (undoing part of the deploy)")
    func revertAfterUpstreamDeploy() throws {
        let app = recorded()
        // v2 takes the fix (same bytes) and is deployed; the patch is still active.
        app.commit(["src/api/config/workers.yml": "timeout: 120\nconcurrency: 4\n"], message: "take the fix", tag: "v2")
        app.deploy("v2")
        #expect(pk(["scan"] + app.flags).status == 0)
        let r = pk(["retire", "0001", "--revert", "--reason", "fixed upstream"] + app.flags)
        // Whatever retire does, the live file must stay what the deployed revision has ...
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 120\nconcurrency: 4\n", "\(r.status) \(r.stderr)")
        // ... and scan must not find an unregistered change afterwards.
        let s = pk(["scan"] + app.flags)
        #expect(s.status == 0, "\(s.stdout)")
    }

    @Test("edit --reason accepts a '---' line the way record does (escaped), instead of failing with a journal error")
    func editReasonWithSeparatorLine() throws {
        let app = recorded()
        let e = pk(["edit", "0001", "--reason", "why\n---\nmore"] + app.flags)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(!e.stderr.contains("journal"), "\(e.stderr)")
        let text = try #require(app.scratch.read("registry/0001-raise-timeout.patch"))
        #expect(text.contains("why\n- - -\nmore"), "\(text)")
        #expect(pk(["list"] + app.flags).status == 0)
    }
}
