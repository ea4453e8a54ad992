import CLibgit2

/// One blob (or link/submodule) entry of a flattened tree.
public struct FlatEntry: Sendable, Equatable {
    public var path: String
    public var id: ObjectID
    public var mode: FileMode?
    public var rawMode: UInt32
}

extension Repository {
    /// Every non-tree entry under `prefix` ("" for the whole tree) of a commit's tree, with paths
    /// relative to `prefix`, plus every directory path (relative too). Reads only trees, never blobs.
    public func flatTree(commit: ObjectID, prefix: String) throws -> (files: [FlatEntry], directories: Set<String>) {
        var top = try commitTree(commit)
        if !prefix.isEmpty {
            var entry: OpaquePointer?
            let rc = git_tree_entry_bypath(&entry, top, prefix)
            if rc == GIT_ENOTFOUND.rawValue {
                git_error_clear()
                git_tree_free(top)
                throw GitError(code: rc, message: "'\(prefix)' is not in commit \(commit.short)", operation: "read tree")
            }
            try check(rc, "read \(prefix)")
            defer { git_tree_entry_free(entry) }
            guard git_tree_entry_type(entry) == GIT_OBJECT_TREE else {
                git_tree_free(top)
                throw GitError(code: -1, message: "'\(prefix)' is not a directory in commit \(commit.short)", operation: "read tree")
            }
            var sub: OpaquePointer?
            let lrc = git_tree_lookup(&sub, handle, git_tree_entry_id(entry))
            git_tree_free(top)
            try check(lrc, "read \(prefix)")
            top = sub!
        }
        var files: [FlatEntry] = []
        var dirs = Set<String>()
        var stack: [(OpaquePointer, String)] = [(top, "")]
        defer { for (t, _) in stack { git_tree_free(t) } }
        while let (tree, base) = stack.popLast() {
            defer { git_tree_free(tree) }
            let count = git_tree_entrycount(tree)
            for i in 0..<count {
                guard let e = git_tree_entry_byindex(tree, i) else { continue }
                let name = String(cString: git_tree_entry_name(e))
                let path = base.isEmpty ? name : base + "/" + name
                let raw = git_tree_entry_filemode(e).rawValue
                if git_tree_entry_type(e) == GIT_OBJECT_TREE {
                    var sub: OpaquePointer?
                    try check(git_tree_lookup(&sub, handle, git_tree_entry_id(e)), "read tree \(path)")
                    dirs.insert(path)
                    stack.append((sub!, path))
                } else {
                    files.append(FlatEntry(path: path, id: ObjectID(git_tree_entry_id(e).pointee), mode: FileMode(rawValue: raw), rawMode: raw))
                }
            }
        }
        return (files, dirs)
    }
}

/// gitignore-syntax matching by libgit2 on an in-memory handle: never touches the repository's
/// config or index on disk.
public final class IgnoreRules {
    let repo: OpaquePointer

    /// Rules from `.gitignore` files found under `workdir` (as `git status` reads them) plus
    /// `rules`; `repositoryPath` supplies the repository's own `info/exclude`.
    public init(repositoryPath: String, workdir: String, rules: [String]) throws {
        Libgit2.ensure()
        var r: OpaquePointer?
        try check(git_repository_open_ext(&r, repositoryPath, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil), "open repository \(repositoryPath)")
        repo = r!
        try check(git_repository_set_workdir(repo, workdir, 0), "set work tree \(workdir)")
        // An empty in-memory index: attribute look-ups must not read (and keep in memory) the
        // repository's own index, which can be tens of MB and says nothing about the live tree.
        var index: OpaquePointer?
        try check(git_index_new(&index), "create index")
        git_repository_set_index(repo, index)
        git_index_free(index)
        if !rules.isEmpty { try check(git_ignore_add_rule(repo, rules.joined(separator: "\n") + "\n"), "add ignore rules") }
    }

    /// Only `rules`; `emptyDirectory` must hold no `.gitignore` files (it is never written).
    public init(rulesOnly rules: [String], emptyDirectory: String) throws {
        Libgit2.ensure()
        var r: OpaquePointer?
        try check(git_repository_new(&r), "create in-memory repository")
        repo = r!
        try check(git_repository_set_workdir(repo, emptyDirectory, 0), "set work tree")
        if !rules.isEmpty { try check(git_ignore_add_rule(repo, rules.joined(separator: "\n") + "\n"), "add ignore rules") }
    }

    deinit { git_repository_free(repo) }

    /// True when `path` (relative; a directory may end in `/`) is ignored.
    public func isIgnored(_ path: String) -> Bool {
        var ignored: Int32 = 0
        guard git_ignore_path_is_ignored(&ignored, repo, path) == 0 else { git_error_clear(); return false }
        return ignored == 1
    }

    /// The blob id of `root/path` with the repository's attributes (CRLF, filters) applied, as
    /// `git add` would store it. Only meaningful for a handle opened with a repository.
    public func filteredBlobID(path: String) throws -> ObjectID {
        var oid = git_oid()
        try check(git_repository_hashfile(&oid, repo, path, GIT_OBJECT_BLOB, path), "hash \(path) with attributes")
        return ObjectID(oid)
    }
}
