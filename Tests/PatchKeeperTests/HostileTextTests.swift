import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

/// Small, fast regressions for hostile input found by the corpus and the fuzzers.
@Suite("Hostile text")
struct HostileTextTests {
    @Test("a control character in a path is shown as two hex digits: '\\x0a' + 'b', never '\\xab'")
    func quotedControl() {
        #expect(throws: PatchKeeperError.self) { try SafePath.relative("a\nb", source: "path") }
        do { _ = try SafePath.relative("a\nb", source: "path") } catch let e as PatchKeeperError {
            #expect(e.message.contains("'a\\x0ab'"), "\(e.message)")
        } catch {}
    }

    @Test("a folded header line with no header before it is refused: a rewrite would fold it into Subject (fuzz finding)")
    func leadingFoldedHeader() {
        let text = "From \n :\nFrom: r\nSubject: t\n\n---\ndiff --git d s \n--- v/l\n+++ s/e\n@@ -0,0 +1 @@\n+\n"
        #expect {
            try PatchFile.parse(text, fileName: "f.patch", requireRegistryFields: false)
        } throws: { error in
            let e = error as? PatchFile.ParseError
            return e?.line == 2 && e?.message.hasPrefix("not a mail header line") == true
        }
    }

    @Test("a reason loses escape sequences whole, not just their ESC byte")
    func blockEscapes() {
        let s = Text.sanitizedBlock("Why \u{1B}]0;owned\u{07}\u{1B}[31mred\u{1B}[0m\nline two\r\n")
        #expect(s == "Why red\nline two\n")
    }
}
