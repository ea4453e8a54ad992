import Foundation
import Testing
import TestSupport
@testable import Git

@Suite("Ignore rules")
struct IgnoreRulesTests {
    /// Builds the rules on another thread and fails when that takes over 10 s (libgit2 1.5 loops
    /// forever on some rule text).
    func rulesWithDeadline(_ rules: [String]) throws -> IgnoreRules {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var made: IgnoreRules?
        Thread.detachNewThread {
            made = try? IgnoreRules(rulesOnly: rules)
            done.signal()
        }
        try #require(done.wait(timeout: .now() + 10) == .success, "libgit2 hung parsing \(rules.map(\.debugDescription))")
        return try #require(made)
    }

    @Test("a rules-only handle reads no .gitignore file: not one that ignores everything, not a FIFO, by any path (.. included)")
    func readsNoFile() throws {
        let s = Scratch()
        s.write("all/.gitignore", "*\n")
        try FileManager.default.createDirectory(atPath: s.file("fifo"), withIntermediateDirectories: true)
        #expect(mkfifo(s.file("fifo/.gitignore"), 0o644) == 0)
        nonisolated(unsafe) let rules = try rulesWithDeadline(["*.log"])
        let up = String(repeating: "../", count: 12)
        let paths = [s.file("all/x"), s.file("fifo/x"), up + s.file("all/x").dropFirst(), up + s.file("fifo/x").dropFirst(), "a/../../all/x"]
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var answers: [Bool] = []
        Thread.detachNewThread {
            answers = paths.map { rules.isIgnored($0) } + [rules.isIgnored("x.log")]
            done.signal()
        }
        try #require(done.wait(timeout: .now() + 10) == .success, "libgit2 blocked reading a .gitignore")
        // (libgit2 calls any path with a `..` in it ignored, by a built-in rule: a deployed tree
        // with such a name is refused before it gets here, `FlatTreeNameTests`.)
        #expect(answers.count == 6 && answers[0] == false && answers[1] == false && answers[5] == true, "\(answers)")
    }

    @Test("a vertical tab or form feed in a rule neither hangs libgit2 nor cuts the pattern short",
          arguments: ["\u{0B}", "\u{0C}", "x\u{0B}[]", "a\u{0C}b"])
    func whitespaceInRule(_ rule: String) throws {
        let rules = try rulesWithDeadline([rule, "other.log"])
        #expect(rules.isIgnored(rule.replacingOccurrences(of: "[]", with: "")) == !rule.contains("[]"))
        #expect(rules.isIgnored("other.log"))
        #expect(!rules.isIgnored("a"))
    }

    @Test("scoped rules stay inside their directory whatever its name holds",
          arguments: ["src/a\u{0C}b", "src/x y", "we[i]rd/d*r?", "tab\there", "!neg/#hash"])
    func scopedToDirectory(_ dir: String) throws {
        let scoped = IgnoreRules.scopedRules(gitignore: "*\n!keep\n/anchored/\n", directory: dir)
        let rules = try rulesWithDeadline(scoped)
        #expect(rules.isIgnored(dir + "/x"))
        #expect(rules.isIgnored(dir + "/deep/er/x"))
        #expect(!rules.isIgnored(dir + "/keep"))
        for outside in ["x", dir + "x/y", "src/other", "anchored/", "zz/" + dir + "/x"] {
            #expect(!rules.isIgnored(outside), "\(outside) is outside \(dir.debugDescription): \(scoped)")
        }
    }

    @Test("a directory name with a newline or NUL gets no rules at all")
    func unscopableDirectory() {
        #expect(IgnoreRules.scopedRules(gitignore: "*\n", directory: "a\n*").isEmpty)
        #expect(IgnoreRules.scopedRules(gitignore: "*\n", directory: "a\0b").isEmpty)
        #expect(IgnoreRules.scopedRules(gitignore: "*\n", directory: "a") == ["/a/**/*"])
    }

    @Test("a CRLF .gitignore gives one scoped rule a line; a glob character with a combining mark is still escaped")
    func crlfAndCombiningMarks() throws {
        let scoped = IgnoreRules.scopedRules(gitignore: "tmp/\r\n*.log\r\n!keep.log\r\n", directory: "src/lib")
        #expect(scoped == ["/src/lib/**/tmp/", "/src/lib/**/*.log", "!/src/lib/**/keep.log"])
        let rules = try rulesWithDeadline(scoped)
        #expect(rules.isIgnored("src/lib/a/x.log") && !rules.isIgnored("src/lib/keep.log"))
        #expect(!rules.isIgnored("x.log") && !rules.isIgnored("src/x.log"))
        let star = "a*\u{301}"
        #expect(IgnoreRules.scopedRules(gitignore: "*\n", directory: star) == ["/a\\*\u{301}/**/*"])
        let starRules = try rulesWithDeadline(IgnoreRules.scopedRules(gitignore: "*\n", directory: star))
        #expect(!starRules.isIgnored("abc\u{301}/x"))
        #expect(starRules.isIgnored(star + "/x"))
    }

    @Test("a rule of slashes after a wildcard rule does not crash libgit2 and matches nothing",
          arguments: [["*", "!//"], ["[", "!//"], ["*x", "!//"], ["*", "/"], ["*", "!//", "!x"], ["*", "!*/", "!\\\0\r"], ["*", "!\\ "], ["[!/\u{1A}", "\0\0!//"], ["P[**?", "\r\n!//"], ["*\n!//"]])
    func slashOnlyRules(_ list: [String]) throws {
        let rules = try rulesWithDeadline(list)
        let star = list[0] == "*" || list[0].hasPrefix("*\n")
        #expect(rules.isIgnored("a") == star)
        #expect(rules.isIgnored("b/c.x") == list[0].hasPrefix("*"))
    }
}
