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

    /// Keeps the blobs `ids` reachable: commits a tree that names every blob the ref already keeps
    /// plus these (one entry per blob, named by its id) on top of `ref`. Nothing happens when the
    /// ref already keeps them all. The blobs must exist in this repository.
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
        // Only the new blobs are looked at: the builder starts from the kept tree as it is.
        var missing: [ObjectID] = []
        for id in ids where !id.isZero {
            if let parentTree, git_tree_entry_byname(parentTree, id.hex) != nil { continue }
            missing.append(id)
        }
        if missing.isEmpty { return }
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, handle, parentTree), "build image tree")
        defer { git_treebuilder_free(builder) }
        for id in missing {
            var oid = id.raw
            try check(git_treebuilder_insert(nil, builder, id.hex, &oid, GIT_FILEMODE_BLOB), "keep blob \(id.short)")
        }
        var treeID = git_oid()
        try check(git_treebuilder_write(&treeID, builder), "write image tree")
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
