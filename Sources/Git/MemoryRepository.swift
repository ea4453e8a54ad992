import CLibgit2

/// A repository that lives only in memory (a mempack object database): the workbench for building
/// patches from file contents and applying patches to buffers, without touching any repo on disk.
public final class MemoryRepository {
    let repo: OpaquePointer
    let odb: OpaquePointer

    public init() throws {
        Libgit2.ensure()
        var r: OpaquePointer?
        try check(git_repository_new(&r), "create in-memory repository")
        var o: OpaquePointer?
        do {
            try check(git_odb_new(&o), "create in-memory object database")
            var backend: UnsafeMutablePointer<git_odb_backend>?
            try check(git_mempack_new(&backend), "create in-memory object store")
            try check(git_odb_add_backend(o, backend, 1000), "attach in-memory object store")
            try check(git_repository_set_odb(r, o), "attach object database")
        } catch {
            if let o { git_odb_free(o) }
            git_repository_free(r)
            throw error
        }
        repo = r!
        odb = o!
    }

    deinit {
        git_odb_free(odb)
        git_repository_free(repo)
    }

    func writeBlob(_ content: [UInt8]) throws -> git_oid {
        var oid = git_oid()
        _ = try content.withUnsafeBytes { (buf: UnsafeRawBufferPointer) throws in
            try check(git_odb_write(&oid, odb, buf.baseAddress, buf.count, GIT_OBJECT_BLOB), "store blob")
        }
        return oid
    }

    func readBlob(_ oid: git_oid) throws -> [UInt8] {
        var blob: OpaquePointer?
        var id = oid
        try check(git_blob_lookup(&blob, repo, &id), "read blob")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let raw = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }

    /// Builds a tree holding exactly `files` and returns it (caller frees).
    func makeTree(_ files: [FileVersion]) throws -> OpaquePointer {
        var index: OpaquePointer?
        try check(git_index_new(&index), "create index")
        defer { git_index_free(index) }
        for f in files {
            var entry = git_index_entry()
            entry.mode = f.mode.rawValue
            entry.id = try writeBlob(f.content)
            try f.path.withCString { (p) in
                entry.path = p
                try check(git_index_add(index, &entry), "add \(f.path)")
            }
        }
        var treeID = git_oid()
        try check(git_index_write_tree_to(&treeID, index, repo), "write tree")
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, repo, &treeID), "read tree")
        return tree!
    }

    /// The unified diff (git format, full 40-hex index lines, binary as `GIT binary patch`) and its
    /// `--stat` summary for a set of changes. Paths must be unique, repo-relative.
    public func makePatch(_ changes: [FileChange], statWidth: Int = 72) throws -> (diff: String, stat: String) {
        let oldTree = try makeTree(changes.compactMap(\.old))
        defer { git_tree_free(oldTree) }
        let newTree = try makeTree(changes.compactMap(\.new))
        defer { git_tree_free(newTree) }
        var opts = try PatchFormat.options()
        var diff: OpaquePointer?
        try check(git_diff_tree_to_tree(&diff, repo, oldTree, newTree, &opts), "diff")
        defer { git_diff_free(diff) }
        let text = try PatchFormat.text(diff!) { path in try PatchFormat.binaryText(repo: repo, old: oldTree, new: newTree, path: path) }
        var stats: OpaquePointer?
        try check(git_diff_get_stats(&stats, diff), "diff stats")
        defer { git_diff_stats_free(stats) }
        var sbuf = git_buf()
        defer { git_buf_dispose(&sbuf) }
        try check(git_diff_stats_to_buf(&sbuf, stats, git_diff_stats_format_t(GIT_DIFF_STATS_FULL.rawValue | GIT_DIFF_STATS_INCLUDE_SUMMARY.rawValue), statWidth), "format stats")
        let stat = sbuf.ptr.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: sbuf.size), as: UTF8.self) } ?? ""
        return (text, stat)
    }

    /// Applies a git-format diff to the given preimage files, as `git apply` does (exact context,
    /// offsets allowed, no fuzz). Returns the postimage of every path the diff touches:
    /// `nil` for a deleted path. Throws when any hunk does not apply; nothing is partially applied.
    public func apply(diff text: String, to files: [FileVersion]) throws -> [String: FileVersion?] {
        let parsed = try DiffHandle(parsing: text)
        let tree = try makeTree(files)
        defer { git_tree_free(tree) }
        var index: OpaquePointer?
        try check(git_apply_to_tree(&index, repo, tree, parsed.handle, nil), "apply patch")
        defer { git_index_free(index) }
        var result: [String: FileVersion?] = [:]
        for path in parsed.touchedPaths() { result[path] = .some(nil) }
        for i in 0..<git_index_entrycount(index) {
            guard let e = git_index_get_byindex(index, i)?.pointee else { continue }
            let path = String(cString: e.path)
            guard result[path] != nil else { continue }
            let mode = FileMode(rawValue: e.mode) ?? .regular
            result[path] = .some(FileVersion(path: path, mode: mode, content: try readBlob(e.id)))
        }
        return result
    }
}

/// How patchkeeper writes diffs: full 40-hex index lines, binary as `GIT binary patch`, git's
/// indent heuristic (so patch-ids match `git patch-id --stable`), libgit2's parser bugs worked around.
enum PatchFormat {
    static func options() throws -> git_diff_options {
        var opts = git_diff_options()
        try check(git_diff_options_init(&opts, UInt32(GIT_DIFF_OPTIONS_VERSION)), "diff options")
        opts.id_abbrev = 40
        opts.flags |= GIT_DIFF_SHOW_BINARY.rawValue | GIT_DIFF_INDENT_HEURISTIC.rawValue
        return opts
    }

    /// The diff's patch text. A file whose lines are not UTF-8 (a Latin-1 config file) would not
    /// survive being kept in a String — the registry would store U+FFFD instead of its bytes, and the
    /// patch would no longer make the file it records — so it comes from `binary(path)` instead: a
    /// `GIT binary patch` (see `binaryText`), which is plain ASCII and exact.
    static func text(_ diff: OpaquePointer, binary: (String) throws -> String) throws -> String {
        var buf = git_buf()
        defer { git_buf_dispose(&buf) }
        try check(git_diff_to_buf(&buf, diff, GIT_DIFF_FORMAT_PATCH), "format diff")
        if let text = String(validating: UnsafeRawBufferPointer(start: buf.ptr, count: buf.size), as: UTF8.self) {
            return PatchText.normalized(text)
        }
        var out = ""
        for i in 0..<git_diff_num_deltas(diff) {
            var patch: OpaquePointer?
            try check(git_patch_from_diff(&patch, diff, i), "diff file \(i)")
            defer { git_patch_free(patch) }
            var pbuf = git_buf()
            defer { git_buf_dispose(&pbuf) }
            try check(git_patch_to_buf(&pbuf, patch), "format diff")
            if let text = String(validating: UnsafeRawBufferPointer(start: pbuf.ptr, count: pbuf.size), as: UTF8.self) {
                out += text
            } else if let delta = git_diff_get_delta(diff, i)?.pointee, let p = delta.new_file.path ?? delta.old_file.path {
                out += try binary(String(cString: p))
            }
        }
        return PatchText.normalized(out)
    }

    /// The patch text of one path between two trees, forced binary.
    static func binaryText(repo: OpaquePointer, old: OpaquePointer?, new: OpaquePointer?, path: String) throws -> String {
        var opts = try options()
        opts.flags |= GIT_DIFF_FORCE_BINARY.rawValue | GIT_DIFF_DISABLE_PATHSPEC_MATCH.rawValue
        var diff: OpaquePointer?
        try path.withCString { (p) in
            var ptr: UnsafeMutablePointer<CChar>? = UnsafeMutablePointer(mutating: p)
            try withUnsafeMutablePointer(to: &ptr) { (pp) in
                opts.pathspec = git_strarray(strings: pp, count: 1)
                try check(git_diff_tree_to_tree(&diff, repo, old, new, &opts), "diff \(path)")
            }
        }
        defer { git_diff_free(diff) }
        var buf = git_buf()
        defer { git_buf_dispose(&buf) }
        try check(git_diff_to_buf(&buf, diff, GIT_DIFF_FORMAT_PATCH), "format diff")
        return String(decoding: UnsafeRawBufferPointer(start: buf.ptr, count: buf.size), as: UTF8.self)
    }
}

/// A parsed libgit2 diff (from patch text), freed in deinit.
final class DiffHandle {
    let handle: OpaquePointer

    init(parsing text: String, checkHeaderPaths: Bool = true) throws {
        Libgit2.ensure()
        var d: OpaquePointer?
        let bytes = Array(PatchText.normalized(text).utf8)
        // libgit2 1.5 copies each hunk line with strndup but keeps its full length: a NUL byte in
        // a line makes every later read run past the copy (found by fuzzing; apply wrote heap
        // bytes into the live file). Text diffs never hold NUL; binary data comes base85-encoded.
        if let nul = bytes.firstIndex(of: 0) {
            let line = bytes[..<nul].reduce(1) { $1 == 10 ? $0 + 1 : $0 }
            throw GitError(code: -1, message: "NUL byte at line \(line): not a text diff (binary changes must be a 'GIT binary patch')",
                           operation: "parse patch")
        }
        if checkHeaderPaths { try PatchText.checkHeaderPaths(text) }
        _ = try bytes.withUnsafeBufferPointer { (buf) in
            try buf.withMemoryRebound(to: CChar.self) { (cbuf) in
                try check(git_diff_from_buffer(&d, cbuf.baseAddress, cbuf.count), "parse patch")
            }
        }
        handle = d!
    }

    deinit { git_diff_free(handle) }

    func touchedPaths() -> [String] {
        var out: [String] = []
        for i in 0..<git_diff_num_deltas(handle) {
            guard let d = git_diff_get_delta(handle, i)?.pointee else { continue }
            if let p = d.old_file.path, d.status != GIT_DELTA_ADDED { out.append(String(cString: p)) }
            if let p = d.new_file.path, d.status != GIT_DELTA_DELETED { out.append(String(cString: p)) }
        }
        return out
    }
}

extension MemoryRepository {
    /// A commit (in memory) whose tree holds exactly `attributeFiles`: the one place attributes
    /// are read from for conversions.
    func attributesCommit(_ attributeFiles: [FileVersion]) throws -> git_oid {
        let tree = try makeTree(attributeFiles)
        defer { git_tree_free(tree) }
        var sig: UnsafeMutablePointer<git_signature>?
        try check(git_signature_new(&sig, "patchkeeper", "patchkeeper@localhost", 0, 0), "signature")
        defer { git_signature_free(sig) }
        var commit = git_oid()
        try check(git_commit_create(&commit, repo, nil, sig, sig, "UTF-8", "attributes", tree, 0, nil), "attributes commit")
        return commit
    }

    /// Converts `content` at `path` (relative to a tree holding exactly `attributeFiles`, the
    /// `.gitattributes` files by their paths in that tree) as git would between working-tree and
    /// repository form, by those attributes only: a deploy of `REV:subdir` sees the
    /// subdirectory's `.gitattributes`, never the ones above it.
    public func convert(_ content: [UInt8], path: String, toRepository: Bool, attributeFiles: [FileVersion]) throws -> [UInt8] {
        let commit = try attributesCommit(attributeFiles)
        var opts = git_filter_options()
        opts.version = UInt32(GIT_FILTER_OPTIONS_VERSION)
        opts.flags = GIT_FILTER_NO_SYSTEM_ATTRIBUTES.rawValue | GIT_FILTER_ATTRIBUTES_FROM_COMMIT.rawValue
        opts.attr_commit_id = commit
        var filters: OpaquePointer?
        try check(git_filter_list_load_ext(&filters, repo, nil, path, toRepository ? GIT_FILTER_TO_ODB : GIT_FILTER_TO_WORKTREE, &opts),
                  "load filters for \(path)")
        guard let filters else { return content }
        defer { git_filter_list_free(filters) }
        var out = git_buf()
        defer { git_buf_dispose(&out) }
        let padded = content + [0]
        try padded.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
            let base = buf.baseAddress!.assumingMemoryBound(to: CChar.self)
            try check(git_filter_list_apply_to_buffer(&out, filters, base, content.count), "convert \(path)")
        }
        guard let p = out.ptr, out.size > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: out.size))
    }
}

extension MemoryRepository {
    /// The bytes a checkout writes for `content` at `path`, by `attributeFiles` only (see
    /// `convert`): CRLF conversion and `ident` expansion with the blob's own id; filter drivers
    /// (LFS and the like) are not run.
    public func checkoutContent(_ content: [UInt8], path: String, attributeFiles: [FileVersion]) throws -> [UInt8] {
        let commit = try attributesCommit(attributeFiles)
        var oid = try writeBlob(content)
        var blob: OpaquePointer?
        try check(git_blob_lookup(&blob, repo, &oid), "read blob")
        defer { git_blob_free(blob) }
        var opts = git_blob_filter_options()
        try check(git_blob_filter_options_init(&opts, UInt32(GIT_BLOB_FILTER_OPTIONS_VERSION)), "filter options")
        opts.flags = GIT_BLOB_FILTER_NO_SYSTEM_ATTRIBUTES.rawValue | GIT_BLOB_FILTER_ATTRIBUTES_FROM_COMMIT.rawValue
        opts.attr_commit_id = commit
        var buf = git_buf()
        defer { git_buf_dispose(&buf) }
        try check(git_blob_filter(&buf, blob, path, &opts), "filter \(path)")
        guard buf.size > 0, let p = buf.ptr else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: Int(buf.size)))
    }
}
