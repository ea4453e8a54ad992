#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-wise search: memchr for the needle's first byte, memcmp for the rest. One loop for every
/// place that looks for bytes (a patch's diff section, the public summary's lines, `byteRange`).
public enum Bytes {
    /// The offset of the first (or, with `last`, the last) occurrence of `needle` in `hay`; nil
    /// when it does not occur or is empty.
    public static func find(_ needle: UnsafeRawBufferPointer, in hay: UnsafeRawBufferPointer, last: Bool = false) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count, let hb = hay.baseAddress, let nb = needle.baseAddress else { return nil }
        let end = hay.count - needle.count
        let first = needle[0]
        if last {
            var i = end
            while i >= 0 {
                if hay[i] == first && memcmp(hb + i, nb, needle.count) == 0 { return i }
                i -= 1
            }
            return nil
        }
        var i = 0
        while i <= end {
            guard let p = memchr(hb + i, Int32(first), end - i + 1) else { return nil }
            let k = hb.distance(to: UnsafeRawPointer(p))
            if memcmp(hb + k, nb, needle.count) == 0 { return k }
            i = k + 1
        }
        return nil
    }

    /// `find` on arrays.
    public static func find(_ needle: [UInt8], in hay: [UInt8], last: Bool = false) -> Int? {
        hay.withUnsafeBytes { h in needle.withUnsafeBytes { n in find(n, in: h, last: last) } }
    }
}

extension String {
    /// The first (or last) occurrence of `needle` as bytes (`Bytes.find`). Foundation's
    /// `range(of:)` compares Characters ("\r\n" is one, so a needle starting with "\n" is not
    /// found after a CR) at a few hundred instructions a character.
    public func byteRange(of needle: String, backwards: Bool = false) -> Range<String.Index>? {
        var hay = self, pattern = needle
        let found = hay.withUTF8 { h in
            pattern.withUTF8 { n in Bytes.find(UnsafeRawBufferPointer(n), in: UnsafeRawBufferPointer(h), last: backwards) }
        }
        guard let k = found else { return nil }
        let lo = utf8.index(utf8.startIndex, offsetBy: k)
        return lo..<utf8.index(lo, offsetBy: needle.utf8.count)
    }
}

extension StringProtocol where SubSequence == Substring {
    /// Split at an ASCII separator by bytes: `split(separator:)` compares Characters (grapheme
    /// breaking), about a hundred times slower on a cache file of hex ids.
    func fields(_ separator: Unicode.Scalar, keepEmpty: Bool = false) -> [Substring] {
        let sep = UInt8(ascii: separator)
        var out: [Substring] = []
        var start = utf8.startIndex
        var i = start
        while i != utf8.endIndex {
            if utf8[i] == sep {
                if keepEmpty || i != start { out.append(self[start..<i]) }
                start = utf8.index(after: i)
            }
            i = utf8.index(after: i)
        }
        if keepEmpty || start != utf8.endIndex { out.append(self[start..<utf8.endIndex]) }
        return out
    }
}

extension String {
    /// The parts between `/` bytes, as the file system and git split a path. `split(separator: "/")`
    /// splits at `/` Characters, and `/` followed by a combining mark is one Character: it kept
    /// `a/../\u{301}x` as the parts `a` and `../\u{301}x`, a `..` that no check saw and the kernel
    /// then followed. `omittingEmpty` as `split`'s `omittingEmptySubsequences`.
    public func slashParts(omittingEmpty: Bool = true) -> [Substring] {
        var out: [Substring] = []
        let u = utf8
        var start = u.startIndex
        var i = start
        while i < u.endIndex {
            if u[i] == UInt8(ascii: "/") {
                if !(omittingEmpty && i == start) { out.append(Substring(u[start..<i])) }
                start = u.index(after: i)
            }
            i = u.index(after: i)
        }
        if !(omittingEmpty && start == u.endIndex) { out.append(Substring(u[start..<u.endIndex])) }
        return out
    }
}
