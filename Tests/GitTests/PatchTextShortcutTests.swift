import Foundation
@testable import Git
import Testing
import TestSupport

/// `PatchText.normalized` answers most registry diffs from a byte scan without splitting them into
/// lines; it must give exactly what the line-by-line rewrite gives, for any text.
@Suite("patch text: byte-level shortcut")
struct PatchTextShortcutTests {
    /// Pieces of diff text, and what makes lines and characters differ from bytes: CR LF (one
    /// Character), combining marks after a space or newline, quotes, spaces in names.
    static let pieces = ["diff --git ", "a/x", " b/x", "a/x y", " b/x y", " ", "\n", "\r", "\r\n", "\u{301}", "\u{E9}", "e\u{301}",
                         "new file mode 100644", "deleted file mode 100644", "old mode 100644", "new mode 100755",
                         "index 1234567..89abcde 100644", "--- a/x", "+++ b/x", "--- a/x y", "+++ b/x y", "@@ -1 +1 @@",
                         "Binary files a/x and b/x differ", "\"", "\\", "+line", "-line", " ctx", "-- ", "\u{212A}", "\t",
                         "\ndiff --git a/x y b/x y\n", "\ndiff --git a/p q r b/p q r\n", "\r\ndiff --git a/x y b/x y\n", "\ndiff --git a/x y\r b/x y\r\n"]

    @Test("normalized equals the line-by-line rewrite for generated texts")
    func shortcutAgrees() {
        var rng = SplitMix64(seed: 0x5EED_0013)
        var shortcut = 0
        for _ in 0..<20_000 {
            var text = ""
            for _ in 0..<Int.random(in: 1...24, using: &rng) { text += Self.pieces.randomElement(using: &rng)! }
            if Bool.random(using: &rng) { text = "diff --git a/x b/x\n" + text }
            if PatchText.unchangedByNormalizing(text) { shortcut += 1 }
            #expect(PatchText.normalized(text) == PatchText.rewritten(text), "\(text.debugDescription)")
        }
        #expect(shortcut > 1_000, "the shortcut was taken \(shortcut) times: the comparison tested little")
    }

    @Test("texts the rewrite changes are never shortcut")
    func rewritesStillHappen() {
        for text in ["diff --git a/x y b/x y\n--- a/x y\n+++ b/x y\n@@ -1 +1 @@\n-a\n+b\n",
                     "diff --git a/e b/e\nnew file mode 100644\nindex 0000000..e69de29\n",
                     "diff --git a/e b/e\ndeleted file mode 100644\nindex e69de29..0000000\n",
                     "diff --git a/x b/x\nold mode 100644\nnew mode 100755\nBinary files a/x and b/x differ\n"] {
            #expect(PatchText.normalized(text) != text)
            #expect(!PatchText.unchangedByNormalizing(text))
        }
    }
}
