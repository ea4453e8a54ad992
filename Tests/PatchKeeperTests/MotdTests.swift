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

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private func fileBytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

private func setFileBytes(_ path: String, _ b: [UInt8]) { #expect(FileManager.default.createFile(atPath: path, contents: Data(b))) }

/// A scratch directory holding a file `motd` with `contents` (the directory goes with the Scratch).
private func scratchWithMotd(_ contents: [UInt8]) -> Scratch {
    let s = Scratch()
    setFileBytes(s.file("motd"), contents)
    return s
}

@Suite("Motd block")
struct MotdBlockTests {
    @Test("the block shows the headline, one row a patch, the drift line and where to look")
    func rendersLayout() throws {
        let s = summary([
            patch("0001", "Disable the RSS cleanup", by: "jane", daysAgo: 5, expires: "2027-07-14"),
            patch("0002", "Raise the worker timeout", by: "tom", daysAgo: 1, expires: "2026-11-01", expired: true),
        ], unregistered: ["src/api/app/models/user.rb"])
        #expect(try block(s) == """
            # BEGIN patchkeeper obs-api -- managed block, do not edit
            *** MONKEY PATCHES ACTIVE on obs-api: 2, 1 EXPIRED ***
              deployed 8c1f0e2, checked 2026-11-25 12:00 UTC
              0001  Disable the RSS cleanup   jane  2026-11-20  expires 2027-07-14  applied
              0002  Raise the worker timeout  tom   2026-11-24  EXPIRED 2026-11-01  applied
              !  1 unregistered change: src/api/app/models/user.rb
              Details: patchkeeper status --app obs-api
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
            "  0001  Disable the RSS feed cl…  jane 2026-11-20 expires 2027-07-14 applied",
            "  0002  Raise the worker timeout  tom  2026-11-24 no expiry          OVERWRITTEN",
            "  0003  Log slow queries          tom  2026-11-16 no expiry          PARTIAL",
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
        #expect(lines[3] == "  0001  Fix red rm -rf /  evil mall…  2026-11-20  no expiry  applied")
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
        #expect(lines[0] == "# BEGIN patchkeeper " + String(repeating: "app", count: 20))  // the note gives way to fit
        for line in lines {
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

@Suite("Motd file")
struct MotdFileTests {
    let one = summary([patch("0001", "Disable the RSS feed cleanup job")])
    let two = summary([patch("0001", "Disable the RSS feed cleanup job"), patch("0002", "Raise the worker timeout")])

    @Test("a block is inserted, replaced and removed leaving the bytes around it identical")
    func insertUpdateRemove() throws {
        // CRLF, tabs, trailing spaces, non-UTF-8 bytes and no final newline: all must survive as they are.
        let before = bytes("Welcome to obs\r\n\tbe careful  \n") + [0xFF, 0xFE, 0x0A]
        let after = bytes("# local note\n\nlast line, no newline")
        let s = scratchWithMotd(before)
        let motd = s.file("motd")

        #expect(try Motd.write(file: motd, app: "obs-api", block: block(one)))
        #expect(fileBytes(motd) == before + bytes(try block(one)))

        setFileBytes(motd, fileBytes(motd) + after)
        #expect(try Motd.write(file: motd, app: "obs-api", block: block(two)))
        #expect(fileBytes(motd) == before + bytes(try block(two)) + after)

        #expect(try Motd.write(file: motd, app: "obs-api", block: nil))
        #expect(fileBytes(motd) == before + after)
    }

    @Test("writing the same block twice changes the file once")
    func idempotent() throws {
        let s = Scratch()
        let motd = s.file("motd")
        #expect(try Motd.write(file: motd, app: "obs-api", block: block(one)))
        let first = fileBytes(motd)
        #expect(try !Motd.write(file: motd, app: "obs-api", block: block(one)))
        #expect(fileBytes(motd) == first)
    }

    @Test("text without a final newline gets one before an inserted block")
    func insertAddsNewline() throws {
        let b = try block(one)
        #expect(try Motd.updated("Welcome", app: "obs-api", block: b) == "Welcome\n" + b)
        #expect(try Motd.updated("", app: "obs-api", block: b) == b)
    }

    @Test("two apps keep separate blocks that are updated independently")
    func twoApps() throws {
        let other = summary(app: "obs-frontend", [patch("0007", "Hide the banner")])
        let otherBlock = try block(other)
        var text = try Motd.updated("Welcome\n", app: "obs-api", block: block(one))
        text = try Motd.updated(text, app: "obs-frontend", block: otherBlock)
        #expect(text == "Welcome\n" + (try block(one)) + otherBlock)

        text = try Motd.updated(text, app: "obs-api", block: block(two))
        #expect(text == "Welcome\n" + (try block(two)) + otherBlock)

        text = try Motd.updated(text, app: "obs-frontend", block: nil)
        #expect(text == "Welcome\n" + (try block(two)))
        text = try Motd.updated(text, app: "obs-api", block: nil)
        #expect(text == "Welcome\n")
    }

    @Test("an app whose name starts another's does not take its block")
    func prefixNames() throws {
        let obs = try block(summary(app: "obs", [patch("0001", "A")]))
        let obsApi = try block(summary(app: "obs-api", [patch("0002", "B")]))
        let text = try Motd.updated(obsApi, app: "obs", block: obs)
        #expect(text == obsApi + obs)
        #expect(try Motd.updated(text, app: "obs", block: nil) == obsApi)
    }

    @Test("an empty summary removes the block from the file and only the block")
    func emptyRemoves() throws {
        let original = bytes("Authorised use only.\n")
        let s = scratchWithMotd(original)
        let motd = s.file("motd")
        #expect(try Motd.write(file: motd, app: "obs-api", block: block(one)))
        #expect(fileBytes(motd) != original)
        #expect(try Motd.write(file: motd, app: "obs-api", block: Motd.block(for: summary([]), now: now)))
        #expect(fileBytes(motd) == original)
    }

    @Test("a missing file is not created just to hold no block")
    func missingFileNoBlock() throws {
        let s = Scratch()
        #expect(try !Motd.write(file: s.file("motd"), app: "obs-api", block: nil))
        #expect(!s.exists("motd"))
    }

    @Test("the file's mode 0640 is kept after a write")
    func keepsMode() throws {
        let s = scratchWithMotd(bytes("Welcome\n"))
        let motd = s.file("motd")
        #expect(chmod(motd, 0o640) == 0)
        #expect(try Motd.write(file: motd, app: "obs-api", block: block(one)))
        let attrs = try FileManager.default.attributesOfItem(atPath: motd)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o640)
        #expect(s.read("motd") == "Welcome\n" + (try block(one)))
    }

    @Test("a symlinked motd is refused and the file it points to is left alone")
    func refusesSymlink() throws {
        let s = Scratch()
        s.write("real-motd", "Welcome\n")
        try FileManager.default.createSymbolicLink(atPath: s.file("motd"), withDestinationPath: s.file("real-motd"))
        #expect {
            try Motd.write(file: s.file("motd"), app: "obs-api", block: block(one))
        } throws: { error in
            (error as? PatchKeeperError)?.message.contains("symbolic link") == true
        }
        #expect(s.read("real-motd") == "Welcome\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: s.file("motd")) == s.file("real-motd"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.path).sorted() == ["motd", "real-motd"])
    }

    @Test("a BEGIN without END is refused and nothing is written")
    func refusesUnclosedBlock() throws {
        let original = bytes("Welcome\n# BEGIN patchkeeper obs-api -- managed block, do not edit\nold text\n")
        let s = scratchWithMotd(original)
        let motd = s.file("motd")
        #expect {
            try Motd.write(file: motd, app: "obs-api", block: block(one))
        } throws: { error in
            let e = error as? PatchKeeperError
            return e?.message.contains(motd) == true && e?.message.contains("line 2 has no '# END patchkeeper obs-api'") == true
        }
        #expect(throws: PatchKeeperError.self) { try Motd.write(file: motd, app: "obs-api", block: nil) }
        #expect(fileBytes(motd) == original)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.path) == ["motd"])
    }

    @Test("stray, duplicate, misordered and overlapping markers are refused, naming the problem", arguments: [
        ("x\n# END patchkeeper obs-api\n", "no '# BEGIN patchkeeper obs-api' line before it"),
        ("# END patchkeeper obs-api\n# BEGIN patchkeeper obs-api\n", "comes before"),
        ("# BEGIN patchkeeper obs-api\n# BEGIN patchkeeper obs-api\n# END patchkeeper obs-api\n", "marked more than once"),
        ("# BEGIN patchkeeper obs-api\n# END patchkeeper obs-api\n# BEGIN patchkeeper obs-api\n# END patchkeeper obs-api\n",
         "on lines 1, 2, 3, 4"),
        ("# BEGIN patchkeeper obs-api\n# BEGIN patchkeeper web\n# END patchkeeper obs-api\n# END patchkeeper web\n",
         "line 2 holds another patchkeeper marker"),
    ])
    func refusesBadMarkers(text: String, mentions: String) {
        #expect {
            _ = try Motd.updated(text, app: "obs-api", block: nil)
        } throws: { error in
            (error as? PatchKeeperError)?.message.contains(mentions) == true
        }
    }

    @Test("a block made for another app is not put in this app's place")
    func rejectsForeignBlock() throws {
        let foreign = try block(summary(app: "web", [patch("0001", "A")]))
        #expect(throws: PatchKeeperError.self) { try Motd.updated("Welcome\n", app: "obs-api", block: foreign) }
        #expect(throws: PatchKeeperError.self) { try Motd.updated("Welcome\n", app: "obs-api", block: "hello\n") }
    }

    @Test("the drift line says since when, as a date (an age would be frozen at write time)")
    func driftSince() throws {
        var s = MotdSummary(app: "obs-api", deployedRevision: "8c1f0e2d", checkedAt: Date(timeIntervalSince1970: 1_795_608_000),
                            patches: [], unregistered: ["src/api/app/models/user.rb"])
        s.unregisteredSince = Date(timeIntervalSince1970: 1_795_608_000 - 3 * 86_400)
        let block = try #require(Motd.block(for: s, now: Date(timeIntervalSince1970: 1_795_608_000)))
        #expect(block.contains("  !  1 unregistered change since 2026-11-22: src/api/app/models/user.rb"), "\(block)")
    }

    @Test("rows show the day a patch was recorded, never an age: the same summary renders the same a month later")
    func datesNotAges() throws {
        let s = summary([patch("0001", "Fix", daysAgo: 0), patch("0002", "Other", daysAgo: 400)])
        let today = try block(s)
        let later = try #require(Motd.block(for: s, now: now.addingTimeInterval(30 * 86_400)))
        #expect(today == later)
        #expect(today.contains("  0001  Fix    jane  2026-11-25  no expiry  applied"), "\(today)")
        #expect(today.contains("  0002  Other  jane  2025-10-21  no expiry  applied"), "\(today)")
        #expect(!today.contains("0s") && !today.contains("400d"))
    }
}

@Suite("Motd drop-in")
struct MotdDropInTests {
    let one = summary([patch("0001", "Disable the RSS cleanup", expires: "2027-07-14")])

    /// A scratch with an empty `motd.d` directory.
    func dropInDir() -> (Scratch, String) {
        let s = Scratch()
        try! FileManager.default.createDirectory(atPath: s.file("motd.d"), withIntermediateDirectories: true)
        return (s, s.file("motd.d/50-patchkeeper-obs-api"))
    }

    @Test("a drop-in of its own gets the banner without the BEGIN/END lines, mode 0644; removing the banner removes the file")
    func bareBanner() throws {
        let (s, file) = dropInDir()
        let full = try block(one)
        #expect(try Motd.update(file: file, app: "obs-api", block: full) == .written)
        let text = try #require(s.read("motd.d/50-patchkeeper-obs-api"))
        #expect(!text.contains("# BEGIN") && !text.contains("# END") && !text.contains("do not edit"))
        #expect(text.hasPrefix("*** MONKEY PATCHES ACTIVE on obs-api: 1 ***\n"))
        #expect(text.hasSuffix("  Details: patchkeeper status --app obs-api\n"))
        #expect(text == full.split(separator: "\n").dropFirst().dropLast().joined(separator: "\n") + "\n")
        var st = stat()
        #expect(lstat(file, &st) == 0 && st.st_mode & 0o777 == 0o644)
        #expect(try Motd.update(file: file, app: "obs-api", block: full) == .unchanged)
        #expect(try Motd.update(file: file, app: "obs-api", block: nil) == .removed)
        #expect(!s.exists("motd.d/50-patchkeeper-obs-api"))
        #expect(try Motd.update(file: file, app: "obs-api", block: nil) == .noFile)
    }

    @Test("a drop-in holding one marked block (an older patchkeeper's) is rewritten bare")
    func convertsMarkedDropIn() throws {
        let (s, file) = dropInDir()
        s.write("motd.d/50-patchkeeper-obs-api", try block(one))
        #expect(try Motd.update(file: file, app: "obs-api", block: block(one)) == .written)
        #expect(s.read("motd.d/50-patchkeeper-obs-api") == (try Motd.bareBanner(block(one), app: "obs-api")))
    }

    @Test("a drop-in with text of someone else's keeps it: the banner goes between markers")
    func sharedDropInKeepsText() throws {
        let (s, file) = dropInDir()
        s.write("motd.d/50-patchkeeper-obs-api", "Maintenance on Friday.\n")
        #expect(try Motd.update(file: file, app: "obs-api", block: block(one)) == .written)
        #expect(s.read("motd.d/50-patchkeeper-obs-api") == "Maintenance on Friday.\n" + (try block(one)))
        #expect(try Motd.update(file: file, app: "obs-api", block: nil) == .removed)
        #expect(s.read("motd.d/50-patchkeeper-obs-api") == "Maintenance on Friday.\n")
    }

    @Test("another app's bare banner is not taken for this app's")
    func otherAppsBanner() throws {
        let (s, file) = dropInDir()
        let web = try Motd.bareBanner(block(summary(app: "web", [patch("0001", "A")])), app: "web")
        s.write("motd.d/50-patchkeeper-obs-api", web)
        #expect(try Motd.update(file: file, app: "obs-api", block: nil) == .noBanner)
        #expect(s.read("motd.d/50-patchkeeper-obs-api") == web)
    }

    @Test("two apps sharing one drop-in: each keeps one banner, no stale bare copy is left, and the last removal removes the file")
    func sharedDropInTwoApps() throws {
        let (s, file) = dropInDir()
        let web = summary(app: "web", [patch("0001", "A")])
        #expect(try Motd.update(file: file, app: "obs-api", block: block(one)) == .written)   // bare: the file is its own
        #expect(try Motd.update(file: file, app: "web", block: block(web)) == .written)       // web's block joins it
        let two = summary([patch("0001", "Disable the RSS cleanup"), patch("0002", "Second")])
        #expect(try Motd.update(file: file, app: "obs-api", block: block(two)) == .written)
        let text = try #require(s.read("motd.d/50-patchkeeper-obs-api"))
        #expect(text.components(separatedBy: "MONKEY PATCHES ACTIVE on obs-api").count == 2, "\(text)")
        #expect(text.contains("ACTIVE on obs-api: 2 ***") && !text.contains("ACTIVE on obs-api: 1 ***"), "\(text)")
        #expect(text.contains("# BEGIN patchkeeper web") && text.contains("# BEGIN patchkeeper obs-api"), "\(text)")
        #expect(try Motd.update(file: file, app: "web", block: nil) == .removed)
        #expect(try Motd.update(file: file, app: "obs-api", block: nil) == .removed)
        #expect(!s.exists("motd.d/50-patchkeeper-obs-api"))
    }

    @Test("apps whose long names share their first 60 characters never take each other's banner")
    func longNamesSharingAPrefix() throws {
        let (s, file) = dropInDir()
        let a = String(repeating: "a", count: 60) + "-one", b = String(repeating: "a", count: 60) + "-two"
        let ba = try block(summary(app: a, [patch("0001", "A")]))
        #expect(try Motd.update(file: file, app: a, block: ba) == .written)
        let written = try #require(s.read("motd.d/50-patchkeeper-obs-api"))
        #expect(written == ba, "a name cut on the banner is kept between markers")
        #expect(try Motd.update(file: file, app: b, block: nil) == .noBanner)
        #expect(s.read("motd.d/50-patchkeeper-obs-api") == written)
        let bb = try block(summary(app: b, [patch("0001", "B")]))
        #expect(try Motd.update(file: file, app: b, block: bb) == .written)
        #expect(s.read("motd.d/50-patchkeeper-obs-api") == ba + bb)
        #expect(try Motd.update(file: file, app: a, block: nil) == .removed)
        #expect(s.read("motd.d/50-patchkeeper-obs-api") == bb)
    }

    @Test("a hand-kept drop-in that only starts and ends like a banner is not removed")
    func handKeptLookalike() throws {
        let (s, file) = dropInDir()
        let kept = "*** MONKEY PATCHES ACTIVE on obs-api: 1 ***\nRemember the Friday freeze.\n  Details: patchkeeper status --app obs-api\n"
        s.write("motd.d/50-patchkeeper-obs-api", kept)
        #expect(try Motd.update(file: file, app: "obs-api", block: nil) == .noBanner)
        #expect(s.read("motd.d/50-patchkeeper-obs-api") == kept)
    }

    @Test("a motd.d path written with doubled slashes is still a drop-in")
    func doubledSlashes() throws {
        let (s, _) = dropInDir()
        #expect(Motd.isDropIn("/x//motd.d//f") && Motd.isDropIn("/x/motd.d/./f") && !Motd.isDropIn("/x/motd.d/sub/f"))
        let file = s.file("motd.d") + "//50-patchkeeper-obs-api"
        #expect(try Motd.update(file: file, app: "obs-api", block: block(one)) == .written)
        #expect(s.read("motd.d/50-patchkeeper-obs-api") == (try Motd.bareBanner(block(one), app: "obs-api")))
        #expect(throws: PatchKeeperError.self) { try Motd.update(file: "", app: "obs-api", block: nil) }
    }

    @Test("a banner directory that is a symlink, or writable by group or others, is refused")
    func refusesUnsafeDirectory() throws {
        let (s, _) = dropInDir()
        try FileManager.default.createSymbolicLink(atPath: s.file("link.d"), withDestinationPath: s.file("motd.d"))
        #expect(throws: PatchKeeperError.self) { try Motd.update(file: s.file("link.d/f"), app: "obs-api", block: block(one)) }
        #expect(!s.exists("motd.d/f"))
        try FileManager.default.createDirectory(atPath: s.file("open"), withIntermediateDirectories: true)
        for mode: mode_t in [0o775, 0o757, 0o1777] {
            chmod(s.file("open"), mode)
            #expect(throws: PatchKeeperError.self) { try Motd.update(file: s.file("open/motd"), app: "obs-api", block: block(one)) }
        }
        #expect(!s.exists("open/motd"))
        chmod(s.file("open"), 0o755)
        #expect(try Motd.update(file: s.file("open/motd"), app: "obs-api", block: block(one)) == .written)
    }

    @Test("removing the banner also removes a temp file a crashed writer left beside it")
    func removeCleansStaleTemps() throws {
        let (s, file) = dropInDir()
        #expect(try Motd.update(file: file, app: "obs-api", block: block(one)) == .written)
        // A PID that is not running: the largest a Linux PID can be, plus one.
        let stale = "motd.d/.50-patchkeeper-obs-api.pk-tmp-4194305-abc"
        s.write(stale, "torn")
        #expect(try Motd.update(file: file, app: "obs-api", block: nil) == .removed)
        #expect(!s.exists(stale))
        s.write(stale, "torn")
        #expect(try Motd.update(file: file, app: "obs-api", block: nil) == .noFile)
        #expect(!s.exists(stale))
    }

    @Test("four apps writing one shared file at the same time all keep their block (50 rounds)")
    func concurrentWriters() throws {
        let s = Scratch()
        let file = s.file("motd")
        let apps = ["alpha", "beta", "gamma", "delta"]
        let blocks = try apps.map { try block(summary(app: $0, [patch("0001", "T")])) }
        var lost = 0
        for _ in 0..<50 {
            s.write("motd", "Welcome\n")
            // One thread an app, released together (the test pool may be busy with other tests).
            let go = DispatchSemaphore(value: 0), done = DispatchGroup()
            for i in apps.indices {
                done.enter()
                Thread.detachNewThread {
                    go.wait()
                    _ = try? Motd.update(file: file, app: apps[i], block: blocks[i])
                    done.leave()
                }
            }
            for _ in apps { go.signal() }
            done.wait()
            let text = s.read("motd") ?? ""
            lost += apps.filter { !text.contains("# BEGIN patchkeeper \($0)") }.count
        }
        #expect(lost == 0)
    }

    @Test("removing reports no-file for a missing file and no-banner for a file without the block")
    func removeReports() throws {
        let s = scratchWithMotd(bytes("Welcome\n"))
        #expect(try Motd.update(file: s.file("missing"), app: "obs-api", block: nil) == .noFile)
        #expect(try Motd.update(file: s.file("motd"), app: "obs-api", block: nil) == .noBanner)
        #expect(s.read("motd") == "Welcome\n")
        #expect(!s.exists("missing"))
    }
}
