import Foundation
import Testing
import TestSupport

/// The hand-written man pages in docs/man against the commands and the man-page linters
/// (contrib/tests/check-man.sh: a section per subcommand, every option mentioned, mandoc or groff
/// lint silent, `man -l` renders).
@Suite("Man pages")
struct ManPageTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test("patchkeeper.1 has every subcommand and option, and both pages lint clean")
    func inStepAndLintClean() {
        let r = run("/bin/bash", [Self.repo + "/contrib/tests/check-man.sh"], env: ["PATCHKEEPER_BIN": patchkeeperBinary()])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("check-man: all checks passed"), "\(r.stdout)")
        #expect(r.stdout.contains("has a section for 'motd'"))
    }
}
