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
        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, handle), "walk history")
        defer { git_revwalk_free(walk) }
        git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue)
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
        var out: [ObjectID: ObjectID] = [:]
        for c in try commits(from: from, to: to) {
            if let known = cache?.lookup(c) {
                if let id = known { out[id] = out[id] ?? c }
                continue
            }
            let info = try commit(c)
            guard info.parents.count == 1 else { cache?.store(c, nil); continue }
            let parentTree = try commitTree(info.parents[0])
            defer { git_tree_free(parentTree) }
            let tree = try commitTree(c)
            defer { git_tree_free(tree) }
            if let paths, !paths.contains(where: { Self.entryID(parentTree, $0) != Self.entryID(tree, $0) }) { continue }
            var opts = git_diff_options()
            try check(git_diff_options_init(&opts, UInt32(GIT_DIFF_OPTIONS_VERSION)), "diff options")
            opts.flags |= GIT_DIFF_INDENT_HEURISTIC.rawValue
            var diff: OpaquePointer?
            try check(git_diff_tree_to_tree(&diff, handle, parentTree, tree, &opts), "diff \(c.short)")
            defer { git_diff_free(diff) }
            let id = try? Self.patchID(diff!)
            cache?.store(c, id)
            if let id { out[id] = out[id] ?? c }
        }
        return out
    }

    /// The id of the entry at `path` in a tree (nil when absent).
    static func entryID(_ tree: OpaquePointer, _ path: String) -> ObjectID? {
        var entry: OpaquePointer?
        guard git_tree_entry_bypath(&entry, tree, path) == 0, let entry else { git_error_clear(); return nil }
        defer { git_tree_entry_free(entry) }
        return ObjectID(git_tree_entry_id(entry).pointee)
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
        let a = try commitTree(from)
        defer { git_tree_free(a) }
        let b = try commitTree(to)
        defer { git_tree_free(b) }
        var diff: OpaquePointer?
        try check(git_diff_tree_to_tree(&diff, handle, a, b, nil), "diff \(from.short)..\(to.short)")
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
            guard parts.count == 2, let c = ObjectID(hex: String(parts[0])) else { continue }
            entries[c] = parts[1] == "-" ? .some(nil) : ObjectID(hex: String(parts[1])).map { .some($0) } ?? nil
        }
    }

    public func lookup(_ commit: ObjectID) -> ObjectID?? { entries[commit] }

    public func store(_ commit: ObjectID, _ id: ObjectID?) {
        if entries[commit] == nil { added += 1 }
        entries[commit] = .some(id)
    }

    public var text: String {
        entries.keys.sorted().map { "\($0.hex) \(entries[$0]!.map(\.hex) ?? "-")" }.joined(separator: "\n") + "\n"
    }
}
