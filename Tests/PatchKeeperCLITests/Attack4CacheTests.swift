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

extension Attack4CacheTests {
    /// The gate's JSON for `target` with no patch-id cache, then with `cut` applied to the cache
    /// that run left: both must be the same, byte for byte.
    func coldThenCut(_ app: AppFixture, target: String, cut: (String) -> String?) throws -> (cold: ProcessResult, warm: ProcessResult)? {
        let cache = app.registry + "/.patchkeeper/patchids"
        try? FileManager.default.removeItem(atPath: cache)
        let cold = pk(["gate", "--target", target, "--format", "json"] + app.flags)
        let text = try #require(app.scratch.read("registry/.patchkeeper/patchids"))
        guard let damaged = cut(text) else { return nil }
        app.scratch.write("registry/.patchkeeper/patchids", damaged)
        let warm = pk(["gate", "--target", target, "--format", "json"] + app.flags)
        return (cold, warm)
    }

    @Test("a patch-id cache cut inside its last line (a crash without fsync) gives the cold gate's verdict, not a shorter range")
    func truncatedRangeLine() throws {
        let g = GateTests()
        let app = g.app()
        g.recordClock(app)
        let fixed = app.commit(["src/api/config/clock.rb": GateTests.patchedClock], message: "Disable the RSS job upstream", tag: "fixed")
        app.commit(["src/api/config/clock.rb": "every 1.hour do\n  Other.run\nend\n"], message: "rework", tag: "later")
        // Cut the file at every item boundary of its last line (where every field still parses).
        var cuts = 0
        for k in 0..<8 {
            let r = try coldThenCut(app, target: "later") { text -> String? in
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                guard let last = lines.dropLast().last, last.hasPrefix("R ") else { return nil }
                let head = lines.dropLast(2).map { $0 + "\n" }.joined()
                // After the key ("R BASE TARGET DIGEST "), then after each "ID:COMMIT," pair.
                let fields = last.split(separator: " ", omittingEmptySubsequences: false)
                guard fields.count == 5 else { return nil }
                let pairs = fields[4].split(separator: ",")
                guard k <= pairs.count - 1 else { return nil }
                return head + fields[..<4].joined(separator: " ") + " " + pairs.prefix(k).map { $0 + "," }.joined()
            }
            guard let r else { break }
            cuts += 1
            #expect(r.cold.stdout.contains("\"upstreamed\"") && r.cold.stdout.contains(fixed), "\(r.cold.stdout)")
            #expect(r.warm.stdout == r.cold.stdout, "cut \(k): warm \(r.warm.stdout)")
            #expect(r.warm.status == r.cold.status, "cut \(k)")
        }
        #expect(cuts >= 1)
    }
}
