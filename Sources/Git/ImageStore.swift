import CLibgit2

extension Repository {
    /// Stores `content` as a blob in this repository's object database.
    @discardableResult
    public func writeBlob(_ content: [UInt8]) throws -> ObjectID {
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, handle), "open object database")
        defer { git_odb_free(odb) }
        var oid = git_oid()
        _ = try content.withUnsafeBytes { (buf: UnsafeRawBufferPointer) throws in
            try check(git_odb_write(&oid, odb, buf.baseAddress, buf.count, GIT_OBJECT_BLOB), "store blob")
        }
        return ObjectID(oid)
    }

    /// Keeps the blobs `ids` reachable: commits, on top of `ref`, a tree that names every blob the
    /// ref already keeps plus these. Each blob is named by its id, in a directory named by the id's
    /// first two hex digits (`ab/ab12…`, as git's loose objects), so a write rewrites the root
    /// (at most 256 entries) and one small tree per new blob, not a tree of every image ever kept
    /// (2,000 entries, 140 KB hashed, compressed and read back at 1,000 patches). A tree written
    /// before (one entry per blob at the root) is moved into directories by the first write.
    /// Nothing happens when the ref already keeps them all this way. The blobs must exist in this
    /// repository.
    public func keepBlobs(_ ids: Set<ObjectID>, ref: String, message: String, signature: Signature) throws {
        var head = git_oid()
        var parent: OpaquePointer?
        var parentTree: OpaquePointer?
        let rc = git_reference_name_to_id(&head, handle, ref)
        if rc == GIT_ENOTFOUND.rawValue { git_error_clear() } else {
            try check(rc, "read \(ref)")
            try check(git_commit_lookup(&parent, handle, &head), "read \(ref)")
            try check(git_commit_tree(&parentTree, parent), "read \(ref) tree")
        }
        defer {
            if let parentTree { git_tree_free(parentTree) }
            if let parent { git_commit_free(parent) }
        }
        // Blobs named at the root (the layout before directories): moved, keeping their ids. An
        // entry whose object is gone or is not a blob stays where it is, as it was (moving it
        // would write a broken tree anew; dropping it would hide it); scan reports a patch whose
        // image cannot be read.
        var flat: [(name: String, id: ObjectID)] = []
        if let parentTree {
            var odb: OpaquePointer?
            try check(git_repository_odb(&odb, handle), "open object database")
            defer { git_odb_free(odb) }
            for i in 0..<git_tree_entrycount(parentTree) {
                guard let e = git_tree_entry_byindex(parentTree, i), git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB else { continue }
                let name = String(cString: git_tree_entry_name(e))
                guard Self.isImageName(name) else { continue }
                var size = 0
                var type = GIT_OBJECT_INVALID
                guard git_odb_read_header(&size, &type, odb, git_tree_entry_id(e)) == 0, type == GIT_OBJECT_BLOB else {
                    git_error_clear()
                    continue
                }
                flat.append((name, ObjectID(git_tree_entry_id(e).pointee)))
            }
        }
        // A blob counts as kept only where its own name names it (an entry of that name holding
        // another blob keeps nothing of this one).
        var add: [String: [(name: String, id: ObjectID)]] = [:]
        for (name, id) in flat { add[String(name.prefix(2)), default: []].append((name, id)) }
        for id in ids where !id.isZero {
            let hex = id.hex
            if flat.contains(where: { $0.name == hex && $0.id == id }) { continue }
            if let parentTree, Self.entryID(parentTree, path: String(hex.prefix(2)) + "/" + hex) == id { continue }
            add[String(hex.prefix(2)), default: []].append((hex, id))
        }
        if add.isEmpty { return }
        var root: OpaquePointer?
        try check(git_treebuilder_new(&root, handle, parentTree), "build image tree")
        defer { git_treebuilder_free(root) }
        for (name, _) in flat { try check(git_treebuilder_remove(root, name), "move image \(name)") }
        for (dir, entries) in add.sorted(by: { $0.key < $1.key }) {
            var subtree: OpaquePointer?
            if let e = git_treebuilder_get(root, dir) {
                guard git_tree_entry_filemode(e) == GIT_FILEMODE_TREE else {
                    throw GitError(code: -1, message: "its entry \(dir) is not a directory; move it away with git and run the command again",
                                   operation: "keep images on \(ref)")
                }
                try check(git_tree_lookup(&subtree, handle, git_tree_entry_id(e)), "read image tree \(dir)")
            }
            defer { if let subtree { git_tree_free(subtree) } }
            var sub: OpaquePointer?
            try check(git_treebuilder_new(&sub, handle, subtree), "build image tree \(dir)")
            defer { git_treebuilder_free(sub) }
            for (name, id) in entries {
                var oid = id.raw
                try check(git_treebuilder_insert(nil, sub, name, &oid, GIT_FILEMODE_BLOB), "keep blob \(name)")
            }
            var subID = git_oid()
            try check(git_treebuilder_write(&subID, sub), "write image tree \(dir)")
            try check(git_treebuilder_insert(nil, root, dir, &subID, GIT_FILEMODE_TREE), "write image tree \(dir)")
        }
        var treeID = git_oid()
        try check(git_treebuilder_write(&treeID, root), "write image tree")
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, handle, &treeID), "read image tree")
        defer { git_tree_free(tree) }
        let sig = try makeSignature(signature)
        defer { git_signature_free(sig) }
        var out = git_oid()
        var parents: [OpaquePointer?] = parent.map { [$0] } ?? []
        _ = try parents.withUnsafeMutableBufferPointer { (buf) in
            try check(git_commit_create(&out, handle, ref, sig, sig, "UTF-8", message, tree, buf.count, buf.baseAddress),
                      "commit \(ref)")
        }
    }

    /// 40 lowercase hex digits: how `keepBlobs` names a blob.
    static func isImageName(_ name: String) -> Bool {
        name.utf8.count == 40 && name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// The id of the blob at `path` below `tree`, if there is one.
    static func entryID(_ tree: OpaquePointer, path: String) -> ObjectID? {
        var e: OpaquePointer?
        guard git_tree_entry_bypath(&e, tree, path) == 0, let e else { git_error_clear(); return nil }
        defer { git_tree_entry_free(e) }
        return git_tree_entry_type(e) == GIT_OBJECT_BLOB ? ObjectID(git_tree_entry_id(e).pointee) : nil
    }
}

/// What changed between two commits' trees, for rename decisions: deleted and added files with
/// their blob ids (renames are not paired here; see `renames(from:to:)`).
public struct TreeChanges: Sendable {
    public var deleted: [String: ObjectID] = [:]
    public var added: [String: ObjectID] = [:]
    public init() {}
}

/// `Repository.treeDelta`: one tree diff's added and deleted files and its rename pairs.
public struct TreeDelta: Sendable {
    public struct Rename: Sendable {
        public var path: String
        public var oldID: ObjectID
        public var newID: ObjectID
        public var oldMode: FileMode?
        public var newMode: FileMode?
    }
    public var changes = TreeChanges()
    /// old path → where libgit2 pairs it (a rename, by its own similarity rules).
    public var renames: [String: Rename] = [:]
    public init() {}
}

extension Repository {
    public func treeChanges(from: ObjectID, to: ObjectID) throws -> TreeChanges {
        let diff = try treeDiff(from: from, to: to)
        defer { git_diff_free(diff) }
        var out = TreeChanges()
        for i in 0..<git_diff_num_deltas(diff) {
            guard let d = git_diff_get_delta(diff, i)?.pointee else { continue }
            if d.status == GIT_DELTA_DELETED, let p = d.old_file.path { out.deleted[String(cString: p)] = ObjectID(d.old_file.id) }
            if d.status == GIT_DELTA_ADDED, let p = d.new_file.path { out.added[String(cString: p)] = ObjectID(d.new_file.id) }
        }
        return out
    }
}

extension Repository {
    /// The tree-to-tree diff of two commits (caller frees).
    func treeDiff(from: ObjectID, to: ObjectID) throws -> OpaquePointer {
        let a = try commitTree(from)
        defer { git_tree_free(a) }
        let b = try commitTree(to)
        defer { git_tree_free(b) }
        var diff: OpaquePointer?
        try check(git_diff_tree_to_tree(&diff, handle, a, b, nil), "diff \(from.short)..\(to.short)")
        return diff!
    }
}
