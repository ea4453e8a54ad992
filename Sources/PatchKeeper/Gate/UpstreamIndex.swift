#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// Upstream history between a patch's base and a target: patch-ids of the commits in base..target
/// (as `git cherry` does), the `Commit:` trailer's ancestry, renames and the commits that changed
/// a file. Computed once per distinct base.
struct UpstreamIndex {
    let repository: Repository
    let target: ObjectID
    private var patchIDs: [ObjectID: [ObjectID: ObjectID]] = [:]
    /// Per base: the renames git would find from it to the target, and the files added there.
    private var deltas: [ObjectID: PatchIDCache.Delta] = [:]
    /// Chunk counts of added files for `mostSimilar`, by blob id (each read and chunked once).
    private var chunks: [ObjectID: Similarity.Chunks] = [:]
    /// The paths of all active patches: only commits that change one of them are diffed.
    var paths: Set<String>?
    let cache: PatchIDCache?

    init(repository: Repository, target: ObjectID, cache: PatchIDCache? = nil) {
        self.repository = repository
        self.target = target
        self.cache = cache
    }

    private mutating func ids(from base: ObjectID) -> [ObjectID: ObjectID] {
        if let known = patchIDs[base] { return known }
        let digest = (try? ObjectID.hashBlob(Array((paths ?? []).sorted().joined(separator: "\n").utf8)))?.hex ?? "-"
        let key = "\(base.hex) \(target.hex) \(paths == nil ? "all" : digest)"
        if let known = cache?.range(key) {
            patchIDs[base] = known
            return known
        }
        guard let map = try? repository.patchIDs(from: base, to: target, touching: paths, cache: cache) else { return [:] }
        cache?.storeRange(key, map)
        patchIDs[base] = map
        return map
    }

    /// ("patch-id" | "commit", the commit) when the patch's change is in the target's history.
    /// History alone never decides a verdict: it names the commit of an upstreamed patch, and
    /// with `evidence` turns a conflict into `upstreamed`.
    mutating func match(_ p: PatchFile) throws -> (String, ObjectID)? {
        if let base = p.base, repository.contains(base), let id = try? PatchParser.patchID(p.diffText),
           let commit = ids(from: base)[id] {
            return ("patch-id", commit)
        }
        // A commit the patch's base already had says nothing about the target: the hot patch was
        // made on top of it (a reverted fix put back by hand), so it is no upstream evidence.
        if let c = p.trailer("Commit").flatMap({ try? repository.resolveCommit($0) }),
           (try? repository.isAncestor(c, of: target)) == true,
           !(p.base.map { b in c == b || (repository.contains(b) && (try? repository.isAncestor(c, of: b)) == true) } ?? false) {
            return ("commit", c)
        }
        return nil
    }

    /// `match`, only when the target really took that commit's change, and nothing later took it
    /// out again. Evidence turns a conflict into `upstreamed`, so it must not rest on history alone:
    /// - the commit must be integrated: on the target's first-parent line, or brought in by a
    ///   merge on that line whose own change (against its first parent) touches the patch's files
    ///   (a `git merge -s ours` of the fix takes nothing);
    /// - no later commit may carry the reverse patch-id (a revert), nor revert the patch's lines
    ///   inside a bigger change (its diff removes every line the patch added and adds back every
    ///   line the patch removed).
    mutating func evidence(_ p: PatchFile, images: [(ParsedFilePatch, PatchImages.File?)], source: BlobSource) throws -> (String, ObjectID)? {
        guard let (rule, commit) = try match(p) else { return nil }
        guard let base = p.base, repository.contains(base) else { return nil }
        guard integrated(commit, base: base, files: images.map(\.0), source: source) else { return nil }
        // The reverse patch: every file from post back to pre.
        var changes: [FileChange] = []
        for (f, img) in images {
            guard let img else { return nil }  // cannot tell: no evidence
            let pre = img.pre.flatMap { i in source.content(i.id).map { FileVersion(path: f.oldPath, mode: i.mode, content: $0) } }
            let post = img.post.flatMap { i in source.content(i.id).map { FileVersion(path: f.newPath, mode: i.mode, content: $0) } }
            if (img.pre != nil && pre == nil) || (img.post != nil && post == nil) { return nil }
            changes.append(FileChange(old: post, new: pre))
        }
        guard let text = try? MemoryRepository().makePatch(changes.sorted { $0.path < $1.path }).diff,
              let reverse = try? PatchParser.patchID(text) else { return nil }
        if let revert = ids(from: base)[reverse], (try? repository.isAncestor(commit, of: revert)) == true, revert != commit {
            return nil
        }
        for (f, _) in images where !f.hunks.isEmpty {
            if revertedLater(f, after: commit, source: source) { return nil }
        }
        return (rule, commit)
    }

    /// Whether `commit`'s change reached the target's first-parent line.
    func integrated(_ commit: ObjectID, base: ObjectID, files: [ParsedFilePatch], source: BlobSource) -> Bool {
        guard let chain = try? repository.firstParentChain(from: base, to: target) else { return false }
        if chain.contains(commit) { return true }
        for m in chain {
            guard let info = try? repository.commit(m), info.parents.count >= 2 else { continue }
            guard (try? repository.isAncestor(commit, of: info.parents[1])) == true,
                  (try? repository.isAncestor(commit, of: info.parents[0])) != true else { continue }
            // This merge brought the commit in: did its own change (against its first parent)
            // take the fix? Every text file's diff must carry the patch's lines (a conflict
            // resolved by dropping the fix, or `-s ours`, takes nothing); a binary file must change.
            return !files.isEmpty && files.allSatisfy { f in
                let path = f.path
                let before = (try? repository.entry(atPath: path, inCommit: info.parents[0]))?.id
                let after = (try? repository.entry(atPath: path, inCommit: m))?.id
                if f.hunks.isEmpty { return before != after }
                return Self.diff(path, from: before, to: after, source: source, carries: f, reversed: false)
            }
        }
        return false
    }

    /// A line as the evidence checks compare it: decoded, whitespace dropped.
    static func withoutWhitespace<S: Sequence>(_ line: S) -> String where S.Element == UInt8 {
        String(decoding: Array(line), as: UTF8.self).filter { !$0.isWhitespace }
    }

    /// Whether the diff of `path` from `old` to `new` carries `f`'s change (removes every line it
    /// removed and adds every line it added, whitespace ignored), or with `reversed` undoes it.
    static func diff(_ path: String, from oldID: ObjectID?, to newID: ObjectID?, source: BlobSource,
                     carries f: ParsedFilePatch, reversed: Bool) -> Bool {
        var added: [String: Int] = [:], removed: [String: Int] = [:]
        for h in f.hunks {
            for l in h.lines {
                if l.origin == .addition { added[Self.withoutWhitespace(l.content), default: 0] += 1 }
                if l.origin == .deletion { removed[Self.withoutWhitespace(l.content), default: 0] += 1 }
            }
        }
        if added.isEmpty && removed.isEmpty { return false }
        let old = oldID.flatMap { source.content($0) } ?? (oldID == nil ? [] : nil)
        let new = newID.flatMap { source.content($0) } ?? (newID == nil ? [] : nil)
        guard oldID != newID, let old, let new,
              let text = try? MemoryRepository().makePatch([FileChange(old: FileVersion(path: path, mode: .regular, content: old),
                                                                       new: FileVersion(path: path, mode: .regular, content: new))]).diff,
              let diff = try? PatchParser.parse(text).first else { return false }
        var gone: [String: Int] = [:], came: [String: Int] = [:]
        for h in diff.hunks {
            for l in h.lines {
                if l.origin == .deletion { gone[Self.withoutWhitespace(l.content), default: 0] += 1 }
                if l.origin == .addition { came[Self.withoutWhitespace(l.content), default: 0] += 1 }
            }
        }
        let (mustGo, mustCome) = reversed ? (added, removed) : (removed, added)
        return mustGo.allSatisfy { gone[$0.key, default: 0] >= $0.value } && mustCome.allSatisfy { came[$0.key, default: 0] >= $0.value }
    }

    /// A later commit whose diff of `f`'s file removes every line the patch added and adds back
    /// every line it removed (whitespace ignored): the fix reverted inside a bigger change. The
    /// net diff from the fix's commit to the target counts too (a revert in several steps).
    func revertedLater(_ f: ParsedFilePatch, after commit: ObjectID, source: BlobSource) -> Bool {
        func reverts(_ oldID: ObjectID?, _ newID: ObjectID?) -> Bool {
            guard oldID != nil, newID != nil else { return false }
            return Self.diff(f.path, from: oldID, to: newID, source: source, carries: f, reversed: true)
        }
        // The net change from the fix to the target: a revert spread over several commits (the
        // line dropped, the old value brought back later), or the file deleted and added again.
        let atFix = try? repository.entry(atPath: f.path, inCommit: commit)
        let atTarget = try? repository.entry(atPath: f.path, inCommit: target)
        if let a = atFix, let b = atTarget, a.id != b.id, reverts(a.id, b.id) {
            return true
        }
        // The file left that path after the fix (renamed, moved, deleted): what happened to the
        // fix's lines there is not followed, so it is no evidence (a revert after a rename read
        // as "upstream").
        if atFix != nil && atTarget == nil { return true }
        // Some of the fix undone: a line the patch removed is back in the target (or a line that
        // starts with it: "timeout: 30 # back to default"). Whether the rest is a revert or a
        // rework cannot be told; a conflict then stays a conflict.
        if let a = atFix, let b = atTarget, a.id != b.id, restoresRemovedLine(f, fix: a.id, target: b.id, source: source) {
            return true
        }
        guard let changes = try? repository.fileChanges(f.path, from: commit, to: target, cache: cache) else { return false }
        for (_, oldID, newID) in changes where reverts(oldID, newID) {
            return true
        }
        return false
    }

    /// Whether `target` holds more lines equal to (or starting with) a line the patch removed
    /// than the fix's version does, whitespace ignored. Only lines of four or more characters
    /// that the patch did not also add count (a lone `end` or `}` comes and goes).
    func restoresRemovedLine(_ f: ParsedFilePatch, fix: ObjectID, target: ObjectID, source: BlobSource) -> Bool {
        var added = Set<String>(), removed = Set<String>()
        for h in f.hunks {
            for l in h.lines {
                if l.origin == .addition { added.insert(Self.withoutWhitespace(l.content)) }
                if l.origin == .deletion { removed.insert(Self.withoutWhitespace(l.content)) }
            }
        }
        let candidates = removed.subtracting(added).filter { $0.count >= 4 }
        guard !candidates.isEmpty, let before = source.content(fix), let after = source.content(target) else { return false }
        // A line that starts with one the patch added is the fix (or a rework of it), not the old
        // line back: "line 15 FIXED twice" after "line 15" -> "line 15 FIXED".
        let fixes = added.filter { !$0.isEmpty }
        func count(_ bytes: [UInt8]) -> [String: Int] {
            var out: [String: Int] = [:]
            for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
                let n = Self.withoutWhitespace(line)
                for c in candidates where n.hasPrefix(c) && !fixes.contains(where: { $0.hasPrefix(c) && n.hasPrefix($0) }) {
                    out[c, default: 0] += 1
                }
            }
            return out
        }
        let was = count(before), now = count(after)
        return candidates.contains { now[$0, default: 0] > was[$0, default: 0] }
    }

    /// One tree diff from `base` to the target, shared by renames and `mostSimilar` (and kept in
    /// the cache by base and target: both commits' trees never change): the renames libgit2 pairs,
    /// kept only when git's score (`Similarity.score`) is at least its default 50%, and the first
    /// 500 added files by path.
    private mutating func delta(from base: ObjectID) -> PatchIDCache.Delta {
        if let known = deltas[base] { return known }
        let key = "\(base.hex) \(target.hex)"
        if let known = cache?.delta(key) {
            deltas[base] = known
            return known
        }
        var d = PatchIDCache.Delta()
        if let t = try? repository.treeDelta(from: base, to: target) {
            for (old, r) in t.renames {
                guard let a = r.oldMode, a != .tree, a != .gitlink, let b = r.newMode, b != .tree, b != .gitlink,
                      let x = try? repository.blob(r.oldID), let y = try? repository.blob(r.newID) else { continue }
                if Similarity.score(x, y) >= 50 { d.renames[old] = r.path }
            }
            d.added = t.changes.added.sorted(by: { $0.key < $1.key }).prefix(500).map { ($0.key, $0.value) }
            cache?.storeDelta(key, d)
        }
        deltas[base] = d
        return d
    }

    /// Renames from `base` to the target that git itself would find: libgit2's pairs, kept only
    /// when git's score (`Similarity.score`) is at least its default 50%.
    mutating func renames(from base: ObjectID?, source: BlobSource) throws -> [String: String] {
        guard let base, repository.contains(base) else { return [:] }
        return delta(from: base).renames
    }

    /// The file added in base..target most like `content`, with git's overlap score.
    mutating func mostSimilar(to content: [UInt8], from base: ObjectID?, source: BlobSource) -> (String, Int)? {
        guard let base, repository.contains(base) else { return nil }
        var best: (String, Int)?
        let mine = Similarity.Chunks(content)
        for (path, id) in delta(from: base).added {
            let theirs: Similarity.Chunks
            if let known = chunks[id] { theirs = known } else {
                guard let bytes = source.content(id) else { continue }
                theirs = Similarity.Chunks(bytes)
                chunks[id] = theirs
            }
            let s = Similarity.overlap(mine, theirs)
            if s > (best?.1 ?? 0) { best = (path, s) }
        }
        return best
    }

    /// Bump when `commitsChanging` answers differently (2: merges that took another parent's
    /// version of the file are not named; 3: the file's history as `git log -- path` lists it).
    static let commitListVersion = "commits 3"

    /// The commits in base..target that changed the lines a patch changes in `path` (like
    /// `git log -L`): the patch's changed lines are followed through each commit's diff, oldest
    /// first. Text for a conflict report, or nil when there are none (or no base).
    func commitsTouching(_ path: String, patch: PatchFile, source: BlobSource, pre: [UInt8], file: ParsedFilePatch) -> String? {
        guard let base = patch.base, repository.contains(base) else { return nil }
        let ranges = LineRanges.changed(by: file)
        if ranges.isEmpty { return nil }
        // Kept per (base, target, path, lines): a second gate against the same target re-diffs
        // none of the file's history. The key names the version of how the list is found: a
        // list an older binary kept (it also named merges that took another parent's version)
        // is another answer, never read as this one.
        let key = PatchIDCache.fileKey(path + "\n" + ranges.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
                                       + "\n" + Self.commitListVersion, from: base, to: target)
        let found: [ObjectID]
        if let known = cache?.commitList(key) {
            found = known
        } else {
            guard let list = commitsChanging(ranges, in: path, base: base, source: source) else { return nil }
            cache?.storeCommitList(key, list)
            found = list
        }
        guard !found.isEmpty else { return nil }
        let named = found.reversed().prefix(5).map { c in
            "\(c.short) \"\(Text.singleLine((try? repository.commit(c))?.summary ?? ""))\""
        }
        return named.joined(separator: ", ") + (found.count > 5 ? " and \(found.count - 5) more" : "")
    }

    /// The commits (oldest first) whose diff of `path` overlaps `ranges` as they move through
    /// base..target; nil when the file's history cannot be read.
    private func commitsChanging(_ start: [ClosedRange<Int>], in path: String, base: ObjectID, source: BlobSource) -> [ObjectID]? {
        // The file's history as `git log -- path` has it: a merge that took one side's version is
        // not a change (that side's own commits are), and a side branch the merge left out is not
        // followed at all, as `git log -L` does.
        guard let changes = try? repository.fileLog(path, from: base, to: target) else { return nil }
        var ranges = start
        var found: [ObjectID] = []
        for (c, oldID, newID) in changes {
            guard let oldID, let newID else { continue }
            // Both blobs are the repository's (its trees named them): diffed in place. Through
            // `source` and a scratch repository only when the repository cannot read them.
            let hunks: [Hunk]
            if let direct = try? repository.blobHunks(old: oldID, new: newID) {
                hunks = direct
            } else if let old = source.content(oldID), let new = source.content(newID),
                      let text = try? MemoryRepository().makePatch([FileChange(old: FileVersion(path: path, mode: .regular, content: old),
                                                                               new: FileVersion(path: path, mode: .regular, content: new))]).diff,
                      let parsed = try? PatchParser.parse(text).first {
                hunks = parsed.hunks
            } else {
                continue
            }
            let (mapped, touched) = LineRanges.map(ranges, through: hunks)
            ranges = mapped
            if touched { found.append(c) }
        }
        return found
    }
}

/// Line ranges (1-based, inclusive) followed through diffs, for `commitsTouching`.
enum LineRanges {
    /// The preimage lines a patch changes: deleted lines, and the lines around an insertion.
    static func changed(by file: ParsedFilePatch) -> [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        for h in file.hunks {
            var line = h.oldStart
            var lo: Int?
            var hi = 0
            for l in h.lines {
                switch l.origin {
                case .context: line += 1
                case .deletion:
                    lo = lo ?? line
                    hi = max(hi, line)
                    line += 1
                case .addition:
                    lo = lo ?? max(1, line - 1)
                    hi = max(hi, line)
                }
            }
            if let lo { out.append(lo...max(lo, hi)) }
        }
        return out
    }

    /// Each range moved through a diff of the file; `touched` when a change overlaps a range.
    static func map(_ ranges: [ClosedRange<Int>], through diff: ParsedFilePatch) -> ([ClosedRange<Int>], Bool) {
        map(ranges, through: diff.hunks)
    }

    static func map(_ ranges: [ClosedRange<Int>], through hunks: [Hunk]) -> ([ClosedRange<Int>], Bool) {
        // Each hunk's changed old lines and its net line delta.
        var edits: [(old: ClosedRange<Int>, new: ClosedRange<Int>, delta: Int)] = []
        for h in hunks {
            var oldLine = h.oldStart, newLine = h.newStart
            var oLo: Int?, oHi = 0, nLo: Int?, nHi = 0
            for l in h.lines {
                switch l.origin {
                case .context: oldLine += 1; newLine += 1
                case .deletion:
                    oLo = oLo ?? oldLine; oHi = max(oHi, oldLine); oldLine += 1
                case .addition:
                    oLo = oLo ?? max(1, oldLine - 1); oHi = max(oHi, oldLine)
                    nLo = nLo ?? newLine; nHi = max(nHi, newLine); newLine += 1
                }
            }
            guard let oLo else { continue }
            let n = nLo.map { $0...max($0, nHi) } ?? (max(1, newLine - 1)...max(1, newLine - 1))
            edits.append((oLo...max(oLo, oHi), n, h.newLines - h.oldLines))
        }
        var touched = false
        let mapped = ranges.map { r -> ClosedRange<Int> in
            var before = 0, inner = 0
            var newLo = Int.max, newHi = Int.min
            for e in edits {
                if e.old.upperBound < r.lowerBound { before += e.delta; continue }
                if e.old.lowerBound > r.upperBound { continue }
                touched = true
                inner += e.delta
                newLo = min(newLo, e.new.lowerBound)
                newHi = max(newHi, e.new.upperBound)
            }
            let lo = max(1, min(r.lowerBound + before, newLo))
            return lo...max(lo, r.upperBound + before + inner, newHi)
        }
        return (mapped, touched)
    }
}
