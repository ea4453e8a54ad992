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


/// A file's history in a range (`fileChanges`), what conflict reports and the revert checks read,
/// is kept in the patch-id cache so that a second gate against the same target walks nothing.
@Suite("file histories kept in the patch-id cache")
struct FileHistoryCacheTests {
    @Test("fileChanges equals git's blob ids per commit, survives the cache's text form, and is read back from it")
    func fileChangesCached() throws {
        let s = Scratch()
        let repo = s.file("app")
        git(["init", "-q", repo], in: s.path)
        var stream = ""
        for mark in 1...30 {
            stream += "commit refs/heads/main\nmark :\(mark)\ncommitter T <t@example.org> \(1_700_000_000 + mark) +0000\ndata 2\nc\n"
            if mark > 1 { stream += "from :\(mark - 1)\n" }
            for p in ["a/f", "a/g", "b c/h"] where mark == 1 || (mark * p.count) % 4 == 1 {
                stream += "M 100644 inline \(p)\ndata 8\nv\(String(format: "%06d", mark))\n"
            }
            if mark == 17 { stream += "D a/f\n" }
        }
        s.write("stream", stream)
        #expect(run("/bin/sh", ["-c", "git fast-import --quiet < ../stream"], cwd: repo).status == 0)
        let repository = try Repository.open(atPath: repo)
        let revs = git(["rev-list", "--reverse", "main"], in: repo).split(separator: "\n").map(String.init)
        let base = try repository.resolveCommit(revs[0]), tip = try repository.resolveCommit(revs.last!)
        func blob(_ rev: String, _ path: String) -> String {
            let r = run("/usr/bin/git", ["rev-parse", "--verify", "-q", "\(rev):\(path)"], cwd: repo)
            return r.status == 0 ? r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : "-"
        }
        let cache = PatchIDCache()
        var keys: [String: String] = [:]
        for path in ["a/f", "a/g", "b c/h"] {
            // git's answer: every commit whose blob at the path differs from its parent's.
            let want = revs.dropFirst().compactMap { c -> String? in
                let old = blob("\(c)^", path), new = blob(c, path)
                return old == new ? nil : "\(c):\(old):\(new)"
            }
            let got = try repository.fileChanges(path, from: base, to: tip, cache: cache)
            let text = got.map { "\($0.commit.hex):\($0.old?.hex ?? "-"):\($0.new?.hex ?? "-")" }
            #expect(text == want, "\(path)")
            #expect(!want.isEmpty)
            keys[path] = text.joined(separator: ",")
        }
        #expect(cache.files.count == 3)
        // Through the file's text form and back.
        let again = PatchIDCache(text: cache.text)
        #expect(Set(again.files.values.map { $0.map { "\($0.commit.hex):\($0.old?.hex ?? "-"):\($0.new?.hex ?? "-")" }.joined(separator: ",") })
                == Set(keys.values))
        // A second call reads the cache and does not walk: a kept answer is what comes back.
        let forged = PatchIDCache(text: cache.text.split(separator: "\n").filter { !$0.hasPrefix("F ") }.joined(separator: "\n")
                                  + "\nF \(base.hex) \(tip.hex) \(try ObjectID.hashBlob(Array("a/g".utf8)).hex) \(tip.hex):-:-\n")
        let read = try repository.fileChanges("a/g", from: base, to: tip, cache: forged)
        #expect(read.count == 1 && read[0].commit == tip && read[0].old == nil)
        // The commits a conflict report names, kept the same way.
        cache.storeCommitList("\(base.hex) \(tip.hex) k", [tip, base])
        #expect(PatchIDCache(text: cache.text).commitList("\(base.hex) \(tip.hex) k") == [tip, base])
        // Per-commit patch-ids (read lazily) and whole-range answers, through the text form.
        cache.store(base, tip)
        cache.store(tip, nil)
        cache.storeRange("\(base.hex) \(tip.hex) all", [tip: base])
        let back = PatchIDCache(text: cache.text + "zz -\n\(tip.hex)\n")
        #expect(back.range("\(base.hex) \(tip.hex) all") == [tip: base])
        #expect(back.lookup(base) == .some(tip) && back.lookup(tip) == .some(nil) && back.lookup(ObjectID(hex: String(repeating: "1", count: 40))!) == nil)
        #expect(back.entries.count == 2 && back.files.count == 3)
        // Malformed lines are skipped, not half-read.
        let bad = PatchIDCache(text: "F \(base.hex) \(tip.hex) x \(tip.hex):zz:-\nF a b\nT \(base.hex) \(tip.hex) k \(tip.hex),zz\n")
        #expect(bad.files.isEmpty && bad.commitLists.isEmpty)
    }
}

@Suite("a file's history as git log lists it")
struct FileLogTests {
    @Test("fileLog equals git log --reverse A..B -- PATH on a history with merges that take one side, merges that drop one side, and an evil merge")
    func fileLogEqualsGitLog() throws {
        let s = Scratch()
        let repo = s.file("app")
        git(["init", "-q", repo], in: s.path)
        var stream = ""
        var mark = 0
        var t = 1_700_000_000
        /// A commit with the whole tree given (a, b), parents by mark.
        @discardableResult
        func commit(_ branch: String, _ parents: [Int], a: String, b: String) -> Int {
            mark += 1
            t += 60
            stream += "commit refs/heads/\(branch)\nmark :\(mark)\ncommitter T <t@example.org> \(t) +0000\ndata 2\nc\n"
            if let first = parents.first { stream += "from :\(first)\n" }
            for p in parents.dropFirst() { stream += "merge :\(p)\n" }
            stream += "deleteall\n"
            for (path, text) in [("d/a", a), ("b", b)] { stream += "M 100644 inline \(path)\ndata \(text.utf8.count + 1)\n\(text)\n\n" }
            return mark
        }
        let base = commit("main", [], a: "a0", b: "b0")
        let s1 = commit("side", [base], a: "a-side", b: "b0")
        let s2 = commit("side", [s1], a: "a-side", b: "b-side")
        let m1 = commit("main", [base], a: "a0", b: "b-main")
        let merge1 = commit("main", [m1, s2], a: "a-side", b: "b-main")      // a from side, b from main
        let t1 = commit("side2", [m1], a: "a-t1", b: "b-main")
        let m2 = commit("main", [merge1], a: "a-m2", b: "b-main")
        let evil = commit("main", [m2, t1], a: "a-evil", b: "b-main")        // a differs from both
        let m3 = commit("main", [evil], a: "a-evil", b: "b-m3")
        _ = (s2, merge1, m3)
        s.write("stream", stream)
        let r = run("/bin/sh", ["-c", "git fast-import --quiet < ../stream"], cwd: repo)
        #expect(r.status == 0, "\(r.stderr)")
        let repository = try Repository.open(atPath: repo)
        let marks = git(["rev-list", "--reverse", "--topo-order", "main", "side", "side2"], in: repo).split(separator: "\n").map(String.init)
        #expect(marks.count == mark)
        let from = try repository.resolveCommit(git(["rev-list", "--max-parents=0", "main"], in: repo).trimmingCharacters(in: .whitespacesAndNewlines))
        let to = try repository.resolveCommit("main")
        var checked = 0
        for path in ["d/a", "b"] {
            let want = git(["log", "--reverse", "--format=%H", "\(from.hex)..main", "--", path], in: repo)
                .split(separator: "\n").map(String.init)
            let got = try repository.fileLog(path, from: from, to: to).map(\.commit.hex)
            // The same commits (git orders by date, fileLog topologically: every commit after the
            // ones it descends from, which is what following lines through the diffs needs).
            #expect(got.count == want.count && Set(got) == Set(want), "\(path): \(got) vs \(want)")
            for (i, c) in got.enumerated() {
                for later in got[(i + 1)...] {
                    #expect(run("/usr/bin/git", ["merge-base", "--is-ancestor", later, c], cwd: repo).status != 0,
                            "\(path): \(later) listed after its descendant \(c)")
                }
            }
            checked += want.count
        }
        #expect(checked >= 6, "the history must give both paths several changes")
    }
}
