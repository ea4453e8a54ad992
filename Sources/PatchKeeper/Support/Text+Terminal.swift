extension Text {
    /// Untrusted text made safe for one line of a login terminal: escape sequences removed whole,
    /// bidirectional overrides dropped, then folded by `singleLine` (no control characters, no newlines).
    public static func terminalLine(_ s: String) -> String {
        singleLine(withoutEscapeSequences(s))
    }

    /// Removes terminal escape sequences whole — `ESC [ 31 m` leaves nothing, not `[31m` — in their
    /// 7-bit (ESC) and 8-bit (C1) forms: CSI, the string commands (OSC, DCS, SOS, PM, APC, up to BEL
    /// or ST, or to the end when unterminated) and two-character escapes. Also drops bidirectional
    /// formatting characters, which can make a line read differently from what it says; line and
    /// paragraph separators become spaces. Other control characters are left to the caller.
    public static func withoutEscapeSequences(_ s: String) -> String {
        // ASCII without ESC holds nothing this removes (the others are scalars above 0x7F).
        if s.utf8.allSatisfy({ $0 < 0x80 && $0 != 0x1B }) { return s }
        let scalars = Array(s.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            switch scalars[i].value {
            case 0x1B:
                i = skipEscape(scalars, from: i + 1)
            case 0x9B:
                i = skipControlSequence(scalars, from: i + 1)
            case 0x90, 0x98, 0x9D, 0x9E, 0x9F:
                i = skipControlString(scalars, from: i + 1)
            case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
                i += 1
            case 0x2028, 0x2029:
                out.append(" ")
                i += 1
            default:
                out.append(scalars[i])
                i += 1
            }
        }
        return String(out)
    }

    /// After an ESC at `j - 1`: the index just past the sequence it starts.
    private static func skipEscape(_ s: [Unicode.Scalar], from j: Int) -> Int {
        guard j < s.count else { return j }
        switch s[j] {
        case "[":
            return skipControlSequence(s, from: j + 1)
        case "]", "P", "X", "^", "_":
            return skipControlString(s, from: j + 1)
        default:
            // nF escapes (ESC, intermediates 0x20-0x2F, a final 0x30-0x7E) and Fp/Fe/Fs (ESC + one final).
            var k = j
            while k < s.count, (0x20...0x2F).contains(s[k].value) { k += 1 }
            if k < s.count, (0x30...0x7E).contains(s[k].value) { return k + 1 }
            return k
        }
    }

    /// CSI: parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, one final byte 0x40-0x7E.
    private static func skipControlSequence(_ s: [Unicode.Scalar], from j: Int) -> Int {
        var k = j
        while k < s.count, (0x30...0x3F).contains(s[k].value) { k += 1 }
        while k < s.count, (0x20...0x2F).contains(s[k].value) { k += 1 }
        if k < s.count, (0x40...0x7E).contains(s[k].value) { return k + 1 }
        return k
    }

    /// A string command runs to BEL, ST (`ESC \` or 0x9C) or, unterminated, to the end of the text.
    /// Another ESC ends it without being consumed, so the sequence it starts is removed in turn.
    private static func skipControlString(_ s: [Unicode.Scalar], from j: Int) -> Int {
        var k = j
        while k < s.count {
            switch s[k].value {
            case 0x07, 0x9C:
                return k + 1
            case 0x1B:
                return k + 1 < s.count && s[k + 1] == "\\" ? k + 2 : k
            default:
                k += 1
            }
        }
        return k
    }
}
