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

extension PatchText {
    /// The reverse of a text diff (what `git apply -R` applies): old and new sides swapped.
    /// Binary sections are returned unchanged; callers decide binary files by blob id.
    public static func reversed(_ text: String) -> String {
        var out: [String] = []
        var oldMode: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("diff --git ") {
                out.append(line)
            } else if line.hasPrefix("new file mode ") {
                out.append("deleted file mode " + line.dropFirst("new file mode ".count))
            } else if line.hasPrefix("deleted file mode ") {
                out.append("new file mode " + line.dropFirst("deleted file mode ".count))
            } else if line.hasPrefix("old mode ") {
                oldMode = String(line.dropFirst("old mode ".count))
            } else if line.hasPrefix("new mode "), let old = oldMode {
                out.append("old mode " + line.dropFirst("new mode ".count))
                out.append("new mode " + old)
                oldMode = nil
            } else if line.hasPrefix("index "), let dot = line.firstIndex(of: "."), line[line.index(after: dot)...].hasPrefix(".") {
                let ids = line[line.index(line.startIndex, offsetBy: 6)..<dot]
                let rest = line[line.index(dot, offsetBy: 2)...]
                let newID = rest.prefix { $0 != " " }
                let mode = rest.dropFirst(newID.count)
                out.append("index \(newID)..\(ids)\(mode)")
            } else if line.hasPrefix("--- ") {
                out.append(line)  // fixed up with the +++ line below
            } else if line.hasPrefix("+++ "), let minus = out.last, minus.hasPrefix("--- ") {
                let a = String(minus.dropFirst(4)), b = String(line.dropFirst(4))
                out[out.count - 1] = "--- " + swapSide(b, from: "b/", to: "a/")
                out.append("+++ " + swapSide(a, from: "a/", to: "b/"))
            } else if line.hasPrefix("@@ "), let m = parseHunkHeader(line) {
                out.append("@@ -\(m.new) +\(m.old) @@\(m.rest)")
            } else if line.hasPrefix("+") {
                out.append("-" + line.dropFirst())
            } else if line.hasPrefix("-") {
                out.append("+" + line.dropFirst())
            } else {
                out.append(line)
            }
        }
        return out.joined(separator: "\n")
    }

    static func swapSide(_ path: String, from: String, to: String) -> String {
        if path == "/dev/null" { return path }
        if path.hasPrefix("\"" + from) { return "\"" + to + path.dropFirst(1 + from.count) }
        if path.hasPrefix(from) { return to + path.dropFirst(from.count) }
        return path
    }

    /// `@@ -a,b +c,d @@ rest` → ("a,b", "c,d", " rest")
    static func parseHunkHeader(_ line: String) -> (old: Substring, new: Substring, rest: Substring)? {
        let body = line.dropFirst(3)
        guard body.hasPrefix("-"), let space = body.firstIndex(of: " ") else { return nil }
        let old = body[body.index(after: body.startIndex)..<space]
        let afterOld = body[body.index(after: space)...]
        guard afterOld.hasPrefix("+"), let space2 = afterOld.firstIndex(of: " ") else { return nil }
        let new = afterOld[afterOld.index(after: afterOld.startIndex)..<space2]
        let tail = afterOld[space2...]
        guard tail.hasPrefix(" @@") else { return nil }
        return (old, new, tail.dropFirst(3))
    }
}
