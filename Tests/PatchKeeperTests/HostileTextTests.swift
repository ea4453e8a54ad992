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
}
