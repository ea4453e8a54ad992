import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

/// 2026-11-25 12:00 UTC, the check time of every summary here.
private let now = Date(timeIntervalSince1970: 1_795_608_000)

private func patch(_ id: String, _ title: String, by author: String = "jane", daysAgo: Int = 5, expires: String? = nil,
                   expired: Bool = false, state: String = "applied") -> MotdSummary.Line {
    MotdSummary.Line(id: id, title: title, author: author, recordedAt: now.addingTimeInterval(Double(-daysAgo * 86400)),
                     expires: expires, expired: expired, state: state)
}

private func summary(app: String = "obs-api", _ patches: [MotdSummary.Line], unregistered: [String] = []) -> MotdSummary {
    MotdSummary(app: app, deployedRevision: "8c1f0e2d4b5a69788766554433221100ffeeddcc", checkedAt: now,
                patches: patches, unregistered: unregistered)
}

private func block(_ s: MotdSummary) throws -> String { try #require(Motd.block(for: s, now: now)) }

@Suite("Motd block")
struct MotdBlockTests {
    @Test("the block shows the headline, one row a patch, the drift line and where to look")
    func rendersLayout() throws {
        let s = summary([
            patch("0001", "Disable the RSS feed cleanup job", by: "jane", daysAgo: 5, expires: "2027-07-14"),
            patch("0002", "Raise the worker timeout", by: "tom", daysAgo: 1, expires: "2026-11-01", expired: true),
        ], unregistered: ["src/api/app/models/user.rb"])
        #expect(try block(s) == """
            # BEGIN patchkeeper obs-api -- managed block, do not edit
            *** MONKEY PATCHES ACTIVE on obs-api: 2 ***
              deployed 8c1f0e2, checked 2026-11-25 12:00 UTC
              0001  Disable the RSS feed cleanup job  jane  5d  expires 2027-07-14  applied
              0002  Raise the worker timeout          tom   1d  EXPIRED 2026-11-01  applied
              !  1 unregistered change: src/api/app/models/user.rb
              Details: patchkeeper list --app obs-api
            # END patchkeeper obs-api

            """)
    }

    @Test("states other than applied are upper-cased and the columns tighten before a title is cut")
    func statesStandOut() throws {
        let s = summary([
            patch("0001", "Disable the RSS feed cleanup job", by: "jane", daysAgo: 5, expires: "2027-07-14"),
            patch("0002", "Raise the worker timeout", by: "tom", daysAgo: 1, state: "overwritten"),
            patch("0003", "Log slow queries", by: "tom", daysAgo: 9, state: "partial"),
        ])
        let rows = try block(s).split(separator: "\n").filter { $0.hasPrefix("  000") }
        #expect(rows == [
            "  0001  Disable the RSS feed cleanup job  jane 5d expires 2027-07-14 applied",
            "  0002  Raise the worker timeout          tom  1d no expiry          OVERWRITTEN",
            "  0003  Log slow queries                  tom  9d no expiry          PARTIAL",
        ])
        #expect(rows.allSatisfy { $0.count <= 80 })
    }

    @Test("the headline contains MONKEY PATCHES for one patch and for drift alone")
    func headlineKeepsThePhrase() throws {
        let one = try block(summary([patch("0001", "Fix")]))
        let driftOnly = try block(summary([], unregistered: ["a.rb", "b.rb"]))
        #expect(one.split(separator: "\n")[1] == "*** MONKEY PATCHES ACTIVE on obs-api: 1 ***")
        #expect(driftOnly.split(separator: "\n")[1] == "*** MONKEY PATCHES ACTIVE on obs-api: 0 ***")
        #expect(driftOnly.contains("\n  !  2 unregistered changes: a.rb, b.rb\n"))
    }

    @Test("no active patch and no drift gives no block")
    func emptyGivesNil() {
        #expect(Motd.block(for: summary([]), now: now) == nil)
    }

    @Test("escape sequences and newlines in titles, names, paths and the app do not reach the block")
    func sanitisesUntrustedText() throws {
        let s = summary(app: "obs\u{1B}[2J-api\n", [
            patch("0001", "Fix\u{1B}[31m red\nrm -rf /\u{1B}[0m", by: "ev\u{1B}]0;owned\u{07}il\r\nmallory"),
        ], unregistered: ["src/evil\n\u{9B}31mname.rb"])
        let text = try block(s)
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(!text.unicodeScalars.contains { (0x7F...0x9F).contains($0.value) })
        #expect(!text.contains("[31m") && !text.contains("[0m") && !text.contains("31m") && !text.contains("owned"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 8)  // 7 lines and the empty string after the final newline
        #expect(lines[0] == "# BEGIN patchkeeper obs-api -- managed block, do not edit")
        #expect(lines[3] == "  0001  Fix red rm -rf /  evil mall…  5d  no expiry  applied")
        #expect(lines[4] == "  !  1 unregistered change: src/evil name.rb")
        #expect(lines[6] == "# END patchkeeper obs-api")
    }

    @Test("500 patches show the first rows and '… and N more', every line within 80 columns")
    func cutsLongLists() throws {
        let long = String(repeating: "Very long title words ", count: 10)
        let patches = (1...500).map { patch(String(format: "%04d", $0), long, by: "Bartholomew Longname-Smith", state: "modified") }
        let paths = (1...300).map { "src/api/app/models/generated/file_number_\($0).rb" }
        let text = try block(summary(app: String(repeating: "app", count: 20), patches, unregistered: paths))
        let lines = text.split(separator: "\n")
        #expect(lines.count == 3 + 19 + 1 + 1 + 1 + 1)
        #expect(lines.filter { $0.hasPrefix("  0") }.count == 19)
        #expect(lines.contains("  … and 481 more"))
        #expect(lines.contains { $0.hasPrefix("  !  300 unregistered changes: src/api/app/models/generated/file_number_1.rb, ") && $0.hasSuffix("…") })
        #expect(lines[1].hasPrefix("*** MONKEY PATCHES ACTIVE on appapp") && lines[1].hasSuffix("…: 500 ***"))
        for line in lines.dropFirst().dropLast() {
            #expect(line.count <= 80, "\(line.count) columns: \(line)")
        }
    }

    @Test("maxLines counts the '… and N more' row, and a list of exactly maxLines is shown whole")
    func maxLinesBoundary() throws {
        let rows = { (n: Int) throws -> [Substring] in
            let text = try #require(Motd.block(for: summary((1...n).map { patch("\($0)", "T") }), now: now, maxLines: 3))
            return text.split(separator: "\n").filter { $0.hasPrefix("  ") && !$0.hasPrefix("  deployed") && !$0.hasPrefix("  Details") }
        }
        #expect(try rows(3).count == 3 && !rows(3).contains { $0.contains("more") })
        #expect(try rows(4) .map(String.init) .suffix(1) == ["  … and 2 more"])
        #expect(try rows(4).count == 3)
    }
}
