import CLibgit2
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One blob (or link/submodule) entry of a flattened tree.
public struct FlatEntry: Sendable, Equatable {
    public var path: String
    public var id: ObjectID
    public var mode: FileMode?
    public var rawMode: UInt32

    public init(path: String, id: ObjectID, rawMode: UInt32) {
        self.path = path
        self.id = id
        self.mode = FileMode(rawValue: rawMode)
        self.rawMode = rawMode
    }
}

extension Repository {
    /// Every non-tree entry under `prefix` ("" for the whole tree) of a commit's tree, with paths
    /// relative to `prefix`, plus every directory path (relative too). Reads only trees, never blobs.
    public func flatTree(commit: ObjectID, prefix: String) throws -> (files: [FlatEntry], directories: Set<String>) {
        var files: [FlatEntry] = []
        let dirs = try flatTree(commit: commit, prefix: prefix) { path, id, raw in
            files.append(FlatEntry(path: String(decoding: path, as: UTF8.self), id: id, rawMode: raw))
        }
        return (files, dirs)
    }

    /// `flatTree(commit:prefix:)` one file at a time: `visit` gets each non-tree entry's path
    /// bytes (valid for the call), id and raw mode; the directories are returned.
    public func flatTree(commit: ObjectID, prefix: String,
                         visit: (UnsafeRawBufferPointer, ObjectID, UInt32) throws -> Void) throws -> Set<String> {
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
        var dirs = Set<String>()
        var stack: [(OpaquePointer, [UInt8])] = [(top, [])]
        defer { for (t, _) in stack { git_tree_free(t) } }
        var path: [UInt8] = []
        while let (tree, base) = stack.popLast() {
            defer { git_tree_free(tree) }
            let count = git_tree_entrycount(tree)
            for i in 0..<count {
                guard let e = git_tree_entry_byindex(tree, i) else { continue }
                let cname = git_tree_entry_name(e)!
                path.removeAll(keepingCapacity: true)
                if !base.isEmpty {
                    path.append(contentsOf: base)
                    path.append(UInt8(ascii: "/"))
                }
                path.append(contentsOf: UnsafeRawBufferPointer(start: cname, count: strlen(cname)))
                let raw = git_tree_entry_filemode(e).rawValue
                if git_tree_entry_type(e) == GIT_OBJECT_TREE {
                    let name = String(decoding: path, as: UTF8.self)
                    var sub: OpaquePointer?
                    try check(git_tree_lookup(&sub, handle, git_tree_entry_id(e)), "read tree \(name)")
                    dirs.insert(name)
                    stack.append((sub!, path))
                } else {
                    try path.withUnsafeBytes { try visit($0, ObjectID(git_tree_entry_id(e).pointee), raw) }
                }
            }
        }
        return dirs
    }
}

/// gitignore-syntax matching by libgit2 on an in-memory handle: never touches the repository's
/// config or index on disk, and never reads a `.gitignore` file (the live tree's belong to
/// whoever can write there: a FIFO among them would hang the read, a `*` would hide drift).
/// Rules from a deployed tree's `.gitignore` files come in through `scopedRules`.
public final class IgnoreRules {
    let repo: OpaquePointer

    /// Only `rules`; `emptyDirectory` must hold no `.gitignore` files (it is never written).
    public init(rulesOnly rules: [String], emptyDirectory: String) throws {
        Libgit2.ensure()
        var r: OpaquePointer?
        try check(git_repository_new(&r), "create in-memory repository")
        repo = r!
        try check(git_repository_set_workdir(repo, emptyDirectory, 0), "set work tree")
        // One rule a line, split here on the scalar: libgit2 splits the joined text on "\n"
        // itself, and a rule holding one (a config string, "\r\n") would reach it unchecked.
        let lines = rules.flatMap { $0.unicodeScalars.split(separator: "\n").map { String(String.UnicodeScalarView($0)) } }
        let safe = lines.compactMap(Self.libgit2Safe)
        if !safe.isEmpty { try check(git_ignore_add_rule(repo, safe.joined(separator: "\n") + "\n"), "add ignore rules") }
    }

    /// A rule libgit2 1.5 parses as git would: NUL bytes dropped (they would cut the C string),
    /// a vertical tab or form feed escaped. libgit2 ends a pattern at an unescaped one and then
    /// loops forever on the rest of the line (FuzzIgnore found it: a `.gitignore` line holding
    /// `\v` hung every scan); git takes both as ordinary characters, which the escape keeps.
    /// nil for a rule with nothing to match but slashes, backslashes and blanks: it matches
    /// nothing in git, and as a negation (`!//`, `!\` + CR) after a wildcard rule libgit2 parses
    /// it to an empty pattern and dereferences NULL in `does_negate_rule` (FuzzIgnore again).
    static func libgit2Safe(_ rule: String) -> String? {
        let scalars = String.UnicodeScalarView(rule.unicodeScalars.filter { $0 != "\0" })
        let negated = scalars.first == "!"
        let body = negated ? scalars.dropFirst() : scalars[...]
        let hollow = body.allSatisfy { ["/", "\\", " ", "\t", "\r", "\u{0B}", "\u{0C}"].contains($0) }
        if hollow && (negated || body.contains("/") || body.contains("\\")) { return nil }
        var out = String.UnicodeScalarView()
        for c in scalars {
            if c == "\u{0B}" || c == "\u{0C}" { out.append("\\") }
            out.append(c)
        }
        return String(out)
    }

    deinit { git_repository_free(repo) }

    /// True when `path` (relative; a directory may end in `/`) is ignored.
    public func isIgnored(_ path: String) -> Bool {
        var ignored: Int32 = 0
        guard git_ignore_path_is_ignored(&ignored, repo, path) == 0 else { git_error_clear(); return false }
        return ignored == 1
    }

    /// The rules of one `.gitignore` file found in directory `directory` (repo-relative, "" for
    /// the top), rewritten to match repo-relative paths from the top, as git scopes them: a
    /// pattern with a slash at its start or middle is anchored at `directory`; one without matches
    /// at any depth below it. Negations, directory-only patterns (trailing `/`) and escapes are
    /// kept; blank lines and comments dropped, a CR before the newline and NUL bytes removed.
    /// Add the files' rules shallowest first: libgit2 tries the last rule first, so a deeper
    /// file's rules win, as in git.
    public static func scopedRules(gitignore text: String, directory: String) -> [String] {
        // A newline would split a rule in two, a NUL cut it short: either could widen it beyond
        // the directory. Such a directory's rules are left out (ignoring less is the safe side).
        if directory.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\0" }) { return [] }
        let base = directory.slashParts().map { escapeGlob(String($0)) }.joined(separator: "/")
        var out: [String] = []
        // Lines split on the scalar, not the Character: "\r\n" is one Character in Swift, and a
        // CRLF file read as one line would reach libgit2 as several rules, all but the first
        // unscoped (FuzzIgnore found it).
        for rawLine in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = String.UnicodeScalarView(rawLine.filter { $0 != "\0" })
            if line.last == "\r" { line.removeLast() }
            if line.isEmpty || line.first == "#" { continue }
            var negate = ""
            if line.first == "!" {
                negate = "!"
                line.removeFirst()
            }
            // Trailing blanks end the pattern unless escaped; a pattern of blanks matches nothing.
            while line.last == " " && !(line.count >= 2 && line[line.index(line.endIndex, offsetBy: -2)] == "\\") { line.removeLast() }
            var body = line
            if body.last == "/" { body.removeLast() }
            let anchored = body.contains("/")
            while line.first == "/" { line.removeFirst() }
            if line.isEmpty { continue }
            let pattern = String(line)
            if base.isEmpty {
                out.append(negate + (anchored ? "/" + pattern : pattern))
            } else {
                out.append(negate + "/" + base + (anchored ? "/" : "/**/") + pattern)
            }
        }
        return out
    }

    /// `name` with glob characters escaped, to match only itself (scalar by scalar: a combining
    /// mark after `*` makes one Character that is not `*`).
    static func escapeGlob(_ name: String) -> String {
        var out = String.UnicodeScalarView()
        for c in name.unicodeScalars {
            if c == "\\" || c == "*" || c == "?" || c == "[" || c == "]" || c == "!" || c == "#" { out.append("\\") }
            out.append(c)
        }
        return String(out)
    }
}

/// Checkout (smudge) filters from a repository with attributes taken only from a commit's
/// `.gitattributes` files: the handle's work tree is an empty directory and its index is empty,
/// so no file of the live tree is ever read for attributes.
public final class CheckoutFilter {
    let repo: OpaquePointer
    let commit: ObjectID

    public init(repositoryPath: String, emptyDirectory: String, commit: ObjectID) throws {
        Libgit2.ensure()
        var r: OpaquePointer?
        try check(git_repository_open_ext(&r, repositoryPath, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil), "open repository \(repositoryPath)")
        repo = r!
        self.commit = commit
        do {
            try check(git_repository_set_workdir(repo, emptyDirectory, 0), "set work tree")
            var index: OpaquePointer?
            try check(git_index_new(&index), "create index")
            git_repository_set_index(repo, index)
            git_index_free(index)
        } catch {
            git_repository_free(repo)
            throw error
        }
    }

    deinit { git_repository_free(repo) }

    /// The bytes a checkout writes for `blob` at repo path `path`: CRLF conversion, `ident`
    /// expansion (`$Id$` -> `$Id: <blob id> $`); filter drivers (LFS and the like) are not run.
    public func checkoutContent(blob id: ObjectID, path: String) throws -> [UInt8] {
        var blob: OpaquePointer?
        var oid = id.raw
        try check(git_blob_lookup(&blob, repo, &oid), "read blob \(id.short)")
        defer { git_blob_free(blob) }
        var opts = git_blob_filter_options()
        try check(git_blob_filter_options_init(&opts, UInt32(GIT_BLOB_FILTER_OPTIONS_VERSION)), "filter options")
        opts.flags = GIT_BLOB_FILTER_NO_SYSTEM_ATTRIBUTES.rawValue | GIT_BLOB_FILTER_ATTRIBUTES_FROM_COMMIT.rawValue
        opts.attr_commit_id = commit.raw
        var buf = git_buf()
        defer { git_buf_dispose(&buf) }
        try check(git_blob_filter(&buf, blob, path, &opts), "filter \(path)")
        guard buf.size > 0, let p = buf.ptr else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: Int(buf.size)))
    }
}

/// `base + "/" + name` (just `name` when `base` is empty) in one allocation: two `+` per entry were
/// a twentieth of a warm scan's instructions. Invalid UTF-8 in `name` is repaired, as
/// `String(cString:)` repairs it.
public func joinedPath(_ base: String, _ name: UnsafeRawBufferPointer) -> String {
    var base = base
    return base.withUTF8 { b in
        let n = b.isEmpty ? name.count : b.count + 1 + name.count
        return String(unsafeUninitializedCapacity: n) { out in
            var i = 0
            if let src = b.baseAddress, !b.isEmpty {
                UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: src, byteCount: b.count)
                out[b.count] = UInt8(ascii: "/")
                i = b.count + 1
            }
            if let src = name.baseAddress, !name.isEmpty {
                UnsafeMutableRawPointer(out.baseAddress! + i).copyMemory(from: src, byteCount: name.count)
            }
            return n
        }
    }
}
