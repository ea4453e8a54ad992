#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// A registry patch file (DESIGN §2): a `git format-patch --full-index` e-mail with patchkeeper's
/// trailers. Parsing and writing round-trip byte for byte; unknown headers and trailers are kept.
public struct PatchFile: Sendable, Equatable {
    public static func == (a: PatchFile, b: PatchFile) -> Bool {
        a.fileName == b.fileName && a.fromLine == b.fromLine && a.author == b.author && a.dateText == b.dateText
            && a.subject == b.subject && a.extraHeaders == b.extraHeaders && a.body == b.body && a.trailers == b.trailers
            && a.tail == b.tail
    }

    public struct Trailer: Sendable, Equatable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) {
            self.key = key
            self.value = value
        }
    }

    public enum Status: String, Sendable, Codable, CaseIterable {
        case active, retired, upstreamed
    }

    /// The registry file name, `NNNN-slug.patch`.
    public var fileName: String
    /// `From <commit> Mon Sep 17 00:00:00 2001`
    public var fromLine: String
    public var author: Person
    public var dateText: String
    /// The title, without `[PATCH]`.
    public var subject: String
    /// Header lines other than From/Date/Subject, kept verbatim.
    public var extraHeaders: [String]
    /// The message body: the reason, free text.
    public var body: String
    public var trailers: [Trailer]
    /// Everything after the `---` line: diffstat, blank line, the diff. Kept verbatim.
    public var tail: String

    public init(fileName: String, fromLine: String, author: Person, dateText: String, subject: String,
                extraHeaders: [String] = [], body: String, trailers: [Trailer], tail: String) {
        self.fileName = fileName
        self.fromLine = fromLine
        self.author = author
        self.dateText = dateText
        self.subject = subject
        self.extraHeaders = extraHeaders
        self.body = body
        self.trailers = trailers
        self.tail = tail
    }

    // MARK: trailers

    public func trailer(_ key: String) -> String? {
        trailers.last { Text.sameIgnoringCase($0.key, key) }?.value
    }

    /// Sets (replacing every occurrence) or appends a trailer; nil removes it.
    public mutating func setTrailer(_ key: String, _ value: String?) {
        let matches = trailers.indices.filter { Text.sameIgnoringCase(trailers[$0].key, key) }
        for i in matches.dropFirst().reversed() { trailers.remove(at: i) }
        let clean = value.map(Text.singleLine)
        if let i = trailers.firstIndex(where: { Text.sameIgnoringCase($0.key, key) }) {
            if let clean { trailers[i].value = clean } else { trailers.remove(at: i) }
        } else if let clean {
            trailers.append(Trailer(key, clean))
        }
    }

    public var id: String { trailer("Patch-Id") ?? "" }
    public var base: ObjectID? { trailer("Base").flatMap(ObjectID.init(hex:)) }
    public var status: Status { trailer("Status").flatMap(Status.init(rawValue:)) ?? .active }
    public var ticket: String? { trailer("Ticket") }
    public var expires: String? { trailer("Expires") }
    public var reason: String { trailer("Reason") ?? body }
    public var date: Date? { Text.parseRFC2822(dateText) }

    public func isExpired(now: Date) -> Bool {
        guard let e = expires, let end = Text.endOfDay(e) else { return false }
        return now >= end
    }

    /// The diff part of the tail (from the first `diff --git`), without a format-patch signature.
    public var diffText: String { Self.diffSection(of: tail) ?? "" }

    /// The files of the diff, parsed by libgit2.
    public func files() throws -> [ParsedFilePatch] {
        if let parsed, parsed.tail == tail { return parsed.files }
        if let lazy, let known = lazy.files(for: tail) { return known }
        // Text an earlier load parsed in full (its blob id is in `validated`) passed the header
        // path checks then; they depend on the text alone.
        let files = try PatchParser.parse(diffText, headerPathsChecked: lazy?.validatedTail == tail)
        for f in files {
            for p in [f.oldPath, f.newPath] where !p.isEmpty { _ = try SafePath.relative(p, source: "\(fileName): patch path") }
        }
        lazy?.store(files, for: tail)
        return files
    }

    /// False only when the patch certainly does not touch `path`: its diff text does not even
    /// contain it (a cheap test before parsing; a path git would quote always answers true, and
    /// so does a patch whose headers quote any path: `"a/\113.rb"` is `K.rb` to git, and a
    /// registry file can spell a plain path that way).
    /// The search is by bytes, as git wrote them: Foundation's `contains` went through NSString,
    /// 60k instructions a patch, 11% of a `record` in a 1,000-patch registry.
    public func mayTouch(_ path: String) -> Bool {
        let plain = path.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7f && $0 != "\"" && $0 != "\\" }
        return !plain || tail.byteRange(of: path) != nil || Self.quotesAPath(tail)
    }

    static let pathHeaders = ["diff --git ", "--- ", "+++ ", "rename from ", "rename to ", "copy from ", "copy to "].map { Array($0.utf8) }

    /// Whether a header line of the diff (`diff --git`, `---`, `+++`, rename and copy lines)
    /// holds a `"`: git's quoting, under which a path's bytes need not appear as they are.
    static func quotesAPath(_ tail: String) -> Bool {
        var text = tail
        return text.withUTF8 { b in
            guard let base = b.baseAddress, memchr(base, 0x22, b.count) != nil else { return false }
            var start = 0
            while start < b.count {
                var end = start
                while end < b.count && b[end] != 10 { end += 1 }
                let line = UnsafeBufferPointer(rebasing: b[start..<end])
                if line.contains(0x22), pathHeaders.contains(where: { line.starts(with: $0) }) { return true }
                start = end + 1
            }
            return false
        }
    }

    /// The files as `parse` found them, with the tail they came from (a rebase changes the tail).
    var parsed: (tail: String, files: [ParsedFilePatch])?
    /// The blob id of the registry file this value was loaded from (nil when not loaded from one).
    var contentID: ObjectID?
    /// Set when an earlier scan found that every file's hunks, applied to the preimage its index
    /// line names, make the postimage it names (the registry's `validated` cache, by file blob id):
    /// the tail it holds for. A fact about the text alone, so the check is not repeated.
    var hunksVerifiedTail: String?
    var hunksVerified: Bool { hunksVerifiedTail.map { $0 == tail } ?? false }
    /// For a file loaded without its diff parsed (already validated by an earlier load): the
    /// files, parsed on first use.
    var lazy: LazyFiles?
    /// Set by `parse` when the From header has no `<`: `Person.parse` may then have made the
    /// e-mail from this host's name, so the parsed head is not a fact about the text alone
    /// (`HeaderCache` does not keep it).
    var authorMayNameHost = false

    // MARK: writing

    /// The file's text. `parse(render())` gives back an equal value.
    public func render() -> String {
        var out = fromLine + "\n"
        out += "From: \(author.formatted)\n"
        out += "Date: \(dateText)\n"
        out += "Subject: [PATCH] \(subject)\n"
        for h in extraHeaders { out += h + "\n" }
        out += "\n"
        if !body.isEmpty { out += body + "\n\n" }
        for t in trailers { out += "\(t.key): \(t.value)\n" }
        out += "---\n"
        out += tail
        return out
    }

    // MARK: parsing

    /// A file that is not a valid patch: names the file, the line and what is wrong.
    public struct ParseError: Error, Sendable, CustomStringConvertible, Equatable {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }


    /// Parses a registry file. `requireRegistryFields`: Patch-Id and Base must be present
    /// (false for `apply` input, which may be a foreign format-patch e-mail).
    /// `validateDiff: false` skips parsing the diff with libgit2 (a registry load of a file whose
    /// exact content an earlier load validated): `files()` parses it on first use.
    public static func parse(_ text: String, fileName: String, requireRegistryFields: Bool = true,
                             validateDiff: Bool = true) throws(ParseError) -> PatchFile {
        func fail(_ line: Int, _ message: String) -> ParseError { ParseError(file: fileName, line: line, message: message) }
        // memchr when the text is contiguous (as read from a file): `utf8.contains` was 16k
        // instructions a file, 3% of a `record` in a 1,000-patch registry.
        let hasNUL = text.utf8.withContiguousStorageIfAvailable { b in
            b.baseAddress.map { memchr($0, 0, b.count) != nil } ?? false
        } ?? text.utf8.contains(0)
        if hasNUL { throw fail(1, "contains NUL bytes; not a text patch file") }
        // Only the head is split into lines when it can be: up to the first '---' line after the
        // first empty one (the diff after it can be long and is kept whole as `tail`).
        let head = headSplit(text)
        let lines = head?.lines ?? text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.first, first.hasPrefix("From ") else {
            throw fail(1, "not a patch file: the first line must be 'From <commit> ...' as git format-patch writes it")
        }
        var i = 1
        var headers: [(String, Int)] = []
        while i < lines.count, !lines[i].isEmpty {
            if (lines[i].hasPrefix(" ") || lines[i].hasPrefix("\t")), !headers.isEmpty {
                headers[headers.count - 1].0 += " " + Text.trimmedSpaces(lines[i])
            } else {
                headers.append((lines[i], i + 1))
            }
            i += 1
        }
        guard i < lines.count else { throw fail(lines.count, "the file ends inside the mail header") }
        var author: Person?
        var authorMayNameHost = false
        var dateText = ""
        var subject: String?
        var extra: [String] = []
        for (h, ln) in headers {
            if h.hasPrefix("From: ") {
                guard let p = Person.parse(String(h.dropFirst(6))) else { throw fail(ln, "cannot read the author in '\(Text.singleLine(h))'") }
                author = p
                authorMayNameHost = authorMayNameHost || !h.utf8.contains(UInt8(ascii: "<"))
            } else if h.hasPrefix("Date: ") {
                dateText = String(h.dropFirst(6))
            } else if h.hasPrefix("Subject: ") {
                var s = String(h.dropFirst(9))
                if s.hasPrefix("["), let close = s.firstIndex(of: "]"), s[s.startIndex...close].uppercased().contains("PATCH") {
                    s = Text.trimmedSpaces(s[s.index(after: close)...])
                }
                subject = Text.trimmedSpaces(s)  // as the rewrite reads it back
            } else if h.contains(":"), h.first != " ", h.first != "\t" {
                // (A folded line with no header before it would fold into Subject when rewritten.)
                extra.append(h)
            } else {
                throw fail(ln, "not a mail header line: '\(Text.singleLine(h).prefix(60))'")
            }
        }
        guard let author else { throw fail(2, "missing 'From: Name <email>' header") }
        guard let subject, !subject.isEmpty else { throw fail(2, "missing 'Subject:' header") }
        i += 1 // the blank line
        let messageStart = i
        guard let sep = lines[i...].firstIndex(of: "---") else {
            throw fail(lines.last == "" ? lines.count - 1 : lines.count, "no '---' line between the message and the diff")
        }
        var message = Array(lines[messageStart..<sep])
        while message.last?.isEmpty == true { message.removeLast() }
        // The last paragraph is the trailer block when every line is `Key: value`.
        var trailers: [Trailer] = []
        var trailerLines: [Int] = []
        let lastBlank = message.lastIndex(of: "") ?? -1
        let lastPara = Array(message[(lastBlank + 1)...])
        if !lastPara.isEmpty, lastPara.allSatisfy({ trailerParts($0) != nil }) {
            for (k, line) in lastPara.enumerated() {
                let (key, value) = trailerParts(line)!
                trailers.append(Trailer(key, value))
                trailerLines.append(messageStart + lastBlank + 1 + k + 1)
            }
            message.removeLast(lastPara.count)
            while message.last?.isEmpty == true { message.removeLast() }
        }
        let body = message.joined(separator: "\n")
        let tail = head.map { $0.tail } ?? lines[(sep + 1)...].joined(separator: "\n")
        var patch = PatchFile(fileName: fileName, fromLine: first, author: author, dateText: dateText, subject: subject,
                              extraHeaders: extra, body: body, trailers: trailers, tail: tail)
        patch.authorMayNameHost = authorMayNameHost

        func lineOf(_ key: String) -> Int {
            if let k = trailers.lastIndex(where: { Text.sameIgnoringCase($0.key, key) }) { return trailerLines[k] }
            return sep + 1
        }
        if requireRegistryFields {
            guard let id = patch.trailer("Patch-Id"), id.count >= 1, id.allSatisfy(\.isASCII), id.allSatisfy(\.isNumber) else {
                throw fail(lineOf("Patch-Id"), "missing or bad 'Patch-Id:' trailer (expected digits like 0001)")
            }
            guard patch.base != nil else { throw fail(lineOf("Base"), "missing or bad 'Base:' trailer (expected a 40-hex commit id)") }
            if let s = patch.trailer("Status"), Status(rawValue: s) == nil {
                throw fail(lineOf("Status"), "bad 'Status: \(Text.singleLine(s))' (expected active, retired or upstreamed)")
            }
        }
        if let e = patch.expires, Text.parseDay(e) == nil {
            throw fail(lineOf("Expires"), "bad 'Expires: \(Text.singleLine(e))' (expected a date like 2026-12-31)")
        }
        let diffLine = head.map { $0.diffLine } ?? lines[(sep + 1)...].firstIndex(where: { $0.hasPrefix("diff --git ") })
        guard let diffStart = diffLine else {
            throw fail(sep + 2, "no 'diff --git' section after the '---' line")
        }
        if !validateDiff {
            patch.lazy = LazyFiles(validatedTail: patch.tail)
            patch.fileName = fileName
            return patch
        }
        do {
            let files = try PatchParser.parse(patch.diffText)
            if files.isEmpty { throw fail(diffStart + 1, "the diff changes no file") }
            patch.parsed = (patch.tail, files)
            for f in files {
                for p in [f.oldPath, f.newPath] where !p.isEmpty {
                    do { _ = try SafePath.relative(p, source: "patch path") } catch let e as PatchKeeperError {
                        throw fail(diffStart + 1, e.message)
                    } catch {}
                }
            }
        } catch let e as GitError {
            throw fail(diffStart + 1 + offset(in: e.message), "the diff does not parse: \(e.message)")
        } catch let e as ParseError {
            throw e
        } catch {
            throw fail(diffStart + 1, "\(error)")
        }
        _ = patch.id
        patch.fileName = fileName
        return patch
    }

    /// `Key: value` with a key of a letter then letters, digits and dashes (a `git interpret-trailers`
    /// token); nil for any other line. Hand-written: a Regex literal is rebuilt on every use, and
    /// this runs for every trailer of every patch on every load.
    static func trailerParts(_ line: String) -> (String, String)? {
        guard let colon = firstColon(line) else { return nil }
        let key = line[..<colon]
        // ASCII letters are exactly the alphabetic ASCII scalars (the property look-up was 3% of
        // a record in a 1,000-patch registry).
        func letter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
        guard let first = key.unicodeScalars.first, letter(first),
              key.unicodeScalars.allSatisfy({ letter($0) || ("0"..."9").contains($0) || $0 == "-" })
        else { return nil }
        var value = line[line.index(after: colon)...]
        if value.hasPrefix(" ") { value = value.dropFirst() }
        return (String(key), String(value))
    }

    /// `line.firstIndex(of: ":")` (by Characters: a ":" followed by a combining mark is another
    /// Character), from the bytes when that cannot differ: only ASCII before the first ":" byte
    /// and an ASCII byte (or the end) after it. The Character search was 5% of an apply at 1,000
    /// patches.
    static func firstColon(_ line: String) -> String.Index? {
        let u = line.utf8
        if let i = u.firstIndex(of: 0x3A), u[..<i].allSatisfy({ $0 < 0x80 }) {
            let next = u.index(after: i)
            if next == u.endIndex || u[next] < 0x80 { return i }
        }
        return line.firstIndex(of: ":")
    }

    /// libgit2 reports "at line N" of the diff text; return N-1 (0 when absent).
    static func offset(in message: String) -> Int {
        guard let m = message.firstMatch(of: /line (\d+)/), let n = Int(m.1) else { return 0 }
        return max(0, n - 1)
    }

    /// The file's lines up to and including the first `---` line after the first empty line
    /// (index 1 or later), the text after that line, and the index of the first line after it
    /// that starts with `diff --git ` (nil when none). Lines as `split(separator: "\n")` of the
    /// whole text has them: a "\n" after "\r" is no line break there (CR LF is one Character).
    /// nil when there is no such `---` line (then `parse` splits the whole file, for the error).
    static func headSplit(_ text: String) -> (lines: [String], tail: String, diffLine: Int?)? {
        // On the UTF-8 buffer (the String.UTF8View's indices were 38 instructions a byte, 9% of
        // a record in a 1,000-patch registry); every cut is at an ASCII byte, so each piece is
        // the same text the view gave. `headSplitEqualsWholeSplit` holds it to the whole split.
        var text = text
        return text.withUTF8 { u -> (lines: [String], tail: String, diffLine: Int?)? in
            func string(_ from: Int, _ to: Int) -> String {
                String(decoding: UnsafeBufferPointer(rebasing: u[from..<to]), as: UTF8.self)
            }
            var lineStart = 0, line = 0
            var blankSeen = false
            // The separator line: its start, and where the text after it starts (nil: at the end).
            var sep: (start: Int, next: Int?)?
            func result(_ diffLine: Int?) -> (lines: [String], tail: String, diffLine: Int?) {
                // The separator starts a line after a "\n" break: the head is the text before that "\n".
                let headEnd = sep!.start - 1
                // Split as `head.split(separator: "\n", omittingEmptySubsequences: false)` splits (a
                // "\n" joins a Character only with a "\r" before it), on the bytes: the Character
                // split was a tenth of a 1,000-patch scan.
                var lines: [String] = []
                var lineFrom = 0, before: UInt8 = 0
                var at = 0
                while at < headEnd {
                    let c = u[at]
                    if c == 10 && before != 13 {
                        lines.append(string(lineFrom, at))
                        lineFrom = at + 1
                    }
                    before = c
                    at += 1
                }
                lines.append(string(lineFrom, headEnd))
                lines.append("---")
                return (lines, sep!.next.map { string($0, u.count) } ?? "", diffLine)
            }
            // As `hasPrefix("diff --git ")` of the line (Characters: a combining mark after the space
            // makes it another Character), the bytes first.
            func startsDiff(_ from: Int, _ to: Int) -> Bool {
                to - from >= 11 && UnsafeBufferPointer(rebasing: u[from..<(from + 11)]).elementsEqual("diff --git ".utf8)
                    && string(from, to).hasPrefix("diff --git ")
            }
            func isSeparator(_ from: Int, _ to: Int) -> Bool {
                to - from == 3 && u[from] == 0x2D && u[from + 1] == 0x2D && u[from + 2] == 0x2D
            }
            var prev: UInt8 = 0
            var i = 0
            while i < u.count {
                let c = u[i]
                if c == 10 && prev != 13 {
                    if sep != nil {
                        // A line after the separator: does it start the diff?
                        if startsDiff(lineStart, i) { return result(line) }
                    } else if !blankSeen {
                        if line >= 1 && lineStart == i { blankSeen = true }
                    } else if isSeparator(lineStart, i) {
                        sep = (lineStart, i + 1)
                    }
                    line += 1
                    lineStart = i + 1
                }
                prev = c
                i += 1
            }
            // The last line, with no line break after it.
            if sep != nil { return result(startsDiff(lineStart, u.count) ? line : nil) }
            if blankSeen, isSeparator(lineStart, u.count) {
                sep = (lineStart, nil)
                return result(nil)
            }
            return nil
        }
    }

    /// Whether the text after the last `\n-- \n` is a signature (format-patch puts its version
    /// line there), not more of a hunk: a hunk that deletes a line `- ` (a YAML list item) holds
    /// `-- ` too, followed by another hunk line, a hunk, a file, or nothing (the file's last line).
    /// Cut there, the hunk was short and record failed with "does not parse".
    static func isSignature<C: Collection>(tail: C) -> Bool where C.Element == UInt8 {
        guard let first = tail.first else { return false }
        if [UInt8(ascii: " "), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "\\"), UInt8(ascii: "@")].contains(first) { return false }
        return !tail.starts(with: "diff --git ".utf8)
    }

    /// From the first `diff --git` line of `text` to its end, minus a `-- ` signature block.
    static func diffSection(of text: String) -> String? {
        if let known = diffSectionOnBytes(text) { return known }
        return diffSectionByScalars(text)
    }

    /// `diffSectionByScalars`'s answer found on the UTF-8 bytes, or nil (outer) when a match
    /// sits next to a CR or a non-ASCII byte, where Foundation's search (which compares composed
    /// character sequences) might not take it. Foundation finds only what the bytes hold: no
    /// character outside ASCII is canonically equivalent to text made of the needles' characters.
    static func diffSectionOnBytes(_ text: String) -> String?? {
        let startsWithDiff = text.hasPrefix("diff --git ")
        var text = text
        return text.withUTF8 { buf -> String?? in
            func find(_ needle: String, in range: Range<Int>, last: Bool) -> Int? {
                let hay = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buf[range]))
                return Array(needle.utf8).withUnsafeBytes { Bytes.find($0, in: hay, last: last) }.map { $0 + range.lowerBound }
            }
            func clean(_ at: Int, _ length: Int, from start: Int) -> Bool {
                (at == start || buf[at - 1] != 13) && (at + length == buf.count || buf[at + length] < 0x80)
            }
            let start: Int
            if startsWithDiff {
                start = 0
            } else if let k = find("\ndiff --git ", in: 0..<buf.count, last: false) {
                guard clean(k, 12, from: 0) else { return nil }
                start = k + 1
            } else {
                return .some(nil)
            }
            let body = UnsafeBufferPointer(rebasing: buf[start...])
            if let m = find("\n-- \n", in: start..<buf.count, last: true), isSignature(tail: buf[(m + 5)...]) {
                guard clean(m, 5, from: start) else { return nil }
                return String(decoding: UnsafeBufferPointer(rebasing: buf[start..<m]), as: UTF8.self) + "\n"
            }
            return String(decoding: body, as: UTF8.self)
        }
    }

    /// The diff section as Foundation's `range(of:)` found it, which the tests hold this to on
    /// generated text (the binary does not link that part of Foundation, docs/DESIGN.md §7): the
    /// needles' Unicode scalars exactly (a CR before does not hide a match, as it would in a
    /// search by Characters), except where a combining mark follows, which belongs to the
    /// needle's last character.
    static func diffSectionByScalars(_ text: String) -> String? {
        let body: Substring
        if text.hasPrefix("diff --git ") {
            body = text[...]
        } else if let r = scalarRange(of: "\ndiff --git ", in: text[...], last: false) {
            body = text[text.unicodeScalars.index(after: r.lowerBound)...]
        } else {
            return nil
        }
        if let sig = scalarRange(of: "\n-- \n", in: body, last: true), isSignature(tail: body[sig.upperBound...].utf8) {
            return String(body[..<sig.lowerBound]) + "\n"
        }
        return String(body)
    }

    /// The first (or last, overlapping ones included) occurrence of `needle` in `s` by Unicode
    /// scalars that no nonspacing or enclosing mark follows.
    static func scalarRange(of needle: String, in s: Substring, last: Bool) -> Range<String.Index>? {
        let n = Array(needle.unicodeScalars)
        let indices = Array(s.unicodeScalars.indices)
        let scalars = indices.map { s.unicodeScalars[$0] }
        guard !n.isEmpty, scalars.count >= n.count else { return nil }
        let starts = 0...(scalars.count - n.count)
        for i in last ? Array(starts.reversed()) : Array(starts) where scalars[i..<(i + n.count)].elementsEqual(n) {
            let end = i + n.count
            if end < scalars.count, [.nonspacingMark, .enclosingMark].contains(scalars[end].properties.generalCategory) { continue }
            return indices[i]..<(end < indices.count ? indices[end] : s.endIndex)
        }
        return nil
    }
}

/// The parsed files of a patch loaded lazily, shared by its copies (a value type's memo).
final class LazyFiles: @unchecked Sendable {
    private let lock = PlainLock()
    /// The tail as loaded: text whose diff an earlier load parsed in full.
    let validatedTail: String

    init(validatedTail: String) { self.validatedTail = validatedTail }

    private var value: (tail: String, files: [ParsedFilePatch])?

    func files(for tail: String) -> [ParsedFilePatch]? {
        lock.lock()
        defer { lock.unlock() }
        return value.flatMap { $0.tail == tail ? $0.files : nil }
    }

    func store(_ files: [ParsedFilePatch], for tail: String) {
        lock.lock()
        defer { lock.unlock() }
        value = (tail, files)
    }
}
