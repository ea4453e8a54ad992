#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension String {
    /// The first (or last) occurrence of `needle` as bytes: memchr for its first byte, memcmp for
    /// the rest. Foundation's `range(of:)` compares Characters ("\r\n" is one, so a needle starting
    /// with "\n" is not found after a CR) at a few hundred instructions a character.
    public func byteRange(of needle: String, backwards: Bool = false) -> Range<String.Index>? {
        var hay = self, pattern = needle
        let found: Int? = hay.withUTF8 { h in
            pattern.withUTF8 { n -> Int? in
                guard !n.isEmpty, h.count >= n.count, let hb = h.baseAddress, let nb = n.baseAddress else { return nil }
                let last = h.count - n.count
                if backwards {
                    var i = last
                    while i >= 0 {
                        if hb[i] == nb[0] && memcmp(hb + i, nb, n.count) == 0 { return i }
                        i -= 1
                    }
                    return nil
                }
                var i = 0
                while i <= last {
                    guard let p = memchr(hb + i, Int32(nb[0]), last - i + 1) else { return nil }
                    let k = UnsafeRawPointer(hb).distance(to: UnsafeRawPointer(p))
                    if memcmp(hb + k, nb, n.count) == 0 { return k }
                    i = k + 1
                }
                return nil
            }
        }
        guard let k = found else { return nil }
        let lo = utf8.index(utf8.startIndex, offsetBy: k)
        return lo..<utf8.index(lo, offsetBy: needle.utf8.count)
    }
}
