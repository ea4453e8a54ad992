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

    /// Why git would refuse a tree entry of this name (nil: it would not): empty, `.`, `..`,
    /// `.git` in any case, or holding a `/`. Such a name, joined to a path, points outside its
    /// directory or into a repository (review: a deployed `..` entry made libgit2 read ignore
    /// files outside the tree, and was never reported).
    static func unsafeEntryName(_ name: UnsafeRawBufferPointer) -> String? {
        if name.isEmpty { return "an empty name" }
        if name.contains(UInt8(ascii: "/")) { return "a slash in a name" }
        if name.elementsEqual([UInt8(ascii: ".")]) || name.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) { return "a path step" }
        if name.count == 4, name[0] == UInt8(ascii: "."), name.dropFirst().map({ $0 | 0x20 }).elementsEqual(Array("git".utf8)) {
            return "a repository's own directory"
        }
        return nil
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
                let nameBytes = UnsafeRawBufferPointer(start: cname, count: strlen(cname))
                if let problem = Self.unsafeEntryName(nameBytes) {
                    throw GitError(code: -1, message: "commit \(commit.short) has an entry named '\(String(decoding: nameBytes, as: UTF8.self))' in '\(base.isEmpty ? prefix : String(decoding: base, as: UTF8.self))' (\(problem)); git refuses to check out such a tree",
                                   operation: "read tree")
                }
                path.append(contentsOf: nameBytes)
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

    /// Only `rules`. The handle has no work tree: libgit2 reads the `.gitignore` files of a work
    /// tree's directories on the way to each path it is asked about, and a work tree anywhere
    /// (an "empty" directory in the registry's state directory) let whoever could swap or fill
    /// it hide drift, and a deployed path with `..` in it make root read (or hang on) files
    /// outside it (review). Without one it matches the rules and reads no file.
    public init(rulesOnly rules: [String]) throws {
        Libgit2.ensure()
        var r: OpaquePointer?
        try check(git_repository_new(&r), "create in-memory repository")
        repo = r!
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
