import Foundation
import Git
import Testing
import TestSupport

/// `patchIDs(touching:)` skips commits and limits diffs to the patches' paths; it must give the
/// same answer as diffing every commit whole, for every commit that could carry one of those
/// patches (its changed files all among the paths).
@Suite("patch-ids limited to paths")
struct PatchIDPathsTests {
    /// Paths the generator writes: files in nested and sibling directories, names that are equal
    /// only under Unicode equivalence (NFC and NFD "é"), and "d/x", which is a file in some
    /// commits and a directory (holding "d/x/y") in others.
    static let pool = ["a/f1", "a/f2", "a/b/g1", "a/b/g2", "c/h1", "c/h2", "top",
                       "caf\u{E9}/n", "cafe\u{301}/n", "d/x", "d/x/y", "d/z"]

    @Test("for random histories and path sets, every commit whose changes lie in the paths keeps its whole-diff patch-id, and nothing else is reported")
    func limitedEqualsWhole() throws {
        var rng = SplitMix64(seed: 0xC0FF_EE13)
        var checked = 0, candidates = 0
        for round in 0..<12 {
            let s = Scratch()
            let repo = s.file("app")
            git(["init", "-q", repo], in: s.path)
            var stream = ""
            var mark = 0
            var files: [String: (mode: String, data: String)] = [:]
            func commit(_ ops: [String]) {
                mark += 1
                stream += "commit refs/heads/main\nmark :\(mark)\ncommitter T <t@example.org> \(1_700_000_000 + mark) +0000\ndata 2\nc\n"
                if mark > 1 { stream += "from :\(mark - 1)\n" }
                stream += ops.joined()
            }
            func write(_ p: String, _ mode: String, _ data: String) -> String {
                // A file replaces a directory at its path and a directory a file (fast-import does
                // the same): keep the model in step.
                for k in files.keys where k.hasPrefix(p + "/") || p.hasPrefix(k + "/") { files[k] = nil }
                files[p] = (mode, data)
                return "M \(mode) inline \(p)\ndata \(data.utf8.count)\n\(data)\n"
            }
            let contents = ["one\n", "two\n", "one\ntwo\n", "three\nfour\n", ""]
            commit(Self.pool.filter { !["d/x/y", "cafe\u{301}/n"].contains($0) }.map { write($0, "100644", "base \($0)\n") })
            for _ in 0..<40 {
                var ops: [String] = []
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let p = Self.pool.randomElement(using: &rng)!
                    switch Int.random(in: 0..<10, using: &rng) {
                    case 0..<5: ops.append(write(p, "100644", contents.randomElement(using: &rng)!))
                    case 5: ops.append(write(p, files[p]?.mode == "100755" ? "100644" : "100755", files[p]?.data ?? "x\n"))
                    case 6: ops.append(write(p, "120000", "target"))
                    case 7: files[p] = nil; ops.append("D \(p)\n")
                    case 8: ops.append("M 160000 \(String(repeating: "ab", count: 20)) \(p)\n"); files[p] = nil
                    default: ops.append(write(p, "100644", "base \(p)\n"))  // back to the start: repeated patch-ids
                    }
                }
                commit(ops)
            }
            s.write("stream", stream)
            let r = run("/bin/sh", ["-c", "git fast-import --quiet < ../stream"], cwd: repo)
            #expect(r.status == 0, "fast-import: \(r.stderr)")
            let repository = try Repository.open(atPath: repo)
            let revs = git(["rev-list", "--reverse", "main"], in: repo).split(separator: "\n").map(String.init)
            let base = try repository.resolveCommit(revs[0]), tip = try repository.resolveCommit(revs.last!)
            let whole = try repository.patchIDs(from: base, to: tip)
            var changed: [ObjectID: [String]] = [:]
            for c in revs.dropFirst() {
                let out = run("/usr/bin/git", ["diff-tree", "-r", "-z", "--no-renames", "--name-only", "\(c)^", c], cwd: repo)
                changed[try repository.resolveCommit(c)] = out.stdout.split(separator: "\0").map(String.init)
            }
            for _ in 0..<8 {
                let paths = Set((0..<Int.random(in: 1...5, using: &rng)).map { _ in Self.pool.randomElement(using: &rng)! })
                let limited = try repository.patchIDs(from: base, to: tip, touching: paths)
                // Nothing reported that the whole diffs do not say.
                for (id, c) in limited {
                    #expect(whole[id] == c, "round \(round) paths \(paths.sorted()): \(c.short) reported with patch-id \(id.short)")
                }
                // Every commit that could carry a patch of these paths is there.
                for (id, c) in whole {
                    guard let files = changed[c], !files.isEmpty else { continue }
                    // git prints names as bytes; compare them as bytes too (NFC ≠ NFD).
                    guard files.allSatisfy({ f in paths.contains { Array($0.utf8) == Array(f.utf8) } }) else { continue }
                    candidates += 1
                    #expect(limited[id] == c, "round \(round) paths \(paths.sorted()): \(c.short) (changes \(files.sorted())) missing")
                }
                checked += 1
            }
        }
        #expect(checked == 96)
        #expect(candidates > 50, "the generator must produce commits inside the path sets (\(candidates))")
    }
}

/// A small seeded generator (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
