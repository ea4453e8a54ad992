import Foundation
import Testing
@testable import PatchKeeper

/// Terminal columns (issue 15): a CJK character takes two, a combining mark none.
@Suite("Display width")
struct DisplayWidthTests {
    @Test("wcwidth for the common ranges")
    func columns() {
        #expect(Text.displayWidth("abc") == 3)
        #expect(Text.displayWidth("設定") == 4)
        #expect(Text.displayWidth("한국어") == 6)
        #expect(Text.displayWidth("ｆｕｌｌ") == 8)          // fullwidth forms
        #expect(Text.displayWidth("e\u{301}") == 1)         // e + combining acute: one cell
        #expect(Text.displayWidth("🚀") == 2)
        #expect(Text.displayWidth("Zürich") == 6)
        #expect(Text.displayWidth("a\u{200B}b") == 2)       // zero-width space
    }

    @Test("cutting never splits a wide character and pads to the exact width")
    func fitAndPad() {
        #expect(Text.fitting("設定ファイル", columns: 6) == "設定…")   // 4 + 1, the next wide char would straddle
        #expect(Text.fitting("設定ファイル", columns: 7) == "設定フ…")
        #expect(Text.displayWidth(Text.padded("設定ファイル", columns: 7)) == 7)
        #expect(Text.padded("ab", columns: 4) == "ab  ")
        #expect(Text.fitting("short", columns: 10) == "short")
    }

    @Test("the motd banner keeps a CJK title within 80 columns and its columns aligned")
    func motdWithCJK() throws {
        let now = Date(timeIntervalSince1970: 1_795_608_000)
        let title = "設定ファイルの読み込みを修正する長いタイトルです、とても長いタイトルです"
        let lines = [
            MotdSummary.Line(id: "0001", title: title, author: "山田太郎", recordedAt: now.addingTimeInterval(-86_400),
                             expires: "2027-01-01", expired: false, state: "applied"),
            MotdSummary.Line(id: "0002", title: "Raise the worker timeout", author: "jane", recordedAt: now.addingTimeInterval(-86_400),
                             expires: "2027-01-01", expired: false, state: "applied"),
        ]
        let summary = MotdSummary(app: "アプリ", deployedRevision: "8c1f0e2d4b5a69788766554433221100ffeeddcc", checkedAt: now,
                                  patches: lines, unregistered: ["src/設定/ファイル.rb"])
        let block = try #require(Motd.block(for: summary, now: now))
        for line in block.split(separator: "\n") {
            #expect(Text.displayWidth(String(line)) <= 80, "\(Text.displayWidth(String(line))): \(line)")
        }
        // The author column starts at the same terminal column in both rows.
        let rows = block.split(separator: "\n").map(String.init).filter { $0.hasPrefix("  000") }
        #expect(rows.count == 2)
        let authorAt = rows.compactMap { row -> Int? in
            guard let r = row.range(of: "山田太郎") ?? row.range(of: "jane") else { return nil }
            return Text.displayWidth(String(row[..<r.lowerBound]))
        }
        #expect(authorAt.count == 2 && authorAt[0] == authorAt[1], "\(authorAt)\n\(block)")
    }
}
