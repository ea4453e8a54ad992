import CLibgit2
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open tree of one commit, for many path look-ups without re-reading the commit.
public final class Tree {
    let repository: Repository
    let handle: OpaquePointer
    public let commit: ObjectID

    init(repository: Repository, handle: OpaquePointer, commit: ObjectID) {
        self.repository = repository
        self.handle = handle
        self.commit = commit
    }

    deinit { git_tree_free(handle) }

    /// The entry at a repo-relative path, nil when absent.
    public func entry(_ path: String) throws -> TreeEntry? {
        var entry: OpaquePointer?
        let rc = git_tree_entry_bypath(&entry, handle, path)
        if rc == GIT_ENOTFOUND.rawValue { git_error_clear(); return nil }
        try check(rc, "look up \(path)")
        defer { git_tree_entry_free(entry) }
        return TreeEntry(entry!, path: path)
    }

    /// The file at `path` (content read from the object database), nil when absent or a directory.
    public func file(_ path: String) throws -> FileVersion? {
        guard let e = try entry(path), let mode = e.mode, mode != .tree, mode != .gitlink else { return nil }
        return FileVersion(path: path, mode: mode, content: try repository.blob(e.id))
    }
}

extension Repository {
    /// The tree of a commit, kept open.
    public func tree(of commit: ObjectID) throws -> Tree {
        Tree(repository: self, handle: try commitTree(commit), commit: commit)
    }

    /// Commits reachable from `to` but not from `from` (`from..to`), newest first.
    public func commits(from: ObjectID, to: ObjectID) throws -> [ObjectID] {
        try walk(from: from, to: to, firstParent: false)
    }

    /// The first-parent line of `from..to` (`git rev-list --first-parent`), newest first.
    public func firstParentChain(from: ObjectID, to: ObjectID) throws -> [ObjectID] {
        try walk(from: from, to: to, firstParent: true)
    }

    /// One memo of commits and tree entries for every history walk of this handle (patch-ids,
    /// file histories, revert checks): each commit and tree on the way is read once.
    var historyLookup: PathLookup {
        if let known = sharedLookup { return known }
        let made = PathLookup(repository: self)
        sharedLookup = made
        return made
    }

    private func walk(from: ObjectID, to: ObjectID, firstParent: Bool) throws -> [ObjectID] {
        let key = WalkKey(from: from, to: to, firstParent: firstParent)
        if let known = walks[key] { return known }
        let out = try revwalk(from: from, to: to, firstParent: firstParent)
        walks[key] = out
        return out
    }

    private func revwalk(from: ObjectID, to: ObjectID, firstParent: Bool) throws -> [ObjectID] {
        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, handle), "walk history")
        defer { git_revwalk_free(walk) }
        git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue)
        if firstParent { try check(git_revwalk_simplify_first_parent(walk), "first-parent walk") }
        var t = to.raw, f = from.raw
        try check(git_revwalk_push(walk, &t), "walk from \(to.short)")
        try check(git_revwalk_hide(walk, &f), "hide \(from.short)")
        var out: [ObjectID] = []
        var oid = git_oid()
        while true {
            let rc = git_revwalk_next(&oid, walk)
            if rc == GIT_ITEROVER.rawValue { git_error_clear(); break }
            try check(rc, "walk history")
            out.append(ObjectID(oid))
        }
        return out
    }

    /// `git patch-id --stable` of each non-merge commit in `from..to`: patch id → commit (the
    /// newest one when several share it). With `touching`, only commits that change one of those
    /// paths are diffed (a commit that changes none of a patch's paths cannot have its patch-id);
    /// `cache` remembers patch-ids by commit across runs.
    public func patchIDs(from: ObjectID, to: ObjectID, touching paths: Set<String>? = nil,
                         cache: PatchIDCache? = nil) throws -> [ObjectID: ObjectID] {
        // Commits are read by the walk and again for their trees: let libgit2 keep them (a
        // bounded cache; scans run with it off to stay flat).
        Libgit2.enableObjectCache(32 << 20)
        return try Libgit2.withoutHashVerification { try walkPatchIDs(from: from, to: to, touching: paths, cache: cache) }
    }

    private func walkPatchIDs(from: ObjectID, to: ObjectID, touching paths: Set<String>?, cache: PatchIDCache?) throws -> [ObjectID: ObjectID] {
        var out: [ObjectID: ObjectID] = [:]
        let lookup = historyLookup
        let split = paths.map { $0.map(PathLookup.split) }
        let trie = paths.map(PathTrie.init)
        for c in try commits(from: from, to: to) {
            if let known = cache?.lookup(c) {
                if let id = known { out[id] = out[id] ?? c }
                continue
            }
            guard let (tree, parents) = lookup.commit(c) else { continue }
            guard parents.count == 1, let parentTree = lookup.commit(parents[0])?.tree else { cache?.store(c, nil); continue }
            // (id and mode: a patch can be a mode change alone)
            if let split, !split.contains(where: { lookup.entry(parentTree, $0) != lookup.entry(tree, $0) }) { continue }
            let id: ObjectID?
            switch trie.map({ changes(parentTree, tree, within: $0) }) {
            case .outside?:
                // The commit changes a file outside every patch's paths: its diff has a file
                // header no patch has, so its patch-id is no patch's (nor a reverse patch's).
                // Not computed, so not cached.
                continue
            case .only(let changed)?:
                // Every change is at one of the paths: the diff limited to them is the whole diff.
                id = try diffPatchID(parentTree, tree, c, paths: changed)
            case .unknown?, nil:
                id = try diffPatchID(parentTree, tree, c)
            }
            cache?.store(c, id)
            if let id { out[id] = out[id] ?? c }
        }
        return out
    }

    /// What changed between two trees, relative to a set of paths.
    enum PathChanges: Equatable {
        /// Some file outside the paths differs (the full diff has a delta there).
        case outside
        /// Only these paths differ, each a file, link or absence on both sides.
        case only([String])
        /// Neither could be shown cheaply (a path that is a directory on one side, a submodule,
        /// a mode-only change of an entry, a differing tree holding no file): diff it all.
        case unknown
    }

    /// Compares two trees entry by entry, reading only the trees on the way to `trie`'s paths and,
    /// outside them, as far as the first differing file.
    func changes(_ a: ObjectID, _ b: ObjectID, within trie: PathTrie) -> PathChanges {
        var changed: [String] = []
        var unknown = false
        if compare(a, b, trie, prefix: [], changed: &changed, unknown: &unknown) { return .outside }
        return unknown ? .unknown : .only(changed)
    }

    private struct Entry { var id: ObjectID; var mode: UInt32 }

    /// A tree's entries by name, as bytes (no Unicode equivalence between names).
    private func entries(_ tree: ObjectID?) -> [[UInt8]: Entry]? {
        guard let tree else { return [:] }
        var t: OpaquePointer?
        var oid = tree.raw
        guard git_tree_lookup(&t, handle, &oid) == 0, let t else { git_error_clear(); return nil }
        defer { git_tree_free(t) }
        var out: [[UInt8]: Entry] = [:]
        for i in 0..<git_tree_entrycount(t) {
            guard let e = git_tree_entry_byindex(t, i), let name = git_tree_entry_name(e) else { return nil }
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(name).assumingMemoryBound(to: UInt8.self), count: strlen(name)))
            guard out.updateValue(Entry(id: ObjectID(git_tree_entry_id(e).pointee), mode: git_tree_entry_filemode(e).rawValue), forKey: bytes) == nil
            else { return nil }  // a name twice: a malformed tree
        }
        return out
    }

    private enum Kind { case tree, file, other }

    /// Trees and files (regular, executable, symlink) by their standard modes; anything else
    /// (a submodule, a mode git would normalise) is `other`.
    private static func kind(_ e: Entry?) -> Kind? {
        guard let e else { return nil }
        switch e.mode {
        case 0o040000: return .tree
        case 0o100644, 0o100755, 0o120000: return .file
        default: return .other
        }
    }

    /// True when a change outside the trie's paths is certain; otherwise collects changed paths
    /// and sets `unknown` when a change could not be placed.
    private func compare(_ a: ObjectID?, _ b: ObjectID?, _ node: PathTrie?, prefix: [UInt8],
                         changed: inout [String], unknown: inout Bool) -> Bool {
        guard let ea = entries(a), let eb = entries(b) else { unknown = true; return false }
        for name in Set(ea.keys).union(eb.keys) {
            let x = ea[name], y = eb[name]
            if let x, let y, x.id == y.id, x.mode == y.mode { continue }
            let kx = Self.kind(x), ky = Self.kind(y)
            if kx == .other || ky == .other { unknown = true; continue }  // do not guess
            let child = node?.children[name]
            if let child, child.isPath {
                // One of the paths: a file (or nothing) on both sides is a change there.
                guard kx != .tree, ky != .tree, let path = String(validating: prefix + name, as: UTF8.self) else { unknown = true; continue }
                changed.append(path)
                continue
            }
            // A file that differs at a name no path ends at: the diff has a delta outside.
            if kx == .file || ky == .file { return true }
            // Trees (or a tree and nothing): look inside, along the paths or outside them.
            if compare(kx == .tree ? x!.id : nil, ky == .tree ? y!.id : nil, child, prefix: prefix + name + [0x2F],
                       changed: &changed, unknown: &unknown) { return true }
        }
        return false
    }

    /// The commits in `from..to` (oldest first) whose blob at `path` differs from their first
    /// parent's, with both blob ids (nil when absent): a file's history, for "which commits
    /// changed these lines".
    /// `cache` keeps the answer per (from, to, path) across runs.
    public func fileChanges(_ path: String, from: ObjectID, to: ObjectID,
                            cache: PatchIDCache? = nil) throws -> [(commit: ObjectID, old: ObjectID?, new: ObjectID?)] {
        let key = PatchIDCache.fileKey(path, from: from, to: to)
        if let known = cache?.fileChanges(key) { return known }
        let out = try walkFileChanges(path, from: from, to: to)
        cache?.storeFileChanges(key, out)
        return out
    }

    private func walkFileChanges(_ path: String, from: ObjectID, to: ObjectID) throws -> [(commit: ObjectID, old: ObjectID?, new: ObjectID?)] {
        Libgit2.enableObjectCache(32 << 20)
        return try Libgit2.withoutHashVerification {
            let lookup = historyLookup
            let split = PathLookup.split(path)
            var out: [(commit: ObjectID, old: ObjectID?, new: ObjectID?)] = []
            for c in try commits(from: from, to: to).reversed() {
                guard let (tree, parents) = lookup.commit(c), let p = parents.first, let parentTree = lookup.commit(p)?.tree else { continue }
                let old = lookup.entry(parentTree, split)?.id, new = lookup.entry(tree, split)?.id
                if old != new { out.append((c, old, new)) }
            }
            return out
        }
    }

    /// The commits in `from..to` that changed `path` as `git log -- path` lists them, oldest first,
    /// with the blob before (first parent's, or the parent it differs from) and after: history
    /// simplification, so a merge whose blob at `path` equals one parent's is not listed and only
    /// that parent is followed (the side it took is listed through its own commits, the side it
    /// left out not at all). Compared by blob id (a mode change alone is not a change here). For
    /// naming the commits that changed a patch's lines; the revert checks read `fileChanges`.
    public func fileLog(_ path: String, from: ObjectID, to: ObjectID) throws -> [(commit: ObjectID, old: ObjectID?, new: ObjectID?)] {
        Libgit2.enableObjectCache(32 << 20)
        return try Libgit2.withoutHashVerification {
            let lookup = historyLookup
            let split = PathLookup.split(path)
            func blob(_ commit: ObjectID) -> ObjectID? {
                guard let tree = lookup.commit(commit)?.tree else { return nil }
                return lookup.entry(tree, split)?.id
            }
            var wanted: Set<ObjectID> = [to]
            var out: [(commit: ObjectID, old: ObjectID?, new: ObjectID?)] = []
            for c in try commits(from: from, to: to) where wanted.contains(c) {  // newest first, parents after children
                guard let (tree, parents) = lookup.commit(c), !parents.isEmpty else { continue }
                let here = lookup.entry(tree, split)?.id
                let before = parents.map(blob)
                if parents.count > 1, let same = before.firstIndex(where: { $0 == here }) {
                    wanted.insert(parents[same])
                    continue
                }
                wanted.formUnion(parents)
                if before[0] != here { out.append((c, before[0], here)) }
            }
            return out.reversed()
        }
    }

    /// The patch-id of the diff between two trees (nil when it has none).
    func diffPatchID(_ a: ObjectID, _ b: ObjectID, _ c: ObjectID, paths: [String]? = nil) throws -> ObjectID? {
        var ta: OpaquePointer?, tb: OpaquePointer?
        var oa = a.raw, ob = b.raw
        try check(git_tree_lookup(&ta, handle, &oa), "read tree of \(c.short)^")
        defer { git_tree_free(ta) }
        try check(git_tree_lookup(&tb, handle, &ob), "read tree of \(c.short)")
        defer { git_tree_free(tb) }
        var opts = git_diff_options()
        try check(git_diff_options_init(&opts, UInt32(GIT_DIFF_OPTIONS_VERSION)), "diff options")
        opts.flags |= GIT_DIFF_INDENT_HEURISTIC.rawValue
        var diff: OpaquePointer?
        if let paths {
            // Exact paths, not patterns.
            opts.flags |= GIT_DIFF_DISABLE_PATHSPEC_MATCH.rawValue
            let strings = paths.map { strdup($0) }
            defer { strings.forEach { free($0) } }
            var pointers: [UnsafeMutablePointer<CChar>?] = strings
            try pointers.withUnsafeMutableBufferPointer { buf in
                opts.pathspec = git_strarray(strings: buf.baseAddress, count: buf.count)
                try check(git_diff_tree_to_tree(&diff, handle, ta, tb, &opts), "diff \(c.short)")
            }
        } else {
            try check(git_diff_tree_to_tree(&diff, handle, ta, tb, &opts), "diff \(c.short)")
        }
        defer { git_diff_free(diff) }
        return try? Self.patchID(diff!)
    }

    static func patchID(_ diff: OpaquePointer) throws -> ObjectID {
        var opts = git_diff_patchid_options()
        try check(git_diff_patchid_options_init(&opts, UInt32(GIT_DIFF_PATCHID_OPTIONS_VERSION)), "patch-id options")
        var oid = git_oid()
        try check(git_diff_patchid(&oid, diff, &opts), "patch-id")
        return ObjectID(oid)
    }

    /// One tree diff of two commits, read twice: the added and deleted files as the diff gives
    /// them (`treeChanges`), then libgit2's rename pairs on the same diff (`renames`, with both
    /// sides' blob ids and modes). `renames` is empty when pairing fails.
    public func treeDelta(from: ObjectID, to: ObjectID) throws -> TreeDelta {
        let diff = try treeDiff(from: from, to: to)
        defer { git_diff_free(diff) }
        var out = TreeDelta()
        for i in 0..<git_diff_num_deltas(diff) {
            guard let d = git_diff_get_delta(diff, i)?.pointee else { continue }
            if d.status == GIT_DELTA_DELETED, let p = d.old_file.path { out.changes.deleted[String(cString: p)] = ObjectID(d.old_file.id) }
            if d.status == GIT_DELTA_ADDED, let p = d.new_file.path { out.changes.added[String(cString: p)] = ObjectID(d.new_file.id) }
        }
        var find = git_diff_find_options()
        guard git_diff_find_options_init(&find, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)) == 0 else { git_error_clear(); return out }
        find.flags = GIT_DIFF_FIND_RENAMES.rawValue
        guard git_diff_find_similar(diff, &find) == 0 else { git_error_clear(); return out }
        for i in 0..<git_diff_num_deltas(diff) {
            guard let d = git_diff_get_delta(diff, i)?.pointee, d.status == GIT_DELTA_RENAMED,
                  let o = d.old_file.path, let n = d.new_file.path else { continue }
            out.renames[String(cString: o)] = TreeDelta.Rename(
                path: String(cString: n), oldID: ObjectID(d.old_file.id), newID: ObjectID(d.new_file.id),
                oldMode: FileMode(rawValue: UInt32(d.old_file.mode)), newMode: FileMode(rawValue: UInt32(d.new_file.mode)))
        }
        return out
    }

    /// Files renamed between two commits (old path → new path), by git's similarity rules.
    public func renames(from: ObjectID, to: ObjectID) throws -> [String: String] {
        let diff = try treeDiff(from: from, to: to)
        defer { git_diff_free(diff) }
        var find = git_diff_find_options()
        try check(git_diff_find_options_init(&find, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)), "rename options")
        find.flags = GIT_DIFF_FIND_RENAMES.rawValue
        try check(git_diff_find_similar(diff, &find), "find renames")
        var out: [String: String] = [:]
        for i in 0..<git_diff_num_deltas(diff) {
            guard let d = git_diff_get_delta(diff, i)?.pointee, d.status == GIT_DELTA_RENAMED,
                  let o = d.old_file.path, let n = d.new_file.path else { continue }
            out[String(cString: o)] = String(cString: n)
        }
        return out
    }
}

extension PatchParser {
    /// `git patch-id --stable` of diff text.
    public static func patchID(_ text: String) throws -> ObjectID {
        let diff = try DiffHandle(parsing: text)
        return try Repository.patchID(diff.handle)
    }
}

extension Repository {
    /// A commit's change against its first parent as git diff text (full index, binary included),
    /// limited to paths under `prefix` when given.
    public func diffText(commit c: ObjectID, under prefix: String?) throws -> String {
        let info = try commit(c)
        guard let parent = info.parents.first else {
            throw GitError(code: -1, message: "\(c.short) has no parent", operation: "diff commit")
        }
        let a = try commitTree(parent)
        defer { git_tree_free(a) }
        let b = try commitTree(c)
        defer { git_tree_free(b) }
        var opts = try PatchFormat.options()
        var diff: OpaquePointer?
        let spec = prefix.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        if let spec {
            try spec.withCString { (p) in
                var ptr: UnsafeMutablePointer<CChar>? = UnsafeMutablePointer(mutating: p)
                try withUnsafeMutablePointer(to: &ptr) { (pp) in
                    opts.pathspec = git_strarray(strings: pp, count: 1)
                    try check(git_diff_tree_to_tree(&diff, handle, a, b, &opts), "diff \(c.short)")
                }
            }
        } else {
            try check(git_diff_tree_to_tree(&diff, handle, a, b, &opts), "diff \(c.short)")
        }
        defer { git_diff_free(diff) }
        return try PatchFormat.text(diff!) { path in try PatchFormat.binaryText(repo: handle, old: a, new: b, path: path) }
    }
}

/// Patch-ids by commit id, kept between runs by whoever owns it (the registry's state directory).
/// A commit's patch-id never changes, so entries never go stale.
public final class PatchIDCache {
    /// commit → patch-id (nil: a merge, or a diff without one). Parsed from the file on first
    /// use: a second gate reads only its whole-range answers and never needs them.
    public var entries: [ObjectID: ObjectID?] {
        parseCommitLines()
        return parsedEntries
    }
    private var parsedEntries: [ObjectID: ObjectID?] = [:]
    /// The file's per-commit lines, not yet parsed.
    private var commitText: [UInt8] = []
    public private(set) var added = 0

    public init() {}

    /// Reads "COMMIT PATCHID" lines ("-" for none); malformed lines are skipped.
    public init(text: String) {
        var text = text
        var special: [Substring] = []
        text.withUTF8 { whole in
            // Only whole lines: the file is written with a newline after every line, so text
            // after the last one is a write cut short (a crash before the data reached the disk:
            // the file is derived, written without fsync) or a tail of NULs. Cut inside a list at
            // an item boundary, every field would still parse and a shorter answer read as whole.
            let end = (whole.lastIndex(of: 0x0A)).map { $0 + 1 } ?? 0
            let buf = UnsafeBufferPointer(rebasing: whole[..<end])
            // Per-commit lines (most of the file) are kept as bytes until a walk asks for one;
            // the few "R", "T" and "F" lines (a letter, then a space) are read now.
            var start = 0
            while start < buf.count {
                var end = start
                while end < buf.count && buf[end] != 0x0A { end += 1 }
                if end - start > 2, buf[start + 1] == 0x20 {
                    special.append(Substring(String(decoding: UnsafeBufferPointer(rebasing: buf[start..<end]), as: UTF8.self)))
                }
                start = end + 1
            }
            commitText = Array(buf)
        }
        for line in special {
            let parts = line.fields(" ")
            if parts.first == "D" {
                if let (key, d) = Self.parseDelta(parts) { deltas[key] = d }
                continue
            }
            if parts.count == 4 || parts.count == 5, parts[0] == "R" {
                // A pair that does not read back drops the line: half a map is another answer.
                var ids: [ObjectID: ObjectID] = [:]
                var ok = true
                for pair in (parts.count > 4 ? parts[4] : "").fields(",", keepEmpty: parts.count > 4) {
                    let kv = pair.fields(":", keepEmpty: true)
                    guard kv.count == 2, let k = ObjectID(hex: String(kv[0])), let v = ObjectID(hex: String(kv[1])) else { ok = false; break }
                    ids[k] = v
                }
                if ok { ranges[parts[1...3].joined(separator: " ")] = ids }
                continue
            }
            if parts.count == 4 || parts.count == 5, parts[0] == "T" {
                let ids = (parts.count > 4 ? parts[4] : "").fields(",", keepEmpty: parts.count > 4).map { ObjectID(hex: String($0)) }
                if !ids.contains(nil) { commitLists[parts[1...3].joined(separator: " ")] = ids.compactMap { $0 } }
                continue
            }
            if parts.count == 4 || parts.count == 5, parts[0] == "F" {
                var list: [FileStep] = []
                var ok = true
                for item in (parts.count > 4 ? parts[4] : "").fields(",", keepEmpty: parts.count > 4) {
                    let f = item.fields(":", keepEmpty: true)
                    guard f.count == 3, let c = ObjectID(hex: String(f[0])) else { ok = false; break }
                    let old = f[1] == "-" ? nil : ObjectID(hex: String(f[1])), new = f[2] == "-" ? nil : ObjectID(hex: String(f[2]))
                    guard (f[1] == "-") == (old == nil), (f[2] == "-") == (new == nil) else { ok = false; break }
                    list.append((c, old, new))
                }
                if ok { files[parts[1...3].joined(separator: " ")] = list }
                continue
            }
        }
    }

    private func parseCommitLines() {
        guard !commitText.isEmpty else { return }
        for line in String(decoding: commitText, as: UTF8.self).fields("\n") {
            let parts = line.fields(" ")
            // ("R", "T" and "F" lines have more than two fields: read in init)
            guard parts.count == 2, let c = ObjectID(hex: String(parts[0])) else { continue }
            parsedEntries[c] = parts[1] == "-" ? .some(nil) : ObjectID(hex: String(parts[1])).map { .some($0) } ?? nil
        }
        commitText = []
    }

    public func lookup(_ commit: ObjectID) -> ObjectID?? {
        parseCommitLines()
        return parsedEntries[commit]
    }

    public func store(_ commit: ObjectID, _ id: ObjectID?) {
        parseCommitLines()
        if parsedEntries[commit] == nil { added += 1 }
        parsedEntries[commit] = .some(id)
    }

    /// Whole results by range: "BASE TARGET PATHS-DIGEST" → patch id → commit. A second gate
    /// against the same target reads its answer here without walking the history.
    public private(set) var ranges: [String: [ObjectID: ObjectID]] = [:]

    public func range(_ key: String) -> [ObjectID: ObjectID]? { ranges[key] }

    public func storeRange(_ key: String, _ ids: [ObjectID: ObjectID]) {
        if ranges[key] == nil { added += 1 }
        ranges[key] = ids
        // Keep the file small: old ranges go first (they are cheap to recompute from `entries`).
        if ranges.count > 64 { ranges.remove(at: ranges.startIndex) }
    }

    /// Per "BASE TARGET": the renames gate follows from base to target (old → new path, after
    /// git's score) and the first 500 files added there by path (for "most similar" hints).
    public struct Delta: Sendable {
        public var renames: [String: String] = [:]
        public var added: [(String, ObjectID)] = []
        public init() {}
    }

    public private(set) var deltas: [String: Delta] = [:]

    public func delta(_ key: String) -> Delta? { deltas[key] }

    public func storeDelta(_ key: String, _ d: Delta) {
        if deltas[key] == nil { added += 1 }
        deltas[key] = d
        if deltas.count > 16 { deltas.remove(at: deltas.startIndex) }
    }

    /// "D BASE TARGET RENAMES ADDED COUNTS": lists of `old:new` path pairs and `path:blob`, paths
    /// as hex of their UTF-8 (any byte may be in a name), "-" for an empty list, then the two
    /// lists' lengths. A line that does not read back whole is dropped: half a rename map would
    /// be a different answer.
    static func deltaLine(_ key: String, _ d: Delta) -> String {
        func hex(_ s: String) -> String {
            let digits = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            out.reserveCapacity(s.utf8.count * 2)
            for b in s.utf8 { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
            return String(decoding: out, as: UTF8.self)
        }
        let r = d.renames.sorted { $0.key < $1.key }.map { "\(hex($0.key)):\(hex($0.value))" }.joined(separator: ",")
        let a = d.added.map { "\(hex($0.0)):\($0.1.hex)" }.joined(separator: ",")
        return "D \(key) \(r.isEmpty ? "-" : r) \(a.isEmpty ? "-" : a) \(d.renames.count),\(d.added.count)"
    }

    static func parseDelta(_ parts: [Substring]) -> (String, Delta)? {
        guard parts.count == 6, parts[0] == "D", ObjectID(hex: String(parts[1])) != nil, ObjectID(hex: String(parts[2])) != nil else { return nil }
        func unhex(_ s: Substring) -> String? {
            let u = Array(s.utf8)
            guard !u.isEmpty, u.count % 2 == 0 else { return nil }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(u.count / 2)
            var i = 0
            while i < u.count {
                guard let b = UInt8(String(decoding: u[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(b)
                i += 2
            }
            return String(validating: bytes, as: UTF8.self)
        }
        var d = Delta()
        if parts[3] != "-" {
            for pair in parts[3].split(separator: ",", omittingEmptySubsequences: false) {
                let kv = pair.split(separator: ":", omittingEmptySubsequences: false)
                guard kv.count == 2, let k = unhex(kv[0]), let v = unhex(kv[1]) else { return nil }
                d.renames[k] = v
            }
        }
        if parts[4] != "-" {
            for pair in parts[4].split(separator: ",", omittingEmptySubsequences: false) {
                let kv = pair.split(separator: ":", omittingEmptySubsequences: false)
                guard kv.count == 2, let k = unhex(kv[0]), let v = ObjectID(hex: String(kv[1])) else { return nil }
                d.added.append((k, v))
            }
        }
        guard parts[5] == "\(d.renames.count),\(d.added.count)" else { return nil }
        return ("\(parts[1]) \(parts[2])", d)
    }

    public typealias FileStep = (commit: ObjectID, old: ObjectID?, new: ObjectID?)

    /// A file's history by range: "FROM TO PATH-DIGEST" → the commits that changed it, oldest
    /// first, with both blob ids. What a conflict report names, and what the revert checks read.
    public private(set) var files: [String: [FileStep]] = [:]

    public static func fileKey(_ path: String, from: ObjectID, to: ObjectID) -> String {
        let digest = (try? ObjectID.hashBlob(Array(path.utf8)))?.hex ?? "-"
        return "\(from.hex) \(to.hex) \(digest)"
    }

    public func fileChanges(_ key: String) -> [FileStep]? { files[key] }

    public func storeFileChanges(_ key: String, _ list: [FileStep]) {
        if files[key] == nil { added += 1 }
        files[key] = list
        if files.count > 256 { files.remove(at: files.startIndex) }
    }

    /// Commit lists by key ("FROM TO DIGEST"): the commits that changed a patch's lines, for a
    /// conflict report.
    public private(set) var commitLists: [String: [ObjectID]] = [:]

    public func commitList(_ key: String) -> [ObjectID]? { commitLists[key] }

    public func storeCommitList(_ key: String, _ list: [ObjectID]) {
        if commitLists[key] == nil { added += 1 }
        commitLists[key] = list
        if commitLists.count > 256 { commitLists.remove(at: commitLists.startIndex) }
    }

    public var text: String {
        let entries = self.entries
        var lines = entries.keys.sorted().map { "\($0.hex) \(entries[$0]!.map(\.hex) ?? "-")" }
        for (key, d) in deltas.sorted(by: { $0.key < $1.key }) { lines.append(Self.deltaLine(key, d)) }
        for (key, list) in commitLists.sorted(by: { $0.key < $1.key }) {
            lines.append("T \(key) " + list.map(\.hex).joined(separator: ","))
        }
        for (key, list) in files.sorted(by: { $0.key < $1.key }) {
            lines.append("F \(key) " + list.map { "\($0.commit.hex):\($0.old?.hex ?? "-"):\($0.new?.hex ?? "-")" }.joined(separator: ","))
        }
        for (key, ids) in ranges.sorted(by: { $0.key < $1.key }) {
            lines.append("R \(key) " + ids.sorted { $0.key < $1.key }.map { "\($0.key.hex):\($0.value.hex)" }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Repo-relative paths as a tree of names (bytes).
final class PathTrie {
    var children: [[UInt8]: PathTrie] = [:]
    /// A path ends here.
    var isPath = false

    init() {}

    init(_ paths: Set<String>) {
        for p in paths {
            var node = self
            for name in Array(p.utf8).split(separator: 0x2F) {
                let key = Array(name)
                if let next = node.children[key] { node = next } else { let next = PathTrie(); node.children[key] = next; node = next }
            }
            node.isPath = true
        }
    }
}

/// Commit trees and tree entries looked up by id with memos, for walking long histories: a tree
/// is read about once however many commits share it (libgit2's object cache is off to keep scans
/// flat).
final class PathLookup {
    /// (unowned: a repository keeps its shared lookup, `historyLookup`)
    private unowned let repository: Repository
    private var commits: [ObjectID: (tree: ObjectID, parents: [ObjectID])] = [:]
    /// Names as NUL-terminated bytes: two names equal only under Unicode equivalence are two names.
    private struct Key: Hashable {
        var tree: ObjectID
        var name: [UInt8]
        /// The name as one run of bytes (an array of UInt8 is otherwise hashed a byte at a time:
        /// 2% of a cold gate over a long history).
        func hash(into h: inout Hasher) {
            h.combine(tree)
            name.withUnsafeBytes { h.combine(bytes: $0) }
        }
    }
    struct Found: Equatable { var id: ObjectID; var mode: UInt32 }
    private var entries: [Key: Found?] = [:]
    private var trees: [ObjectID: OpaquePointer] = [:]

    init(repository: Repository) { self.repository = repository }

    func commit(_ id: ObjectID) -> (tree: ObjectID, parents: [ObjectID])? {
        if let known = commits[id] { return known }
        var c: OpaquePointer?
        var oid = id.raw
        guard git_commit_lookup(&c, repository.handle, &oid) == 0 else { git_error_clear(); return nil }
        defer { git_commit_free(c) }
        let tree = ObjectID(git_commit_tree_id(c).pointee)
        let parents = (0..<git_commit_parentcount(c)).compactMap { i in git_commit_parent_id(c, i).map { ObjectID($0.pointee) } }
        commits[id] = (tree, parents)
        return (tree, parents)
    }

    /// A path split into NUL-terminated names, for `entry`.
    static func split(_ path: String) -> [[UInt8]] {
        Array(path.utf8).split(separator: 0x2F).map { Array($0) + [0] }
    }

    /// The id and mode at `path` (`split`) below `tree`, nil when absent.
    func entry(_ tree: ObjectID, _ path: [[UInt8]]) -> Found? {
        var current = Found(id: tree, mode: 0o040000)
        for name in path {
            let key = Key(tree: current.id, name: name)
            if let known = entries[key] {
                guard let next = known else { return nil }
                current = next
                continue
            }
            let next = lookup(current.id, name)
            entries[key] = .some(next)
            guard let next else { return nil }
            current = next
        }
        return current
    }

    /// One name in a tree; the last few trees read stay open.
    private func lookup(_ tree: ObjectID, _ name: [UInt8]) -> Found? {
        let t: OpaquePointer
        if let open = trees[tree] {
            t = open
        } else {
            var out: OpaquePointer?
            var oid = tree.raw
            guard git_tree_lookup(&out, repository.handle, &oid) == 0, let out else { git_error_clear(); return nil }
            if trees.count >= 32 { for (_, old) in trees { git_tree_free(old) }; trees.removeAll(keepingCapacity: true) }
            trees[tree] = out
            t = out
        }
        let e = name.withUnsafeBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { git_tree_entry_byname(t, $0) }
        }
        guard let e else { return nil }
        return Found(id: ObjectID(git_tree_entry_id(e).pointee), mode: git_tree_entry_filemode(e).rawValue)
    }

    deinit { for (_, t) in trees { git_tree_free(t) } }
}
