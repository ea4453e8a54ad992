import CLibgit2

/// One file's part of a parsed git diff.
public struct ParsedFilePatch: Sendable, Equatable {
    public enum Status: String, Sendable, Codable {
        case added, deleted, modified, renamed, copied, typechange
    }

    public var status: Status
    public var oldPath: String
    public var newPath: String
    /// nil when the side does not exist (created or deleted file).
    public var oldMode: FileMode?
    public var newMode: FileMode?
    /// As written on the `index` line; all-zero for a missing side (or when the line is absent).
    public var oldID: ObjectID
    public var newID: ObjectID
    public var isBinary: Bool
    public var hunks: [Hunk]

    /// The path a person means: the new path, or the old one for a deletion.
    public var path: String { status == .deleted ? oldPath : newPath }
    public var additions: Int { hunks.reduce(0) { $0 + $1.lines.filter { $0.origin == .addition }.count } }
    public var deletions: Int { hunks.reduce(0) { $0 + $1.lines.filter { $0.origin == .deletion }.count } }
}

public struct Hunk: Sendable, Equatable {
    public var oldStart: Int
    public var oldLines: Int
    public var newStart: Int
    public var newLines: Int
    public var header: String
    public var lines: [HunkLine]
}

public struct HunkLine: Sendable, Equatable {
    public enum Origin: Sendable, Equatable { case context, addition, deletion }
    public var origin: Origin
    /// The line's bytes without its newline.
    public var content: [UInt8]
    /// True when the line has no newline at end of file (`\ No newline at end of file`).
    public var noNewline: Bool
}

/// Parses git-format diff text (`diff --git` headers required) with libgit2's parser.
public enum PatchParser {
    /// The hunks of one libgit2 patch, lines without their newlines.
    static func hunks(of patch: OpaquePointer) throws -> [Hunk] {
        var hunks: [Hunk] = []
        for h in 0..<git_patch_num_hunks(patch) {
            var hunkPtr: UnsafePointer<git_diff_hunk>?
            var lineCount = 0
            try check(git_patch_get_hunk(&hunkPtr, &lineCount, patch, h), "read hunk")
            let hk = hunkPtr!.pointee
            var header = withUnsafeBytes(of: hk.header) { raw in
                String(decoding: raw.prefix(Int(hk.header_len)), as: UTF8.self)
            }
            if header.hasSuffix("\n") { header.removeLast() }
            var lines: [HunkLine] = []
            for l in 0..<lineCount {
                var linePtr: UnsafePointer<git_diff_line>?
                try check(git_patch_get_line_in_hunk(&linePtr, patch, h, l), "read line")
                let line = linePtr!.pointee
                let origin = UInt8(bitPattern: line.origin)
                var bytes = line.content.map {
                    Array(UnsafeRawBufferPointer(start: $0, count: line.content_len))
                } ?? []
                switch origin {
                case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: " "):
                    let noNL = bytes.last != UInt8(ascii: "\n")
                    if !noNL { bytes.removeLast() }
                    lines.append(HunkLine(origin: origin == UInt8(ascii: "+") ? .addition : origin == UInt8(ascii: "-") ? .deletion : .context,
                                          content: bytes, noNewline: noNL))
                default:
                    // EOF newline markers ('=', '>', '<'): fold into the previous line.
                    if !lines.isEmpty { lines[lines.count - 1].noNewline = true }
                }
            }
            hunks.append(Hunk(oldStart: Int(hk.old_start), oldLines: Int(hk.old_lines),
                              newStart: Int(hk.new_start), newLines: Int(hk.new_lines),
                              header: header, lines: lines))
        }
        return hunks
    }

    /// `headerPathsChecked`: the caller knows this exact text passed `PatchText.checkHeaderPaths`
    /// before (a registry file an earlier load parsed in full); the check is skipped.
    public static func parse(_ text: String, headerPathsChecked: Bool = false) throws -> [ParsedFilePatch] {
        let diff = try DiffHandle(parsing: text, checkHeaderPaths: !headerPathsChecked)
        var files: [ParsedFilePatch] = []
        for i in 0..<git_diff_num_deltas(diff.handle) {
            guard let delta = git_diff_get_delta(diff.handle, i)?.pointee else { continue }
            var patch: OpaquePointer?
            try check(git_patch_from_diff(&patch, diff.handle, i), "read patch \(i)")
            defer { git_patch_free(patch) }
            let hunks = try Self.hunks(of: patch!)
            let status: ParsedFilePatch.Status
            switch delta.status {
            case GIT_DELTA_ADDED: status = .added
            case GIT_DELTA_DELETED: status = .deleted
            case GIT_DELTA_RENAMED: status = .renamed
            case GIT_DELTA_COPIED: status = .copied
            case GIT_DELTA_TYPECHANGE: status = .typechange
            default: status = .modified
            }
            let oldMode = delta.old_file.mode == 0 ? nil : FileMode(rawValue: UInt32(delta.old_file.mode))
            let newMode = delta.new_file.mode == 0 ? nil : FileMode(rawValue: UInt32(delta.new_file.mode))
            files.append(ParsedFilePatch(
                status: status,
                oldPath: delta.old_file.path.map { String(cString: $0) } ?? "",
                newPath: delta.new_file.path.map { String(cString: $0) } ?? "",
                oldMode: status == .added ? nil : oldMode,
                newMode: status == .deleted ? nil : newMode,
                oldID: ObjectID(delta.old_file.id),
                newID: ObjectID(delta.new_file.id),
                isBinary: (delta.flags & GIT_DIFF_FLAG_BINARY.rawValue) != 0,
                hunks: hunks))
        }
        return files
    }
}

/// The result of a 3-way file merge.
public struct MergeResult: Sendable, Equatable {
    public var automergeable: Bool
    public var content: [UInt8]
    public var mode: FileMode?
    public var path: String?
}

public enum FileMerge {
    /// 3-way merge of one file (`git merge-file`): ancestor, ours, theirs. Conflicts are marked
    /// in `content` and `automergeable` is false.
    /// `labels` name the three sides in the conflict markers (ancestor, ours, theirs).
    public static func merge(ancestor: FileVersion, ours: FileVersion, theirs: FileVersion,
                             labels: (String, String, String)? = nil) throws -> MergeResult {
        Libgit2.ensure()
        var opts = git_merge_file_options()
        try check(git_merge_file_options_init(&opts, UInt32(GIT_MERGE_FILE_OPTIONS_VERSION)), "merge options")
        opts.favor = GIT_MERGE_FILE_FAVOR_NORMAL
        var result = git_merge_file_result()
        defer { git_merge_file_result_free(&result) }
        let (al, ol, tl) = labels ?? (ancestor.path, ours.path, theirs.path)
        try al.withCString { (alp) in
            try ol.withCString { (olp) in
                try tl.withCString { (tlp) in
                    if labels != nil {
                        opts.ancestor_label = alp
                        opts.our_label = olp
                        opts.their_label = tlp
                    }
                    try withInput(ancestor) { (a) in
                        try withInput(ours) { (o) in
                            try withInput(theirs) { (t) in
                                var a = a, o = o, t = t
                                try check(git_merge_file(&result, &a, &o, &t, &opts), "merge \(ours.path)")
                            }
                        }
                    }
                }
            }
        }
        let content = result.ptr.map { Array(UnsafeRawBufferPointer(start: $0, count: result.len)) } ?? []
        return MergeResult(automergeable: result.automergeable == 1, content: content,
                           mode: FileMode(rawValue: result.mode), path: result.path.map { String(cString: $0) })
    }

    private static func withInput(_ f: FileVersion, _ body: (git_merge_file_input) throws -> Void) throws {
        var input = git_merge_file_input()
        try check(git_merge_file_input_init(&input, UInt32(GIT_MERGE_FILE_INPUT_VERSION)), "merge input")
        input.mode = f.mode.rawValue
        try f.path.withCString { (p) in
            input.path = p
            try f.content.withUnsafeBufferPointer { (buf) in
                try buf.withMemoryRebound(to: CChar.self) { (cbuf) in
                    input.ptr = cbuf.baseAddress
                    input.size = cbuf.count
                    try body(input)
                }
            }
        }
    }
}

extension Repository {
    /// The hunks of the diff between two blobs of this repository, with the options patch files
    /// are made with (`PatchFormat.options`: indent heuristic, three lines of context), read from
    /// the object database without writing or hashing anything: for following a patch's lines
    /// through a file's history. Empty for a binary pair.
    public func blobHunks(old: ObjectID, new: ObjectID) throws -> [Hunk] {
        // Read as the history walks read (no re-hash of each object: see withoutHashVerification).
        try Libgit2.withoutHashVerification { try diffBlobs(old: old, new: new) }
    }

    private func diffBlobs(old: ObjectID, new: ObjectID) throws -> [Hunk] {
        var a: OpaquePointer?, b: OpaquePointer?
        var oa = old.raw, ob = new.raw
        try check(git_blob_lookup(&a, handle, &oa), "read blob \(old.short)")
        defer { git_blob_free(a) }
        try check(git_blob_lookup(&b, handle, &ob), "read blob \(new.short)")
        defer { git_blob_free(b) }
        var opts = try PatchFormat.options()
        var patch: OpaquePointer?
        try check(git_patch_from_blobs(&patch, a, nil, b, nil, &opts), "diff blobs")
        defer { git_patch_free(patch) }
        if let d = git_patch_get_delta(patch)?.pointee, d.flags & GIT_DIFF_FLAG_BINARY.rawValue != 0 { return [] }
        return try PatchParser.hunks(of: patch!)
    }
}
