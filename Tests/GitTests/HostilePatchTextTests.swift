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

    @Test("header paths libgit2 would silently change are refused", arguments: [
        ("diff --git a/etc/x b/etc/x\n--- a//etc/x\n+++ b//etc/x\n@@ -1 +1 @@\n-a\n+b\n", "'a//etc/x' is absolute at line 2"),
        ("diff --git /etc/x /etc/x\nnew file mode 100644\n--- /dev/null\n+++ /etc/x\n@@ -0,0 +1 @@\n+x\n", "'/etc/x' is absolute at line 1"),
        ("diff --git a/x b/y\nsimilarity index 100%\nrename from x\nrename to /etc/y\n", "'/etc/y' is absolute at line 4"),
        // A line ending in CR LF before the header line: lines are cut at LF bytes, as libgit2
        // cuts them (split by Characters, "\r\n" is one and hid the next line from the check).
        ("diff --git a/x b/y\r\nsimilarity index 100%\nrename from x\nrename to /etc/y\n", "'/etc/y' is absolute at line 4"),
        ("diff --git a/etc/x b/etc/x\r\n--- a//etc/x\n+++ b//etc/x\n@@ -1 +1 @@\n-a\n+b\n", "is absolute at line 2"),
        // A combining mark after a header's space: as Characters the line had no "diff --git "
        // (or "--- ") prefix and went unchecked; libgit2 reads bytes and made "b//etc/x" (git:
        // /etc/x) into etc/x, and "rename to /etc/y" into /etc/y.
        ("diff --git \u{301}a//etc/x b//etc/x\nnew file mode 100644\n--- /dev/null\n+++ b//etc/x\n@@ -0,0 +1 @@\n+x\n", "//etc/x' is absolute at line 1"),
        ("diff --git \u{301}a/x b/y\nsimilarity index 100%\nrename from x\nrename to /etc/y\n", "'/etc/y' is absolute at line 4"),
        ("diff --git a/x b//etc/x\u{301}\nsimilarity index 100%\nrename from x\nrename to etc/x\n", "'b//etc/x\u{301}' is absolute at line 1"),
        ("diff --git \"a/a\\000b\" \"b/a\\000b\"\nnew file mode 100644\n--- /dev/null\n+++ \"b/a\\000b\"\n@@ -0,0 +1 @@\n+x\n", "contains a NUL byte at line 1"),
        ("diff --git \"a/caf\\303\" \"b/caf\\303\"\nnew file mode 100644\n--- /dev/null\n+++ \"b/caf\\303\"\n@@ -0,0 +1 @@\n+x\n", "is not UTF-8 at line 1"),
    ])
    func hostileHeaders(text: String, mentions: String) {
        let error = #expect(throws: GitError.self) { try PatchParser.parse(text) }
        #expect(error?.message.contains(mentions) == true, "\(String(describing: error))")
    }

    @Test("ordinary paths still parse: quoted, spaced, escaped UTF-8, and '--- ' lines inside hunks", arguments: [
        "diff --git \"a/my file\" \"b/my file\"\nnew file mode 100644\n--- /dev/null\n+++ \"b/my file\"\n@@ -0,0 +1 @@\n+x\n",
        "diff --git a/my file b/my file\nnew file mode 100644\n--- /dev/null\n+++ b/my file\t\n@@ -0,0 +1 @@\n+x\n",
        "diff --git \"a/caf\\303\\251\" \"b/caf\\303\\251\"\nnew file mode 100644\n--- /dev/null\n+++ \"b/caf\\303\\251\"\n@@ -0,0 +1 @@\n+x\n",
        "diff --git a/q.sql b/q.sql\n--- a/q.sql\n+++ b/q.sql\n@@ -1,2 +1 @@\n--- /etc/passwd\n select 1;\n",
    ])
    func ordinaryHeaders(text: String) throws {
        #expect(try PatchParser.parse(text).count == 1)
    }

    @Test("a file that is not UTF-8 is written as a binary patch that rebuilds its exact bytes; other files stay text")
    func latin1File() throws {
        let old = FileVersion(path: "legacy.conf", mode: .regular, content: Array("name = caf".utf8) + [0xE9, 0x0A])
        let new = FileVersion(path: "legacy.conf", mode: .regular, content: Array("name = caf".utf8) + [0xE9, 0xE9, 0x0A])
        let textOld = FileVersion(path: "a.txt", mode: .regular, content: Array("a\n".utf8))
        let textNew = FileVersion(path: "a.txt", mode: .regular, content: Array("b\n".utf8))
        let (diff, _) = try MemoryRepository().makePatch([FileChange(old: old, new: new), FileChange(old: textOld, new: textNew)])
        #expect(!diff.contains("\u{FFFD}"))
        #expect(diff.contains("diff --git a/legacy.conf b/legacy.conf\nindex "))
        #expect(diff.components(separatedBy: "GIT binary patch").count == 2, "\(diff)")
        #expect(diff.contains("-a\n+b\n"))
        let post = try MemoryRepository().apply(diff: diff, to: [old, textOld])
        #expect(post["legacy.conf"]??.content == new.content)
        #expect(post["a.txt"]??.content == textNew.content)
    }
}
