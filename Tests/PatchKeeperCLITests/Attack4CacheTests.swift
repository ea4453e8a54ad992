import Foundation
import Testing
import TestSupport

/// Review 3 of the gate1k / patch-id cache work: caches and derived files must never make a later
/// run decide differently from a cold one.
@Suite("Attack4: caches and derived files")
struct Attack4CacheTests {
    func initialised() -> AppFixture {
        let app = AppFixture()
        let r = pk(["init"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    @Test("a 'validated' line written before the header check got stricter (or forged) does not let the file skip it")
    func staleValidatedLine() throws {
        let app = initialised()
        // git reads b//src/api/x as /src/api/x; libgit2 silently as src/api/x. A combining mark
        // after 'diff --git ' hid it from the check before it read bytes: a binary of then noted
        // the file as validated.
        let diff = "diff --git a/src/api/README b/src/api/README\n--- a/src/api/README\n+++ b/src/api/README\n@@ -1 +1 @@\n-The API.\n+The API!\n"
            + "diff --git \u{301}a//src/api/x b//src/api/x\nnew file mode 100644\n--- /dev/null\n+++ b//src/api/x\n@@ -0,0 +1 @@\n+x\n"
        app.scratch.write("registry/0001-evil.patch", HostileInputTests.registryFile(diff, base: app.v1))
        let cold = pk(["scan"] + app.flags)
        #expect(cold.status == 2 && cold.stderr.contains("is absolute"), "\(cold.status) \(cold.stderr)")
        // What the earlier binary left: the file's blob id, as one line (and the hunk note).
        let blob = git(["hash-object", app.registry + "/0001-evil.patch"], in: app.repo)
        app.scratch.write("registry/.patchkeeper/validated", blob + "\nH " + blob)
        let warm = pk(["scan"] + app.flags)
        #expect(warm.status == 2 && warm.stderr.contains("is absolute"), "\(warm.status) \(warm.stdout) \(warm.stderr)")
        let gate = pk(["gate", "--target", app.v1] + app.flags)
        #expect(gate.status == 2 && gate.stderr.contains("is absolute"), "\(gate.status) \(gate.stdout) \(gate.stderr)")
    }
}
