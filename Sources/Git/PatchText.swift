/// Works around two libgit2 1.5 patch-parser bugs, rewriting git diff text into a form that both
/// libgit2 and git read the same way:
/// - a created or deleted *empty* file (`new file mode` + `index` and nothing else) is rejected
///   (libgit2 #5713): add the `--- /dev/null` / `+++ b/path` pair git also accepts;
/// - a path with a space in an unquoted `diff --git a/P b/P` header loses its old side, and
///   applying it fails (libgit2 #6294): quote the header and `---`/`+++` paths, as git allows.
public enum PatchText {
    public static func normalized(_ text: String) -> String {
        if unchangedByNormalizing(text) { return text }
        return rewritten(text)
    }

    /// `normalized` without the byte-level shortcut (tests compare the two).
    static func rewritten(_ text: String) -> String {
        guard text.byteRange(of: "new file mode") != nil || text.byteRange(of: "deleted file mode") != nil
            || text.byteRange(of: " b/") != nil || text.byteRange(of: "old mode") != nil else { return text }
        var lines = text.fields("\n", keepEmpty: true).map(String.init)
        var i = 0
        while i < lines.count {
            guard lines[i].hasPrefix("diff --git ") else { i += 1; continue }
            var j = i + 1
            var isNew = false, isDeleted = false, hasBody = false, hasIndex = false, modeChange = false
            var binaryLine: Int?
            let path = samePath(in: lines[i])
            let needsQuotes = path.map { $0.contains(" ") && !$0.contains("\\") } ?? false
            if needsQuotes, let path {
                lines[i] = "diff --git \(quote("a/" + path)) \(quote("b/" + path))"
            }
            while j < lines.count, !lines[j].hasPrefix("diff --git ") {
                if needsQuotes, let path {
                    if lines[j] == "--- a/" + path { lines[j] = "--- " + quote("a/" + path) }
                    if lines[j] == "+++ b/" + path { lines[j] = "+++ " + quote("b/" + path) }
                }
                let l = lines[j]
                if l.hasPrefix("new file mode ") { isNew = true }
                if l.hasPrefix("deleted file mode ") { isDeleted = true }
                if l.hasPrefix("index ") { hasIndex = true }
                if l.hasPrefix("old mode ") { modeChange = true }
                if l.hasPrefix("Binary files ") { binaryLine = j }
                if l.hasPrefix("--- ") || l.hasPrefix("+++ ") || l.hasPrefix("@@") || l.hasPrefix("Binary files ") || l == "GIT binary patch" {
                    hasBody = true
                }
                j += 1
            }
            // libgit2 writes "Binary files … differ" for a mode-only change of a binary file (no
            // index line, no content change) and then refuses to parse it: a mode change has no body.
            if modeChange, !hasIndex, !isNew, !isDeleted, let b = binaryLine {
                lines.remove(at: b)
                j -= 1
            }
            if (isNew || isDeleted) && !hasBody, let path {
                var insertAt = j
                while insertAt > i + 1, lines[insertAt - 1].isEmpty { insertAt -= 1 }
                let a = needsQuotes ? quote("a/" + path) : "a/" + path
                let b = needsQuotes ? quote("b/" + path) : "b/" + path
                let pair = isNew ? ["--- /dev/null", "+++ \(b)"] : ["--- \(a)", "+++ /dev/null"]
                lines.insert(contentsOf: pair, at: insertAt)
                j += 2
            }
            i = j
        }
        return lines.joined(separator: "\n")
    }

    /// True when `normalized` certainly gives `text` back unchanged, decided on bytes without
    /// splitting it into lines: no `new file mode`, `deleted file mode` or `old mode` anywhere
    /// (the rewrites of created, deleted and mode-only files need one), and every line that starts
    /// with `diff --git ` has no CR and exactly three spaces (`diff --git a/P b/P` with a space in
    /// P has five or more: only those headers are quoted). False sends it the slow way.
    static func unchangedByNormalizing(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { buf -> Bool in
            for needle in ["new file mode", "deleted file mode", "old mode"] {
                let n = Array(needle.utf8)
                var i = 0
                while i + n.count <= buf.count {
                    if buf[i] == n[0], n.indices.allSatisfy({ buf[i + $0] == n[$0] }) { return false }
                    i += 1
                }
            }
            let header = Array("diff --git ".utf8)
            var i = 0
            while i < buf.count {
                var j = i
                while j < buf.count, buf[j] != 10 { j += 1 }
                if j - i >= header.count, header.indices.allSatisfy({ buf[i + $0] == header[$0] }) {
                    var spaces = 0
                    for k in i..<j {
                        if buf[k] == 13 { return false }
                        if buf[k] == 32 { spaces += 1 }
                    }
                    if spaces != 3 { return false }
                }
                i = j + 1
            }
            return true
        }
    }

    static func quote(_ s: String) -> String {
        "\"" + s + "\""
    }

    /// `P` from `diff --git a/P b/P` (unquoted, both sides equal); nil otherwise.
    static func samePath(in header: String) -> String? {
        let rest = header.dropFirst("diff --git ".count)
        guard rest.hasPrefix("a/"), !rest.contains("\"") else { return nil }
        let body = rest.dropFirst(2)  // P b/P
        let n = body.count
        guard n > 3, (n - 3) % 2 == 0 else { return nil }
        let half = (n - 3) / 2
        let p = body.prefix(half)
        guard body.dropFirst(half).hasPrefix(" b/"), body.suffix(half) == p else { return nil }
        return String(p)
    }
}


extension PatchText {
    /// Refuses header paths that libgit2 would silently change: an absolute path (`/etc/x`,
    /// `b//etc/x`: libgit2 drops the leading slashes, git keeps them), a quoted path with a `\000`
    /// escape (cut at the NUL) or with bytes that are not UTF-8 (turned into U+FFFD, so another
    /// file would be written). `..` and newlines are left to the callers' path checks.
    static func checkHeaderPaths(_ text: String) throws {
        // Bytes throughout, as libgit2 reads them: Characters would join a space and a combining
        // mark after it (`diff --git \u{301}a//etc/x …` has no "diff --git " prefix as Characters,
        // and every header line after it went unchecked).
        let all = Array(text.utf8)
        func starts(_ line: ArraySlice<UInt8>, _ prefix: String) -> Bool { line.starts(with: prefix.utf8) }
        var inHeader = false
        for (n, line) in all.split(separator: 10, omittingEmptySubsequences: false).enumerated() {
            if starts(line, "diff --git ") { inHeader = true } else if !inHeader { continue }
            if starts(line, "@@") || line.elementsEqual("GIT binary patch".utf8) || starts(line, "Binary files ") { inHeader = false; continue }
            var paths: [(text: ArraySlice<UInt8>, prefixed: Bool)] = []
            if starts(line, "diff --git ") {
                let rest = line.dropFirst("diff --git ".count)
                if rest.first == UInt8(ascii: "\"") {
                    paths.append((rest, true))
                    if let close = closingQuote(rest) { paths.append((rest[(close + 1)...].drop { $0 == 32 }, true)) }
                } else {
                    paths.append((rest, true))
                    if let r = firstRange(of: " \"", in: rest) ?? firstRange(of: " b/", in: rest) { paths.append((rest[(r + 1)...], true)) }
                }
            } else if starts(line, "--- ") || starts(line, "+++ ") {
                let p = line.dropFirst(4)
                if !p.elementsEqual("/dev/null".utf8) && !p.starts(with: "/dev/null\t".utf8) { paths.append((p, true)) }
            } else {
                for key in ["rename from ", "rename to ", "copy from ", "copy to "] where starts(line, key) {
                    paths.append((line.dropFirst(key.utf8.count), false))
                }
            }
            for (raw, prefixed) in paths {
                let bytes: [UInt8]
                if raw.first == UInt8(ascii: "\""), let close = closingQuote(raw) {
                    bytes = unquote(raw[(raw.startIndex + 1)..<close])
                } else {
                    bytes = Array(raw.prefix { $0 != 9 && $0 != 32 })
                }
                func fail(_ what: String) -> GitError {
                    let shown = String(decoding: bytes.prefix(80).map { $0 < 0x20 || $0 == 0x7f ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
                    return GitError(code: -1, message: "path '\(shown)' \(what) at line \(n + 1)", operation: "parse patch")
                }
                if bytes.contains(0) { throw fail("contains a NUL byte") }
                if String(validating: bytes, as: UTF8.self) == nil { throw fail("is not UTF-8") }
                var path = bytes[...]
                if path.first == UInt8(ascii: "/") { throw fail("is absolute") }
                if prefixed, let slash = path.firstIndex(of: UInt8(ascii: "/")) { path = path[(slash + 1)...] }
                if prefixed, path.first == UInt8(ascii: "/") { throw fail("is absolute") }
            }
        }
    }

    /// The index of the first byte of `needle` in `s`.
    static func firstRange(of needle: String, in s: ArraySlice<UInt8>) -> Int? {
        let n = Array(needle.utf8)
        guard s.count >= n.count else { return nil }
        var i = s.startIndex
        while i + n.count <= s.endIndex {
            if s[i..<(i + n.count)].elementsEqual(n) { return i }
            i += 1
        }
        return nil
    }

    /// The index of the quote that closes the C-quoted string starting at `s.startIndex`.
    static func closingQuote(_ s: ArraySlice<UInt8>) -> Int? {
        var i = s.startIndex + 1
        while i < s.endIndex {
            if s[i] == UInt8(ascii: "\\") { i += 2; continue }
            if s[i] == UInt8(ascii: "\"") { return i }
            i += 1
        }
        return nil
    }

    /// The bytes of a git C-quoted path body (`\n`, `\t`, `\"`, `\\`, `\ooo` octal).
    static func unquote(_ s: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        let u = Array(s)
        var i = 0
        while i < u.count {
            guard u[i] == UInt8(ascii: "\\"), i + 1 < u.count else { out.append(u[i]); i += 1; continue }
            let c = u[i + 1]
            if (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(c) {
                var v = 0, k = i + 1
                while k < u.count, k < i + 4, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(u[k]) { v = v * 8 + Int(u[k] - 48); k += 1 }
                out.append(UInt8(truncatingIfNeeded: v))
                i = k
                continue
            }
            let map: [UInt8: UInt8] = [UInt8(ascii: "n"): 10, UInt8(ascii: "t"): 9, UInt8(ascii: "r"): 13, UInt8(ascii: "a"): 7,
                                       UInt8(ascii: "b"): 8, UInt8(ascii: "f"): 12, UInt8(ascii: "v"): 11]
            out.append(map[c] ?? c)
            i += 2
        }
        return out
    }
}
