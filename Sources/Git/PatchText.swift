/// Works around two libgit2 1.5 patch-parser bugs, rewriting git diff text into a form that both
/// libgit2 and git read the same way:
/// - a created or deleted *empty* file (`new file mode` + `index` and nothing else) is rejected
///   (libgit2 #5713): add the `--- /dev/null` / `+++ b/path` pair git also accepts;
/// - a path with a space in an unquoted `diff --git a/P b/P` header loses its old side, and
///   applying it fails (libgit2 #6294): quote the header and `---`/`+++` paths, as git allows.
public enum PatchText {
    public static func normalized(_ text: String) -> String {
        guard text.contains("new file mode") || text.contains("deleted file mode") || text.contains(" b/") else { return text }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var i = 0
        while i < lines.count {
            guard lines[i].hasPrefix("diff --git ") else { i += 1; continue }
            var j = i + 1
            var isNew = false, isDeleted = false, hasBody = false
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
                if l.hasPrefix("--- ") || l.hasPrefix("+++ ") || l.hasPrefix("@@") || l.hasPrefix("Binary files ") || l == "GIT binary patch" {
                    hasBody = true
                }
                j += 1
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

