import Foundation
import Git
import Testing
import TestSupport

/// Diff text that libgit2 1.5 would misread: refused before it reaches the parser.
@Suite("Git layer: hostile diff text")
struct HostilePatchTextTests {
    static let newFile = "diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+"

    @Test("a NUL byte in a hunk line is refused: libgit2 would read past its copy of the line (fuzz finding)")
    func nulInHunk() throws {
        let text = Self.newFile + "?\u{0}xyzzy, more than the copy holds\n"
        let error = #expect(throws: GitError.self) { try PatchParser.parse(text) }
        #expect(error?.message.contains("NUL byte at line 6") == true, "\(String(describing: error))")
        #expect(throws: GitError.self) { try MemoryRepository().apply(diff: text, to: []) }
    }
}
