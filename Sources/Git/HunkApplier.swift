/// Applies a parsed text patch to bytes the way `git apply` does: exact context, but a hunk may be
/// found some lines away from where its header says (an offset), searched outward from there.
/// libgit2 1.5's `git_apply_to_tree` only looks at the stated line, so patches stacked on one file,
/// or a file edited elsewhere, defeat it; this is the check that survives them.
public enum HunkApplier {
    /// The patched content, or nil when a hunk's preimage is not found. `reverse` applies the
    /// patch backwards (what `git apply -R` does): a non-nil result means the patch's changes are
    /// present in `content`.
    public static func apply(_ file: ParsedFilePatch, to content: [UInt8], reverse: Bool = false) -> [UInt8]? {
        guard !file.isBinary else { return nil }
        var lines = split(content)
        var endsWithNewline = content.isEmpty || content.last == UInt8(ascii: "\n")
        var minimum = 0
        var delta = 0
        for hunk in file.hunks {
            var pre: [ArraySlice<UInt8>] = []
            var post: [ArraySlice<UInt8>] = []
            var postNoNewline = false
            for line in hunk.lines {
                let isPre = line.origin == .context || line.origin == (reverse ? .addition : .deletion)
                let isPost = line.origin == .context || line.origin == (reverse ? .deletion : .addition)
                if isPre { pre.append(line.content[...]) }
                if isPost {
                    post.append(line.content[...])
                    postNoNewline = line.noNewline
                }
            }
            let stated = max(0, (reverse ? hunk.newStart : hunk.oldStart) - (pre.isEmpty ? 0 : 1)) + delta
            guard let at = find(pre, in: lines, near: stated, from: minimum) else { return nil }
            let reachesEnd = at + pre.count == lines.count
            lines.replaceSubrange(at..<at + pre.count, with: post)
            if reachesEnd && !post.isEmpty { endsWithNewline = !postNoNewline }
            minimum = at + post.count
            delta += post.count - pre.count
        }
        var out: [UInt8] = []
        for (i, l) in lines.enumerated() {
            out.append(contentsOf: l)
            if i < lines.count - 1 || endsWithNewline { out.append(UInt8(ascii: "\n")) }
        }
        return out
    }

    static func split(_ content: [UInt8]) -> [ArraySlice<UInt8>] {
        if content.isEmpty { return [] }
        var lines = content.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if content.last == UInt8(ascii: "\n") { lines.removeLast() }
        return lines
    }

    static func find(_ pre: [ArraySlice<UInt8>], in lines: [ArraySlice<UInt8>], near stated: Int, from minimum: Int) -> Int? {
        let last = lines.count - pre.count
        guard last >= minimum else { return nil }
        func matches(_ at: Int) -> Bool {
            for (k, l) in pre.enumerated() where lines[at + k] != l { return false }
            return true
        }
        let start = min(max(stated, minimum), last)
        var distance = 0
        while start - distance >= minimum || start + distance <= last {
            if start + distance <= last, matches(start + distance) { return start + distance }
            if distance > 0, start - distance >= minimum, matches(start - distance) { return start - distance }
            distance += 1
        }
        return nil
    }
}
