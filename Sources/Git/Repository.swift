import CLibgit2
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open git repository. Owns its libgit2 handle; objects read from it keep it alive.
/// Not Sendable: give each task its own.
public final class Repository {
    let handle: OpaquePointer
    /// `from..to` walks already made by this handle (history does not change under a reader:
    /// commits are immutable), so a gate's patch-id pass, its file histories and its revert
    /// checks share one walk.
    var walks: [WalkKey: [ObjectID]] = [:]
    struct WalkKey: Hashable { var from: ObjectID; var to: ObjectID; var firstParent: Bool }
    var sharedLookup: PathLookup?

    init(handle: OpaquePointer) { self.handle = handle }
    deinit {
        sharedLookup = nil  // its open trees go before the repository they belong to
        git_repository_free(handle)
    }

    /// Opens the repository at exactly `path` (a work tree with `.git`, a `.git` dir, or a bare
    /// repository). Never searches parent directories.
    public static func open(atPath path: String) throws -> Repository {
        Libgit2.ensure()
        var out: OpaquePointer?
        try check(git_repository_open_ext(&out, path, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil), "open repository \(path)")
        return Repository(handle: out!)
    }

    /// Creates a new repository (with a work tree unless `bare`) at `path`.
    public static func create(atPath path: String, bare: Bool = false) throws -> Repository {
        Libgit2.ensure()
        var out: OpaquePointer?
        try check(git_repository_init(&out, path, bare ? 1 : 0), "create repository \(path)")
        return Repository(handle: out!)
    }

    /// True when a git repository exists at exactly `path`.
    public static func exists(atPath path: String) -> Bool {
        Libgit2.ensure()
        let rc = git_repository_open_ext(nil, path, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil)
        return rc == 0
    }

    public var isBare: Bool { git_repository_is_bare(handle) == 1 }

    /// Every reference's full name (`refs/heads/main`, `refs/tags/v1`, …); reads only.
    public func referenceNames() throws -> [String] {
        var list = git_strarray()
        _ = try check(git_reference_list(&list, handle), "list references")
        defer { git_strarray_dispose(&list) }
        return (0..<list.count).compactMap { i in list.strings[i].map { String(cString: $0) } }
    }

    /// The work tree directory (with a trailing slash), nil for a bare repository.
    public var workdir: String? { git_repository_workdir(handle).map { String(cString: $0) } }

    /// The `.git` directory (or the bare repository's directory).
    public var gitdir: String { String(cString: git_repository_path(handle)) }

    /// True when HEAD points at no commit yet.
    public var isEmpty: Bool { git_repository_is_empty(handle) == 1 }

    /// Resolves a revision spec (`HEAD`, a tag, a full or short id, `v2~1`) to a commit id.
    public func resolveCommit(_ spec: String) throws -> ObjectID {
        var obj: OpaquePointer?
        try check(git_revparse_single(&obj, handle, spec), "resolve '\(spec)'")
        defer { git_object_free(obj) }
        var commit: OpaquePointer?
        try check(git_object_peel(&commit, obj, GIT_OBJECT_COMMIT), "'\(spec)' is not a commit")
        defer { git_object_free(commit) }
        return ObjectID(git_object_id(commit).pointee)
    }

    /// The commit's tree entry at a repo-relative path (nil when the path is not in the tree).
    public func entry(atPath path: String, inCommit commit: ObjectID) throws -> TreeEntry? {
        try tree(of: commit).entry(path)
    }

    func commitTree(_ commit: ObjectID) throws -> OpaquePointer {
        var c: OpaquePointer?
        var oid = commit.raw
        try check(git_commit_lookup(&c, handle, &oid), "look up commit \(commit.short)")
        defer { git_commit_free(c) }
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, c), "read tree of \(commit.short)")
        return tree!
    }

    /// The bytes of a blob.
    public func blob(_ id: ObjectID) throws -> [UInt8] {
        var blob: OpaquePointer?
        var oid = id.raw
        try check(git_blob_lookup(&blob, handle, &oid), "read blob \(id.short)")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let raw = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }

    /// An object's size from its header (nil when it cannot be read): cheap, reads no content.
    public func objectSize(_ id: ObjectID) -> Int? {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, handle) == 0 else { git_error_clear(); return nil }
        defer { git_odb_free(odb) }
        var oid = id.raw
        var size = 0
        var type = GIT_OBJECT_ANY
        guard git_odb_read_header(&size, &type, odb, &oid) == 0 else { git_error_clear(); return nil }
        return size
    }

    /// True when the object database has this object. `refresh` false: a miss does not re-read
    /// the pack directory first (libgit2 does on every miss, in case a repack happened since the
    /// database was opened: a directory listing per lookup, when the object is looked for in
    /// several repositories in turn).
    public func contains(_ id: ObjectID, refresh: Bool = true) -> Bool {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, handle) == 0 else { git_error_clear(); return false }
        defer { git_odb_free(odb) }
        var oid = id.raw
        return git_odb_exists_ext(odb, &oid, refresh ? 0 : UInt32(GIT_ODB_LOOKUP_NO_REFRESH.rawValue)) == 1
    }

    /// A commit's metadata.
    public func commit(_ id: ObjectID) throws -> CommitInfo {
        var c: OpaquePointer?
        var oid = id.raw
        try check(git_commit_lookup(&c, handle, &oid), "look up commit \(id.short)")
        defer { git_commit_free(c) }
        return CommitInfo(c!)
    }

    /// True when `ancestor` is `descendant` or one of its ancestors.
    public func isAncestor(_ ancestor: ObjectID, of descendant: ObjectID) throws -> Bool {
        if ancestor == descendant { return true }
        var a = descendant.raw, b = ancestor.raw
        let rc = try check(git_graph_descendant_of(handle, &a, &b), "compare history")
        return rc == 1
    }

    /// Commits reachable from HEAD (or from `start`), newest first, each with the paths it
    /// changed (empty for a repository without commits).
    public func log(from start: ObjectID? = nil, limit: Int = Int.max) throws -> [CommitInfo] {
        if isEmpty && start == nil { return [] }
        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, handle), "walk history")
        defer { git_revwalk_free(walk) }
        git_revwalk_sorting(walk, GIT_SORT_TIME.rawValue | GIT_SORT_TOPOLOGICAL.rawValue)
        if let start {
            var oid = start.raw
            try check(git_revwalk_push(walk, &oid), "walk from \(start.hex)")
        } else {
            try check(git_revwalk_push_head(walk), "walk from HEAD")
        }
        var out: [CommitInfo] = []
        var oid = git_oid()
        while out.count < limit {
            let rc = git_revwalk_next(&oid, walk)
            if rc == GIT_ITEROVER.rawValue { git_error_clear(); break }
            try check(rc, "walk history")
            var info = try commit(ObjectID(oid))
            info.changedPaths = try changedPaths(commit: info.id)
            out.append(info)
        }
        return out
    }

    /// Paths a commit changed against its first parent (all paths for a root commit).
    public func changedPaths(commit id: ObjectID) throws -> [String] {
        let tree = try commitTree(id)
        defer { git_tree_free(tree) }
        let info = try commit(id)
        var parentTree: OpaquePointer?
        if let parent = info.parents.first { parentTree = try commitTree(parent) }
        defer { if let parentTree { git_tree_free(parentTree) } }
        var diff: OpaquePointer?
        try check(git_diff_tree_to_tree(&diff, handle, parentTree, tree, nil), "diff commit \(id.short)")
        defer { git_diff_free(diff) }
        var paths: [String] = []
        for i in 0..<git_diff_num_deltas(diff) {
            guard let d = git_diff_get_delta(diff, i) else { continue }
            let p = d.pointee.new_file.path ?? d.pointee.old_file.path
            if let p { paths.append(String(cString: p)) }
        }
        return paths
    }

    /// Throws unless this repository has the object of every entry of `index` (submodule
    /// entries aside: their commits live elsewhere), naming the first path whose object is gone.
    /// Entries at `changed` are read (their header: a blob, readable), as libgit2's strict
    /// creation read every entry: a loose object left empty by a power cut is not written again
    /// when the same bytes are stored (libgit2 only freshens it), and committing it would point
    /// the registry at nothing. The rest are HEAD's, read when they were committed; for them one
    /// existence query each, as `git write-tree` asks.
    func requireObjects(_ index: OpaquePointer?, changed: Set<String>) throws {
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, handle), "open object database")
        defer { git_odb_free(odb) }
        for i in 0..<git_index_entrycount(index) {
            guard let e = git_index_get_byindex(index, i), e.pointee.mode != 0o160000 else { continue }
            var id = e.pointee.id
            let path = String(cString: e.pointee.path)
            if changed.contains(path) {
                var size = 0
                var type = GIT_OBJECT_INVALID
                if git_odb_read_header(&size, &type, odb, &id) == 0, type == GIT_OBJECT_BLOB { continue }
                git_error_clear()
                throw GitError(code: -1, message: "object \(ObjectID(id).hex) of \(path) is missing, unreadable or not a blob",
                               operation: "write tree")
            }
            if git_odb_exists(odb, &id) == 1 { continue }
            throw GitError(code: -1, message: "object \(ObjectID(id).hex) of \(path) is missing from the object database",
                           operation: "write tree")
        }
    }

    /// The operation named by the error of an index write that failed after its commit was made.
    public static let indexWriteAfterCommit = "write registry index after commit"

    /// Stages `paths` from the work tree (or removes them when absent) and commits on HEAD.
    /// For repositories this program owns (the registry), never for the user's app repo.
    ///
    /// The commit's tree is HEAD's with only `paths` changed: whatever else the index has staged
    /// (an admin's `git add` of another patch file) is not this commit's to record, and stays
    /// staged and uncommitted, as the command says.
    @discardableResult
    public func commitWorkdirChanges(paths: [String], message: String, author: Signature, committer: Signature) throws -> ObjectID {
        guard let workdir else {
            throw GitError(code: -1, message: "the repository has no work tree", operation: "commit")
        }
        var index: OpaquePointer?
        try check(git_repository_index(&index, handle), "open registry index")
        defer { git_index_free(index) }
        try check(git_index_read(index, 1), "read registry index")
        // Mid-merge or mid-rebase, HEAD is not where the next commit belongs (an aborted rebase
        // leaves it on no branch), as `git commit -- PATH` refuses too.
        if let blocker = commitBlocker(index: index) { throw GitError(code: -1, message: blocker, operation: "commit") }
        for path in paths {
            var st = stat()
            if lstat(workdir + path, &st) == 0 {
                try check(git_index_add_bypath(index, path), "stage \(path)")
            } else {
                let rc = git_index_remove_bypath(index, path)
                try check(rc, "unstage \(path)")
            }
        }

        var parent: OpaquePointer?
        if !isEmpty {
            var head = git_oid()
            try check(git_reference_name_to_id(&head, handle, "HEAD"), "read HEAD")
            try check(git_commit_lookup(&parent, handle, &head), "read HEAD commit")
        }
        defer { if let parent { git_commit_free(parent) } }

        // HEAD's tree in an index of its own, `paths` copied in from the staged index.
        var own: OpaquePointer?
        try check(git_index_new(&own), "new index")
        defer { git_index_free(own) }
        if let parent {
            var headTree: OpaquePointer?
            try check(git_commit_tree(&headTree, parent), "read HEAD tree")
            defer { git_tree_free(headTree) }
            try check(git_index_read_tree(own, headTree), "read HEAD tree")
        }
        for path in paths {
            if let staged = git_index_get_bypath(index, path, 0) {
                try check(git_index_add(own, staged), "stage \(path)")
            } else {
                let rc = git_index_remove(own, path, 0)
                if rc != 0 && rc != GIT_ENOTFOUND.rawValue { try check(rc, "unstage \(path)") }
                git_error_clear()
            }
        }
        // Every entry's object must exist, as `git write-tree` requires: asked of the object
        // database (a stat for a loose object) rather than by libgit2's strict creation, which
        // opened and inflated each of them (1,000 loose blobs: 11% of a record's instructions).
        try requireObjects(own, changed: Set(paths))
        var treeOID = git_oid()
        _ = try Libgit2.withoutStrictCreation { try check(git_index_write_tree_to(&treeOID, own, handle), "write tree") }
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, handle, &treeOID), "read tree")
        defer { git_tree_free(tree) }

        let authorSig = try makeSignature(author)
        defer { git_signature_free(authorSig) }
        let committerSig = try makeSignature(committer)
        defer { git_signature_free(committerSig) }
        var out = git_oid()
        var parents: [OpaquePointer?] = parent.map { [$0] } ?? []
        _ = try parents.withUnsafeMutableBufferPointer { (buf) in
            try check(git_commit_create(&out, handle, "HEAD", authorSig, committerSig, "UTF-8", message, tree,
                                        buf.count, buf.baseAddress), "commit")
        }
        // The index goes to disk only once the commit exists: a commit that fails (a full disk)
        // must not leave the file staged for the next writer's recovery to commit.
        try check(git_index_write(index), Self.indexWriteAfterCommit)
        return ObjectID(out)
    }

    func makeSignature(_ s: Signature) throws -> UnsafeMutablePointer<git_signature> {
        var sig: UnsafeMutablePointer<git_signature>?
        try check(git_signature_new(&sig, s.name, s.email, s.time, Int32(s.offsetMinutes)), "signature for \(s.name) <\(s.email)>")
        return sig!
    }
}

/// An entry of a commit's tree.
public struct TreeEntry: Sendable, Equatable {
    public let path: String
    public let id: ObjectID
    public let mode: FileMode?
    public let rawMode: UInt32

    init(_ e: OpaquePointer, path: String) {
        self.path = path
        id = ObjectID(git_tree_entry_id(e).pointee)
        rawMode = git_tree_entry_filemode(e).rawValue
        mode = FileMode(rawValue: rawMode)
    }

    public var isTree: Bool { mode == .tree }
}

/// A commit's id, author and message.
public struct CommitInfo: Sendable, Equatable {
    public let id: ObjectID
    public let parents: [ObjectID]
    public let author: Signature
    public let message: String
    public var changedPaths: [String] = []

    init(_ c: OpaquePointer) {
        id = ObjectID(git_commit_id(c).pointee)
        parents = (0..<git_commit_parentcount(c)).compactMap { i in
            git_commit_parent_id(c, i).map { ObjectID($0.pointee) }
        }
        let a = git_commit_author(c)!.pointee
        author = Signature(name: String(cString: a.name), email: String(cString: a.email),
                           time: a.when.time, offsetMinutes: a.when.offset)
        message = git_commit_message(c).map { String(cString: $0) } ?? ""
    }

    public var summary: String { message.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "" }
}

extension Repository {
    /// HEAD's tree entry at `path` (nil: no such path, or no commit yet).
    public func headEntry(path: String) throws -> TreeEntry? {
        if isEmpty { return nil }
        return try entry(atPath: path, inCommit: try resolveCommit("HEAD"))
    }

    /// Why no commit belongs on HEAD now (nil: nothing stops one): a merge, rebase or other
    /// operation in progress, conflicts in the index, or a HEAD on no branch. Each would put the
    /// commit where the operation's end (or the next checkout) does not keep it. `index`: one
    /// the caller has just read (otherwise it is read here).
    public func commitBlocker() -> String? { commitBlocker(index: nil) }

    func commitBlocker(index given: OpaquePointer?) -> String? {
        if git_repository_state(handle) != Int32(GIT_REPOSITORY_STATE_NONE.rawValue) {
            return "a merge, rebase or other operation is in progress in the repository: finish or abort it first"
        }
        if git_repository_head_detached(handle) == 1 {
            return "the repository's HEAD is on no branch (detached): check out its branch first"
        }
        var index = given
        if index == nil {
            guard git_repository_index(&index, handle) == 0, git_index_read(index, 1) == 0 else {
                git_error_clear()
                if index != nil { git_index_free(index) }
                return nil
            }
        }
        defer { if given == nil { git_index_free(index) } }
        return git_index_has_conflicts(index) != 0 ? "the repository's index has conflicts: resolve or abort them first" : nil
    }

    /// Work-tree paths that differ from HEAD (modified, new, deleted), ignoring ignored files.
    /// Only for repositories this program owns (the registry): it reads `$GIT_DIR/index`.
    public func dirtyPaths() throws -> [String] {
        var opts = git_status_options()
        try check(git_status_options_init(&opts, UInt32(GIT_STATUS_OPTIONS_VERSION)), "status options")
        opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR
        opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED.rawValue | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS.rawValue
        var list: OpaquePointer?
        try check(git_status_list_new(&list, handle, &opts), "read status")
        defer { git_status_list_free(list) }
        var out: [String] = []
        for i in 0..<git_status_list_entrycount(list) {
            guard let e = git_status_byindex(list, i)?.pointee else { continue }
            let delta = e.index_to_workdir ?? e.head_to_index
            guard let d = delta?.pointee else { continue }
            if let p = d.new_file.path ?? d.old_file.path { out.append(String(cString: p)) }
        }
        return out
    }
}
