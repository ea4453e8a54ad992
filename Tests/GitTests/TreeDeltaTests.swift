import Foundation
import Git
import Testing
import TestSupport

/// gate reads one tree diff per patch base (`treeDelta`) for both renames and added files, and
/// keeps the answer in its cache file: both must equal what the separate calls gave.
@Suite("one tree diff per base, and its cache lines")
struct TreeDeltaTests {
    @Test("treeDelta gives the same added/deleted files as treeChanges and the same renames as renames(from:to:)")
    func sameAsSeparateDiffs() throws {
        let s = Scratch()
        let repo = s.file("app")
        git(["init", "-q", repo], in: s.path)
        let body = (0..<40).map { "line \($0) of a file long enough to be paired when renamed" }.joined(separator: "\n") + "\n"
        for name in ["a/keep.txt", "a/move.txt", "b/gone.txt", "b/edit.txt", "link-me"] { s.write("app/" + name, body + name + "\n") }
        git(["add", "-A"], in: repo)
        git(["commit", "-qm", "v1"], in: repo)
        git(["rm", "-q", "a/move.txt"], in: repo)
        s.write("app/c/moved.txt", body + "a/move.txt\nplus an edit\n")
        git(["rm", "-q", "b/gone.txt"], in: repo)
        s.write("app/b/edit.txt", "rewritten entirely\n")
        s.write("app/new file, with: commas.txt", "brand new\n")
        git(["add", "-A"], in: repo)
        git(["commit", "-qm", "v2"], in: repo)
        let r = try Repository.open(atPath: repo)
        let v1 = try r.resolveCommit("HEAD~1"), v2 = try r.resolveCommit("HEAD")
        let delta = try r.treeDelta(from: v1, to: v2)
        let changes = try r.treeChanges(from: v1, to: v2)
        #expect(delta.changes.added == changes.added)
        #expect(delta.changes.deleted == changes.deleted)
        #expect(delta.renames.mapValues(\.path) == (try r.renames(from: v1, to: v2)))
        #expect(delta.renames["a/move.txt"]?.path == "c/moved.txt")
        #expect(delta.changes.added["c/moved.txt"] != nil, "added files are read before renames are paired")
    }

    @Test("a cached delta reads back whole (any bytes in a name), and a damaged line is not used at all")
    func cacheLines() throws {
        let cache = PatchIDCache()
        var d = PatchIDCache.Delta()
        d.renames = ["a b/c:d,e": "x\ny/\u{E9}\u{301}", "plain": "other"]
        let blob = ObjectID(hex: String(repeating: "ab", count: 20))!
        d.added = [("z, y:x", blob), ("caf\u{E9}", blob)]
        let key = String(repeating: "1", count: 40) + " " + String(repeating: "2", count: 40)
        cache.storeDelta(key, d)
        let again = PatchIDCache(text: cache.text)
        let back = try #require(again.delta(key))
        #expect(back.renames == d.renames)
        #expect(back.added.map(\.0) == d.added.map(\.0))
        #expect(back.added.map(\.1) == d.added.map(\.1))
        // Every truncation of the line, and a flipped hex digit in a name, drops the entry.
        let line = try #require(cache.text.split(separator: "\n").first { $0.hasPrefix("D ") }).description
        var cut = line
        while !cut.isEmpty {
            cut.removeLast()
            #expect(PatchIDCache(text: cut + "\n").delta(key) == nil, "a cut line was used: \(cut)")
        }
        #expect(PatchIDCache(text: line.replacingOccurrences(of: "D 111", with: "D 11") + "\n").delta(key) == nil)
        let odd = line.replacingOccurrences(of: ",", with: ",0", options: [], range: line.range(of: ","))
        #expect(PatchIDCache(text: odd + "\n").delta(key) == nil)
        // Empty lists.
        let empty = PatchIDCache()
        empty.storeDelta(key, PatchIDCache.Delta())
        let e = try #require(PatchIDCache(text: empty.text).delta(key))
        #expect(e.renames.isEmpty && e.added.isEmpty)
    }
}
