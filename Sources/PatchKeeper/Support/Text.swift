#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Small text helpers shared by the patch format and renderers.
public enum Text {
    /// `trimmingCharacters(in: .whitespaces)` (tab and the Unicode space separators) by Unicode
    /// scalar, without going through NSString (a registry load trims thousands of header values).
    public static func trimmedSpaces<S: StringProtocol>(_ s: S) -> String {
        trimmed(s, isSpace)
    }

    /// `trimmingCharacters(in: .whitespacesAndNewlines)` the same way (line breaks too: LF, VT,
    /// FF, CR, NEL and the line and paragraph separators). Through NSString it was 1.6% of a
    /// warm gate's instructions, for the one line of a REVISION file.
    public static func trimmedWhitespace<S: StringProtocol>(_ s: S) -> String {
        trimmed(s) { c in
            isSpace(c) || (0x0a...0x0d).contains(c.value) || c.value == 0x85 || c.value == 0x2028 || c.value == 0x2029
        }
    }

    // Foundation's whitespace set also holds U+200B (zero width space), a format character.
    private static func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || (c.value > 0x7f && (c.value == 0x200B || c.properties.generalCategory == .spaceSeparator)) }

    private static func trimmed<S: StringProtocol>(_ s: S, _ isSpace: (Unicode.Scalar) -> Bool) -> String {
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        // The bytes between (scalar-aligned indices are UTF-8 indices too): building a scalar
        // view one scalar at a time was 4% of a record in a 1,000-patch registry.
        return String(decoding: s.utf8[first..<scalars.index(after: last)], as: UTF8.self)
    }

    /// `a.caseInsensitiveCompare(b) == .orderedSame`, by bytes when both are ASCII (trailer keys
    /// always are).
    public static func sameIgnoringCase(_ a: String, _ b: String) -> Bool {
        let x = a.utf8, y = b.utf8
        if x.allSatisfy({ $0 < 0x80 }) && y.allSatisfy({ $0 < 0x80 }) {
            guard x.count == y.count else { return false }
            return zip(x, y).allSatisfy { l, r in
                l == r || (l | 0x20 == r | 0x20 && (0x61...0x7a).contains(l | 0x20))
            }
        }
        // Full case folding, as Foundation's caseInsensitiveCompare did ("ß" matches "SS"):
        // upper-casing maps ß to SS, lower-casing then folds the rest.
        return a.uppercased().lowercased() == b.uppercased().lowercased()
    }

    /// `x` with `digits` decimals, as printf's `%.Nf` writes it (`String(format:)` is in the part
    /// of Foundation the binary does not link).
    public static func fixed(_ x: Double, _ digits: Int) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let n = withVaList([Int32(digits), x]) { vsnprintf(&buffer, buffer.count, "%.*f", $0) }
        if n >= buffer.count {
            buffer = [CChar](repeating: 0, count: Int(n) + 1)
            _ = withVaList([Int32(digits), x]) { vsnprintf(&buffer, buffer.count, "%.*f", $0) }
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Folds a value onto one line: newlines and tabs become spaces, escape sequences are removed
    /// whole, other control characters dropped, runs of spaces collapse.
    public static func singleLine(_ s: String) -> String {
        // Printable ASCII with single spaces, none at either end, is already one line.
        var previous: UInt8 = 0x20, plain = true
        for c in s.utf8 {
            if c < 0x20 || c >= 0x7F || (c == 0x20 && previous == 0x20) { plain = false; break }
            previous = c
        }
        if plain && previous != 0x20 { return s }
        var out = String.UnicodeScalarView()
        var lastSpace = false
        for scalar in withoutEscapeSequences(s).unicodeScalars {
            if scalar == "\n" || scalar == "\r" || scalar == "\t" || scalar == " " {
                if !lastSpace && !out.isEmpty { out.append(" ") }
                lastSpace = true
                continue
            }
            if scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) { continue }
            out.append(scalar)
            lastSpace = false
        }
        var result = String(out)
        while result.hasSuffix(" ") { result.removeLast() }
        return result
    }

    /// Multi-line text with escape sequences and control characters removed (newlines kept), CRLF
    /// normalised.
    public static func sanitizedBlock(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in withoutEscapeSequences(s.replacing("\r\n", with: "\n")).unicodeScalars {
            if scalar == "\n" { out.append(scalar); continue }
            if scalar == "\t" { out.append(" "); continue }
            if scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) { continue }
            out.append(scalar)
        }
        return String(out)
    }

    /// A file-name slug: lower-case letters, digits and dashes, at most 48 characters.
    public static func slug(_ title: String) -> String {
        var out = ""
        var dash = false
        for scalar in title.lowercased().unicodeScalars {
            if ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) {
                out.unicodeScalars.append(scalar)
                dash = false
            } else if !dash && !out.isEmpty {
                out += "-"
                dash = true
            }
            if out.count >= 48 { break }
        }
        while out.hasSuffix("-") { out.removeLast() }
        return out.isEmpty ? "patch" : out
    }

    /// `v` in decimal, zero-padded to `n` digits.
    private static func pad(_ v: Int32, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }

    /// `2026-11-25T12:00:00Z`
    public static func isoTimestamp(_ date: Date) -> String {
        // Without a formatter (creating one per call was a quarter of a 1,000-host fleet report).
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        if gmtime_r(&t, &parts) != nil, parts.tm_year >= -1900 + 1, parts.tm_year <= 9999 - 1900 {
            return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
        }
        return Date.ISO8601FormatStyle().format(date)
    }

    /// Reads back `isoTimestamp`.
    public static func parseISO(_ s: String) -> Date? {
        // The shape isoTimestamp writes, without a formatter; anything else goes to one.
        let b = Array(s.utf8)
        if b.count == 20, b[4] == 0x2d, b[7] == 0x2d, b[10] == 0x54, b[13] == 0x3a, b[16] == 0x3a, b[19] == 0x5a {
            func num(_ r: Range<Int>) -> Int32? {
                var v: Int32 = 0
                for i in r { guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }; v = v * 10 + Int32(b[i] - 0x30) }
                return v
            }
            if let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16), let sec = num(17..<19),
               (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61 {
                var t = tm()
                t.tm_year = y - 1900
                t.tm_mon = mo - 1
                t.tm_mday = d
                t.tm_hour = h
                t.tm_min = mi
                t.tm_sec = sec
                return Date(timeIntervalSince1970: TimeInterval(timegm(&t)))
            }
        }
        return try? Date.ISO8601FormatStyle().parse(s)
    }

    /// A short age for tables and banners: 45s, 12m, 3h, 5d, 2y; "?" when the date is unknown.
    public static func shortAge(since date: Date?, now: Date) -> String {
        guard let date else { return "?" }
        let s = max(0, Int(now.timeIntervalSince(date)))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return "\(s / 3600)h" }
        if s < 86400 * 730 { return "\(s / 86400)d" }
        return "\(s / (86400 * 365))y"
    }

    /// Parses `YYYY-MM-DD` (a calendar day, UTC); nil for anything else.
    public static func parseDay(_ s: String) -> DateComponents? {
        let parts = s.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let comps = DateComponents(year: y, month: m, day: d)
        guard let date = cal.date(from: comps), cal.dateComponents([.year, .month, .day], from: date) == comps else { return nil }
        return comps
    }

    /// The first instant after the day `YYYY-MM-DD` (UTC): a patch expiring that day is expired from then on.
    public static func endOfDay(_ s: String) -> Date? {
        guard let comps = parseDay(s) else { return nil }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        return cal.date(from: comps).flatMap { cal.date(byAdding: .day, value: 1, to: $0) }
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    /// `Fri, 30 Jun 2017 09:12:00 +0200`, `30 Jun 2017 09:12:00 +0200` (the weekday is optional
    /// and not checked, as DateFormatter's lenient parse did not) with a one- or two-digit day;
    /// nil for any other shape or an impossible field.
    static func parseGitDate(_ s: String) -> Date? {
        var parts = s.split(separator: " ")
        if parts.count == 6, parts[0].hasSuffix(",") { parts.removeFirst() }
        guard parts.count == 5, (1...2).contains(parts[0].count), let day = Int(parts[0]), (1...31).contains(day),
              parts[2].count == 4, let year = Int(parts[2]),
              let month = months.firstIndex(of: String(parts[1])) else { return nil }
        let hms = parts[3].split(separator: ":", omittingEmptySubsequences: false)
        let tz = parts[4]
        guard hms.count == 3, hms.allSatisfy({ (1...2).contains($0.count) && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }),
              let h = Int(hms[0]), let mi = Int(hms[1]), let sec = Int(hms[2]), h < 24, mi < 60, sec < 61,
              tz.count == 5, let sign = tz.first, sign == "+" || sign == "-",
              tz.dropFirst().utf8.allSatisfy({ (0x30...0x39).contains($0) }),
              let hh = Int(tz.dropFirst().prefix(2)), let mm = Int(tz.suffix(2)), mm < 60 else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(h)
        t.tm_min = Int32(mi)
        t.tm_sec = Int32(sec)
        let utc = timegm(&t)
        let offset = (hh * 3600 + mm * 60) * (sign == "-" ? -1 : 1)
        return Date(timeIntervalSince1970: TimeInterval(Int(utc) - offset))
    }

    /// RFC 2822 date as `git format-patch` writes it: `Fri, 30 Jun 2017 09:12:00 +0000` (UTC;
    /// by gmtime_r, not a DateFormatter: that class is in the part of Foundation the binary no
    /// longer links, docs/DESIGN.md §7).
    public static func rfc2822(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var p = tm()
        // A clock gmtime_r cannot break down (years past 2^31) is not a date to write.
        guard gmtime_r(&t, &p) != nil else { return "Thu, 01 Jan 1970 00:00:00 +0000" }
        return "\(weekdays[Int(p.tm_wday)]), \(pad(p.tm_mday, 2)) \(months[Int(p.tm_mon)]) \(pad(p.tm_year + 1900, 4)) "
            + "\(pad(p.tm_hour, 2)):\(pad(p.tm_min, 2)):\(pad(p.tm_sec, 2)) +0000"
    }

    /// Reads the Date: of a patch file (`parseGitDate`'s shapes, spaces around ignored).
    public static func parseRFC2822(_ s: String) -> Date? {
        parseGitDate(trimmedSpaces(s))
    }
}

extension String {
    /// Equal as bytes (UTF-8), not under Unicode equivalence: NFC and NFD spellings of a name are
    /// two names on disk. One memcmp (`utf8.elementsEqual` walks the views generically: ~2,000
    /// instructions a path, 15% of a warm scan).
    func sameBytes(as other: String) -> Bool {
        var a = self, b = other
        return a.withUTF8 { x in
            b.withUTF8 { y in x.count == y.count && (x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) }
        }
    }
}

/// The trims as methods, where `trimmingCharacters(in:)` was: its character sets are in the part
/// of Foundation the binary does not link (docs/DESIGN.md §7).
extension StringProtocol {
    /// `Text.trimmedSpaces(self)`: tab and the Unicode space separators off both ends.
    public func trimmedSpaces() -> String { Text.trimmedSpaces(self) }
    /// `Text.trimmedWhitespace(self)`: spaces and line breaks off both ends.
    public func trimmedWhitespace() -> String { Text.trimmedWhitespace(self) }
}
