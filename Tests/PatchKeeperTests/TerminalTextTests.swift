import Foundation
import Testing
@testable import PatchKeeper

@Suite("Terminal-safe text")
struct TerminalTextTests {
    @Test("escape sequences are removed whole, not just their ESC", arguments: [
        ("a\u{1B}[31mred\u{1B}[0m b", "ared b"),
        ("x\u{1B}[?1049hy", "xy"),
        ("title\u{1B}]0;pwned\u{07}after", "titleafter"),
        ("link \u{1B}]8;;http://evil\u{1B}\\text\u{1B}]8;;\u{1B}\\", "link text"),
        ("c1\u{9B}2Jcsi", "c1csi"),
        ("\u{1B}(Bcharset", "charset"),
        ("reset\u{1B}c", "reset"),
        ("unterminated \u{1B}]2;swallow the rest", "unterminated"),
        ("lone escape at the end\u{1B}", "lone escape at the end"),
        ("bidi \u{202E}txt.exe\u{202C} ok", "bidi txt.exe ok"),
        ("two\nlines\u{2028}and more", "two lines and more"),
        ("bell\u{07} and nul\u{0} gone", "bell and nul gone"),
        ("plain ünïcode — kept", "plain ünïcode — kept"),
    ])
    func stripsEscapes(input: String, expected: String) {
        #expect(Text.terminalLine(input) == expected)
    }

    @Test("short ages step from seconds to years")
    func shortAges() {
        let now = Date(timeIntervalSince1970: 2_000_000_000)
        #expect(Text.shortAge(since: now.addingTimeInterval(-45), now: now) == "45s")
        #expect(Text.shortAge(since: now.addingTimeInterval(-5 * 86400), now: now) == "5d")
        #expect(Text.shortAge(since: now.addingTimeInterval(-3 * 365 * 86400), now: now) == "3y")
        #expect(Text.shortAge(since: nil, now: now) == "?")
    }
}
