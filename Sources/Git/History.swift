import CLibgit2

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

    private func walk(from: ObjectID, to: ObjectID, firstParent: Bool) throws -> [ObjectID] {
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
        let lookup = PathLookup(repository: self)
        let split = paths.map { $0.map { $0.split(separator: "/").map(String.init) } }
        for c in try commits(from: from, to: to) {
            if let known = cache?.lookup(c) {
                if let id = known { out[id] = out[id] ?? c }
                continue
            }
            guard let (tree, parents) = lookup.commit(c) else { continue }
            guard parents.count == 1, let parentTree = lookup.commit(parents[0])?.tree else { cache?.store(c, nil); continue }
            if let split, !split.contains(where: { lookup.entry(parentTree, $0) != lookup.entry(tree, $0) }) { continue }
            let id = try diffPatchID(parentTree, tree, c)
            cache?.store(c, id)
            if let id { out[id] = out[id] ?? c }
        }
        return out
    }

    /// The commits in `from..to` (oldest first) whose blob at `path` differs from their first
    /// parent's, with both blob ids (nil when absent): a file's history, for "which commits
    /// changed these lines".
    public func fileChanges(_ path: String, from: ObjectID, to: ObjectID) throws -> [(commit: ObjectID, old: ObjectID?, new: ObjectID?)] {
        Libgit2.enableObjectCache(32 << 20)
        return try Libgit2.withoutHashVerification {
            let lookup = PathLookup(repository: self)
            let split = path.split(separator: "/").map(String.init)
            var out: [(commit: ObjectID, old: ObjectID?, new: ObjectID?)] = []
            for c in try commits(from: from, to: to).reversed() {
                guard let (tree, parents) = lookup.commit(c), let p = parents.first, let parentTree = lookup.commit(p)?.tree else { continue }
                let old = lookup.entry(parentTree, split), new = lookup.entry(tree, split)
                if old != new { out.append((c, old, new)) }
            }
            return out
        }
    }

    /// The patch-id of the diff between two trees (nil when it has none).
    func diffPatchID(_ a: ObjectID, _ b: ObjectID, _ c: ObjectID) throws -> ObjectID? {
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
        try check(git_diff_tree_to_tree(&diff, handle, ta, tb, &opts), "diff \(c.short)")
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
    /// commit → patch-id (nil: a merge, or a diff without one).
    public private(set) var entries: [ObjectID: ObjectID?] = [:]
    public private(set) var added = 0

    public init() {}

    /// Reads "COMMIT PATCHID" lines ("-" for none); malformed lines are skipped.
    public init(text: String) {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count >= 4, parts[0] == "R" {
                var ids: [ObjectID: ObjectID] = [:]
                for pair in (parts.count > 4 ? parts[4] : "").split(separator: ",") {
                    let kv = pair.split(separator: ":")
                    if kv.count == 2, let k = ObjectID(hex: String(kv[0])), let v = ObjectID(hex: String(kv[1])) { ids[k] = v }
                }
                ranges[parts[1...3].joined(separator: " ")] = ids
                continue
            }
            guard parts.count == 2, let c = ObjectID(hex: String(parts[0])) else { continue }
            entries[c] = parts[1] == "-" ? .some(nil) : ObjectID(hex: String(parts[1])).map { .some($0) } ?? nil
        }
    }

    public func lookup(_ commit: ObjectID) -> ObjectID?? { entries[commit] }

    public func store(_ commit: ObjectID, _ id: ObjectID?) {
        if entries[commit] == nil { added += 1 }
        entries[commit] = .some(id)
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

    public var text: String {
        var lines = entries.keys.sorted().map { "\($0.hex) \(entries[$0]!.map(\.hex) ?? "-")" }
        for (key, ids) in ranges.sorted(by: { $0.key < $1.key }) {
            lines.append("R \(key) " + ids.sorted { $0.key < $1.key }.map { "\($0.key.hex):\($0.value.hex)" }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Commit trees and tree entries looked up by id with memos, for walking long histories: a tree
/// is read about once however many commits share it (libgit2's object cache is off to keep scans
/// flat).
final class PathLookup {
    private let repository: Repository
    private var commits: [ObjectID: (tree: ObjectID, parents: [ObjectID])] = [:]
    private struct Key: Hashable { var tree: ObjectID; var name: String }
    private var entries: [Key: ObjectID?] = [:]
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

    /// The id at `path` (split) below `tree`, nil when absent.
    func entry(_ tree: ObjectID, _ path: [String]) -> ObjectID? {
        var current = tree
        for name in path {
            let key = Key(tree: current, name: name)
            if let known = entries[key] {
                guard let next = known else { return nil }
                current = next
                continue
            }
            let next = lookup(current, name)
            entries[key] = .some(next)
            guard let next else { return nil }
            current = next
        }
        return current
    }

    /// One name in a tree; the last few trees read stay open.
    private func lookup(_ tree: ObjectID, _ name: String) -> ObjectID? {
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
        guard let e = git_tree_entry_byname(t, name) else { return nil }
        return ObjectID(git_tree_entry_id(e).pointee)
    }

    deinit { for (_, t) in trees { git_tree_free(t) } }
}
