import Foundation
import Git
import Testing
import TestSupport
@testable import PatchKeeper

/// The generated-input tests' numbers: a fixed-seed linear congruential generator.
struct Generator {
    var state: UInt64
    mutating func next(_ n: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(n))
    }
}

@Suite("Patch file format")
struct PatchFileTests {
    @Test("a file loaded as validated skips the header path checks only for the tail it was loaded with")
    func validatedTailOnly() throws {
        let good = "From 0123456789012345678901234567890123456789 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\nDate: Tue, 01 Dec 2026 00:00:00 +0000\nSubject: [PATCH] t\n\nr\n\nPatch-Id: 0001\nBase: 0123456789012345678901234567890123456789\nStatus: active\n---\n f | 1 +\n\ndiff --git a/f b/f\nindex 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
        var p = try PatchFile.parse(good, fileName: "0001-t.patch", validateDiff: false)
        #expect(try p.files().count == 1)
        // A rebase (or anything else) that changes the tail: that text was never validated.
        p.tail = p.tail.replacingOccurrences(of: "a/f b/f", with: "a//etc/f b//etc/f").replacingOccurrences(of: "--- a/f\n+++ b/f", with: "--- a//etc/f\n+++ b//etc/f")
        #expect(throws: (any Error).self) { try p.files() }
    }

    @Test("a NUL byte anywhere, first to last, makes a file no patch file", arguments: [0, 1, 200, -1])
    func nulBytes(at: Int) throws {
        let good = "From 0123456789012345678901234567890123456789 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\nDate: Tue, 01 Dec 2026 00:00:00 +0000\nSubject: [PATCH] t\n\nr\n\nPatch-Id: 0001\nBase: 0123456789012345678901234567890123456789\nStatus: active\n---\n f | 1 +\n\ndiff --git a/f b/f\nindex 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
        _ = try PatchFile.parse(good, fileName: "0001-t.patch", validateDiff: false)
        var bytes = Array(good.utf8)
        bytes.insert(0, at: at < 0 ? bytes.count : at)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(throws: PatchFile.ParseError.self) { try PatchFile.parse(text, fileName: "0001-t.patch", validateDiff: false) }
        do { _ = try PatchFile.parse(text, fileName: "0001-t.patch", validateDiff: false) } catch {
            #expect(error.message.contains("NUL"))
        }
    }

    @Test("mayTouch is false only for a plain path whose bytes are nowhere in the diff")
    func mayTouchByBytes() throws {
        let text = "From 0123456789012345678901234567890123456789 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\nDate: Tue, 01 Dec 2026 00:00:00 +0000\nSubject: [PATCH] t\n\nr\n\nPatch-Id: 0001\nBase: 0123456789012345678901234567890123456789\nStatus: active\n---\n f | 1 +\n\ndiff --git a/src/app/f\u{E9}.rb b/src/app/f\u{E9}.rb\r\nindex 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644\n--- a/src/app/f\u{E9}.rb\n+++ b/src/app/f\u{E9}.rb\n@@ -1 +1 @@\n-a\n+b\n"
        let p = try PatchFile.parse(text, fileName: "0001-t.patch", validateDiff: false)
        #expect(p.mayTouch("src/app"))  // a prefix of the path: may (the caller decides by parsing)
        #expect(p.mayTouch("b/src/app/f"))
        #expect(!p.mayTouch("src/app/g.rb"))
        #expect(!p.mayTouch("src/app/F"))  // bytes, not case-folded
        #expect(p.mayTouch("src/app/f\u{E9}.rb"))  // not plain: git would quote it, always true
        #expect(p.mayTouch("src/app/f\u{65}\u{301}.rb"))  // decomposed, also not plain
    }

    @Test("a patch whose headers quote a path may touch any path (git reads \"a/\\113.rb\" as K.rb)", arguments: [
        "diff --git \"a/\\113.rb\" \"b/\\113.rb\"\n--- \"a/\\113.rb\"\n+++ \"b/\\113.rb\"\n@@ -1 +1 @@\n-a\n+b\n",
        "diff --git a/x.rb b/y.rb\nsimilarity index 90%\nrename from x.rb\nrename to \"\\113.rb\"\n",
        "diff --git a/\\113.rb b/\\113.rb\n--- \"a/\\113.rb\"\n+++ b/K.rb\n@@ -1 +1 @@\n-a\n+b\n",
    ])
    func mayTouchQuotedHeaders(diff: String) throws {
        let text = "From 0123456789012345678901234567890123456789 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\nDate: Tue, 01 Dec 2026 00:00:00 +0000\nSubject: [PATCH] t\n\nr\n\nPatch-Id: 0001\nBase: 0123456789012345678901234567890123456789\nStatus: active\n---\n f | 1 +\n\n" + diff
        let p = try PatchFile.parse(text, fileName: "0001-t.patch", validateDiff: false)
        #expect(p.mayTouch("K.rb"))
        // A quote in a content line is no header: a plain path still answers by its bytes.
        let content = try PatchFile.parse(text.replacingOccurrences(of: "\"", with: "").replacingOccurrences(of: "-a\n+b", with: "-a\n+\"b\""),
                                          fileName: "0001-t.patch", validateDiff: false)
        #expect(!content.mayTouch("L.rb"))
    }

    /// The diff section as Foundation's `range(of:)` finds it: the reference for both of the
    /// product's searches (on bytes, and by scalars where the bytes cannot tell).
    static func diffSectionWithFoundation(_ text: String) -> String? {
        let body: Substring
        if text.hasPrefix("diff --git ") {
            body = text[...]
        } else if let r = text.range(of: "\ndiff --git ") {
            body = text[text.index(after: r.lowerBound)...]
        } else {
            return nil
        }
        if let sig = body.range(of: "\n-- \n", options: .backwards), PatchFile.isSignature(tail: body[sig.upperBound...].utf8) {
            return String(body[..<sig.lowerBound]) + "\n"
        }
        return String(body)
    }

    @Test("the diff section found on bytes, and by scalars, equals Foundation's search, for generated tails")
    func diffSectionOnBytes() {
        var seed: UInt64 = 0xD1FF_5EC7
        func next() -> UInt64 { seed &+= 0x9E37_79B9_7F4A_7C15; var z = seed; z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB; return z ^ (z >> 31) }
        let pieces = ["diff --git ", "\ndiff --git ", "a/x b/x", "\n", "\r", "\r\n", "\u{301}", "\u{E9}", "-- ", "\n-- \n", "--", " ",
                      "\u{212A}", ";", "`", " f | 1 +\n", "@@ -1 +1 @@\n", "+x\n", "2.39.5\n", "diff", "git", "\u{300}x",
                      "\u{200D}", "\u{903}", "\u{20DD}", "\u{1F1E6}", "\u{1100}", "\u{1161}"]
        var fast = 0
        for _ in 0..<20_000 {
            var text = ""
            for _ in 0..<(1 + Int(next() % 16)) { text += pieces[Int(next() % UInt64(pieces.count))] }
            let onBytes = PatchFile.diffSectionOnBytes(text)
            if onBytes != nil { fast += 1 }
            let reference = Self.diffSectionWithFoundation(text)
            #expect(PatchFile.diffSection(of: text) == reference, "\(text.debugDescription)")
            #expect(PatchFile.diffSectionByScalars(text) == reference, "\(text.debugDescription)")
            if let onBytes { #expect(onBytes == reference, "\(text.debugDescription)") }
        }
        #expect(fast > 5_000, "the byte search answered \(fast) times")
    }

    @Test("'-- ' is a signature only when a signature follows it, not a hunk line deleting '- '", arguments: [
        // (the tail, the diff section)
        ("diff --git a/x b/x\n@@ -1,2 +1 @@\n a\n-- \n", "diff --git a/x b/x\n@@ -1,2 +1 @@\n a\n-- \n"),
        ("diff --git a/x b/x\n@@ -1,2 +1 @@\n-- \n a\n", "diff --git a/x b/x\n@@ -1,2 +1 @@\n-- \n a\n"),
        ("diff --git a/x b/x\n@@ -1,2 +1 @@\n-- \n-b\n", "diff --git a/x b/x\n@@ -1,2 +1 @@\n-- \n-b\n"),
        ("diff --git a/x b/x\n@@ -1 +1 @@\n-- \n+b\n", "diff --git a/x b/x\n@@ -1 +1 @@\n-- \n+b\n"),
        ("diff --git a/x b/x\n@@ -1 +0,0 @@\n-- \n\\ No newline at end of file\n", "diff --git a/x b/x\n@@ -1 +0,0 @@\n-- \n\\ No newline at end of file\n"),
        ("diff --git a/x b/x\n@@ -1 +0,0 @@\n-- \ndiff --git a/y b/y\n", "diff --git a/x b/x\n@@ -1 +0,0 @@\n-- \ndiff --git a/y b/y\n"),
        ("diff --git a/x b/x\n@@ -1 +0,0 @@\n-- \n@@ -5 +4,0 @@\n", "diff --git a/x b/x\n@@ -1 +0,0 @@\n-- \n@@ -5 +4,0 @@\n"),
        ("diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n-- \n2.39.5\n\n", "diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n"),
        ("diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n-- \n\n", "diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n"),
    ])
    func dashDashInHunk(text: String, section: String) {
        #expect(PatchFile.diffSection(of: text) == section)
        #expect(Self.diffSectionWithFoundation(text) == section)
        #expect(PatchFile.diffSectionByScalars(text) == section)
    }

    static let base = "8c1f0e2d6b0f11111111111111111111111111ab"

    func makePatch(reason: String = "It takes table locks on notifications.\n\nSecond paragraph.") throws -> PatchFile {
        let old = FileVersion(path: "src/api/config/clock.rb", mode: .regular, content: Array(AppFixture.clock.utf8))
        let new = FileVersion(path: "src/api/config/clock.rb", mode: .regular, content: Array("every 1.hour do\n  # off\nend\n".utf8))
        var meta = PatchBuilder.Metadata(id: "0001", title: "Disable the RSS feed cleanup job", reason: reason,
                                         ticket: "https://example.org/issues/3364", expires: "2017-07-14",
                                         author: Person(name: "Jane Admin", email: "jane@example.org"), base: ObjectID(hex: Self.base)!)
        meta.extraTrailers = [.init("X-Custom", "kept")]
        return try PatchBuilder.make(meta, changes: [FileChange(old: old, new: new)], now: Date(timeIntervalSince1970: 1_498_806_720))
    }

    @Test("a built patch renders, parses back equal, and renders byte for byte the same")
    func roundTrip() throws {
        let patch = try makePatch()
        let text = patch.render()
        let parsed = try PatchFile.parse(text, fileName: patch.fileName)
        #expect(parsed == patch)
        #expect(parsed.render() == text)
        #expect(patch.fileName == "0001-disable-the-rss-feed-cleanup-job.patch")
        #expect(text.hasPrefix("From \(Self.base) Mon Sep 17 00:00:00 2001\nFrom: Jane Admin <jane@example.org>\nDate: Fri, 30 Jun 2017 07:12:00 +0000\nSubject: [PATCH] Disable the RSS feed cleanup job\n\n"))
        #expect(parsed.id == "0001")
        #expect(parsed.base?.hex == Self.base)
        #expect(parsed.status == .active)
        #expect(parsed.ticket == "https://example.org/issues/3364")
        #expect(parsed.reason == "It takes table locks on notifications.\n\nSecond paragraph.")
        #expect(parsed.trailer("X-Custom") == "kept")
        #expect(try parsed.files().first?.oldID.hex == "36658bbda4b13ec3d0b6ab7fdb22ac53f542f2be")
    }

    @Test("splitting only the head finds the lines, tail and diff line the whole file's split gives, CR LF and combining marks included")
    func headSplitEqualsWholeSplit() {
        let pieces = ["From x", "From: A <a@b>", "Subject: s", "", "---", "--", "----", "\r", "\r\n", "\n", "\n\n",
                      "diff --git a/x b/x", "diff --git \u{301}a", "diff --gi", "x", "-", "\u{301}", " ", "é"]
        var generator = Generator(state: 0x13)
        func next(_ n: Int) -> Int { generator.next(n) }
        var found = 0
        for _ in 0..<20_000 {
            var text = ""
            for _ in 0..<(1 + next(14)) {
                text += pieces[next(pieces.count)]
                if next(2) == 0 { text += "\n" }
            }
            let whole = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let blank = whole.indices.first { $0 >= 1 && whole[$0].isEmpty }
            let sep = blank.flatMap { b in whole.indices.first { $0 > b && whole[$0] == "---" } }
            let head = PatchFile.headSplit(text)
            guard let sep else {
                #expect(head == nil, "\(text.debugDescription)")
                continue
            }
            found += 1
            guard let head else { Issue.record("no head for \(text.debugDescription)"); continue }
            #expect(head.lines == Array(whole[...sep]), "\(text.debugDescription)")
            #expect(head.tail == whole[(sep + 1)...].joined(separator: "\n"), "\(text.debugDescription)")
            #expect(head.diffLine == whole[(sep + 1)...].firstIndex { $0.hasPrefix("diff --git ") }, "\(text.debugDescription)")
        }
        #expect(found > 500)
    }

    @Test("the first ':' found on the bytes is the first ':' Character, for generated lines")
    func firstColonEqualsCharacterSearch() {
        let pieces = [":", "a", "K", "-", " ", "\r", "\n", "\r\n", "\u{301}", "\u{E9}", "\u{200D}", "\u{600}", "\u{1F600}",
                      "\u{FE0F}", "\u{1100}", "\u{1161}", "\u{A0}", ":\u{301}", "\u{301}:"]
        var generator = Generator(state: 0x3A)
        func next(_ n: Int) -> Int { generator.next(n) }
        var onBytes = 0
        for _ in 0..<50_000 {
            let line = (0..<(1 + next(8))).map { _ in pieces[next(pieces.count)] }.joined()
            let want = line.firstIndex(of: ":")
            let got = PatchFile.firstColon(line)
            #expect(got == want, "\(line.debugDescription)")
            if let want, line.utf8[..<want].allSatisfy({ $0 < 0x80 }) { onBytes += 1 }
        }
        #expect(onBytes > 2_000, "the byte path answered \(onBytes) times")
    }

    @Test("ASCII letters are exactly the alphabetic ASCII scalars (trailer keys)")
    func asciiLettersAreAlphabetic() {
        for v in UInt32(0)..<128 {
            let c = Unicode.Scalar(v)!
            let key = "K\(c)y: value"
            // (A ":" ends the key at "K", which is one.)
            let isKeyChar = c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-"
            #expect((PatchFile.trailerParts(key) != nil) == (isKeyChar || c == ":"), "U+\(String(v, radix: 16))")
            #expect((PatchFile.trailerParts("\(c)x: v") != nil) == c.properties.isAlphabetic, "U+\(String(v, radix: 16))")
        }
    }

    @Test("the trims and key comparisons a load uses equal Foundation's")
    func trimsAndKeysEqualFoundation() {
        let pieces = [" ", "\t", "\u{A0}", "\u{3000}", "\u{2028}", "\u{2029}", "\u{85}", "\u{B}", "\u{C}", "\r", "\r\n", "\u{1680}", "\u{200B}", "\n", "a", "Z", "@", "[", "`", "{", "-", "ß", "SS", "İ", "i", "\u{301}", "k", "K", "\u{212A}"]
        var generator = Generator(state: 0x2A)
        func next(_ n: Int) -> Int { generator.next(n) }
        func word() -> String { (0..<next(6)).map { _ in pieces[next(pieces.count)] }.joined() }
        for _ in 0..<20_000 {
            let a = word(), b = word()
            #expect(Text.trimmedSpaces(a) == a.trimmingCharacters(in: .whitespaces), "\(a.debugDescription)")
            #expect(Text.trimmedWhitespace(a) == a.trimmingCharacters(in: .whitespacesAndNewlines), "\(a.debugDescription)")
            #expect(Text.sameIgnoringCase(a, b) == (a.caseInsensitiveCompare(b) == .orderedSame), "\(a.debugDescription) \(b.debugDescription)")
            #expect(Text.sameIgnoringCase(a, a.uppercased()) == (a.caseInsensitiveCompare(a.uppercased()) == .orderedSame), "\(a.debugDescription)")
        }
    }

    @Test("unknown headers and trailers survive a rewrite")
    func unknownFieldsKept() throws {
        var text = try makePatch().render()
        text = text.replacingOccurrences(of: "Subject: [PATCH]", with: "X-Mailer: hand\nSubject: [PATCH]")
        text = text.replacingOccurrences(of: "Status: active\n", with: "Status: active\nReviewed-By: Tom <tom@example.org>\n")
        var p = try PatchFile.parse(text, fileName: "0001-x.patch")
        p.setTrailer("Status", "retired")
        p.setTrailer("Retired-Reason", "done")
        let again = p.render()
        #expect(again.contains("X-Mailer: hand\n"))
        #expect(again.contains("Status: retired\nReviewed-By: Tom <tom@example.org>\nRetired-Reason: done\n---\n"))
        #expect(try PatchFile.parse(again, fileName: "0001-x.patch").status == .retired)
    }

    @Test("a reason line of three dashes cannot cut the message short")
    func dashesInReason() throws {
        let p = try makePatch(reason: "before\n---\nafter")
        let parsed = try PatchFile.parse(p.render(), fileName: p.fileName)
        #expect(parsed.reason == "before\n- - -\nafter")
        #expect(try parsed.files().count == 1)
    }

    @Test("malformed files are refused with the file name and line", arguments: [
        ("not a patch\n", 1, "first line"),
        ("From x Mon Sep 17 00:00:00 2001\nSubject: [PATCH] t\n\nbody\n---\n", 2, "From:"),
        ("From x Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: [PATCH] t\n\nbody\n", 5, "'---'"),
        ("From x Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: [PATCH] t\n\nPatch-Id: 0001\nStatus: active\n---\ndiff --git a/x b/x\n", 7, "Base"),
        ("From x Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: [PATCH] t\n\nPatch-Id: 0001\nBase: 8c1f0e2d6b0f11111111111111111111111111ab\nExpires: soon\n---\ndiff --git a/x b/x\n", 7, "Expires"),
        ("From x Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: [PATCH] t\n\nPatch-Id: 0001\nBase: 8c1f0e2d6b0f11111111111111111111111111ab\n---\n x | 1 +\n", 8, "diff --git"),
    ])
    func malformed(text: String, line: Int, mentions: String) {
        #expect {
            _ = try PatchFile.parse(text, fileName: "0007-bad.patch")
        } throws: { error in
            guard let e = error as? PatchFile.ParseError else { return false }
            return e.file == "0007-bad.patch" && e.line == line && e.message.contains(mentions)
        }
    }

    @Test("a diff with hunks that do not parse is reported at its line")
    func brokenHunk() throws {
        var text = try makePatch().render()
        text = text.replacingOccurrences(of: "@@ -1,3 +1,3 @@", with: "@@ -1,3 +1,3 @@\nGARBAGE LINE")
        #expect {
            _ = try PatchFile.parse(text, fileName: "0001-x.patch")
        } throws: { error in
            guard let e = error as? PatchFile.ParseError else { return false }
            return e.message.contains("does not parse") && e.line > 10
        }
    }

    @Test("a patch path that leaves the root is refused on load")
    func hostilePath() throws {
        var text = try makePatch().render()
        text = text.replacingOccurrences(of: "src/api/config/clock.rb", with: "../../etc/cron.d/evil")
        #expect {
            _ = try PatchFile.parse(text, fileName: "0001-x.patch")
        } throws: { error in
            (error as? PatchFile.ParseError)?.message.contains("leaves the app root") == true
        }
    }

    @Test("expiry is a finding from the day after the date")
    func expiry() throws {
        let p = try makePatch()
        let cal = Calendar(identifier: .gregorian)
        let utc = TimeZone(identifier: "UTC")!
        let onDay = cal.date(from: DateComponents(timeZone: utc, year: 2017, month: 7, day: 14, hour: 23))!
        let after = cal.date(from: DateComponents(timeZone: utc, year: 2017, month: 7, day: 15, hour: 0))!
        #expect(!p.isExpired(now: onDay))
        #expect(p.isExpired(now: after))
    }
}

@Suite("Text helpers")
struct TextTests {
    @Test("single-line folding drops control characters and ANSI escapes")
    func singleLine() {
        #expect(Text.singleLine("a\u{1B}[31mred\u{1B}[0m\nnext\tline  ") == "ared next line")
        #expect(Text.slug("Disable the RSS feed: cleanup job!") == "disable-the-rss-feed-cleanup-job")
        #expect(Text.slug("!!!") == "patch")
        #expect(Text.slug(String(repeating: "long ", count: 40)).count <= 48)
    }

    @Test("format-patch dates parse the same with and without a DateFormatter")
    func gitDates() {
        for d in ["Fri, 30 Jun 2017 09:12:00 +0200", "Wed, 25 Nov 2026 13:28:24 +0000", "Mon, 01 Jan 2001 00:00:00 -0530"] {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
            #expect(Text.parseGitDate(d) == f.date(from: d), "\(d)")
        }
        #expect(Text.parseGitDate("yesterday") == nil)
    }

    /// What `Text.rfc2822` and `parseRFC2822` were before the binary stopped linking Foundation:
    /// DateFormatter, the reference the hand-written versions are held to.
    static func formatter(_ format: String) -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = format
        return f
    }

    @Test("patch dates are written as DateFormatter wrote them, and read back, over generated instants")
    func rfc2822MatchesDateFormatter() {
        let out = Self.formatter("EEE, dd MMM yyyy HH:mm:ss Z")
        var g = Generator(state: 2822)
        for i in 0..<5_000 {
            // 1970 to 2200, with the edges of days, months and leap years.
            let t = i < 8 ? [0, 86_399, 86_400, 951_782_400, 951_868_799, 4_107_542_399, 1_700_000_000, 7_258_118_400][i]
                : g.next(7_258_118_400)
            let date = Date(timeIntervalSince1970: TimeInterval(t))
            let text = Text.rfc2822(date)
            #expect(text == out.string(from: date), "\(t)")
            #expect(Text.parseRFC2822(text) == date, "\(text)")
        }
    }

    @Test("patch dates read as DateFormatter read them: weekday optional, one-digit day, offsets, spaces around")
    func parseRFC2822MatchesDateFormatter() {
        let formats = ["EEE, dd MMM yyyy HH:mm:ss Z", "EEE, d MMM yyyy HH:mm:ss Z", "dd MMM yyyy HH:mm:ss Z"].map(Self.formatter)
        func reference(_ s: String) -> Date? {
            let t = s.trimmingCharacters(in: .whitespaces)
            for f in formats { if let d = f.date(from: t) { return d } }
            return nil
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var g = Generator(state: 5322)
        for _ in 0..<3_000 {
            let day = 1 + g.next(28), month = months[g.next(12)], year = 1971 + g.next(200)
            let two = { (v: Int) in v < 10 ? "0\(v)" : "\(v)" }
            let time = "\(two(g.next(24))):\(two(g.next(60))):\(two(g.next(60)))"
            let zone = (g.next(2) == 0 ? "+" : "-") + two(g.next(15)) + two([0, 30, 45][g.next(3)])
            let dayText = g.next(2) == 0 ? two(day) : "\(day)"
            let weekday = ["", "Mon, ", "Thu, "][g.next(3)]
            let s = (g.next(4) == 0 ? "  " : "") + "\(weekday)\(dayText) \(month) \(year) \(time) \(zone)" + (g.next(4) == 0 ? " " : "")
            let ours = Text.parseRFC2822(s)
            #expect(ours != nil, "\(s)")
            #expect(ours == reference(s), "\(s)")
        }
        for junk in ["yesterday", "", "Fri, 30 Jun 2017 09:12:00", "Fri, 30 Jun 2017 09:12 +0200", "30 Jnu 2017 09:12:00 +0200",
                     "Fri, 32 Jun 2017 09:12:00 +0200", "Fri, 30 Jun 2017 25:12:00 +0200", "Fri, 30 Jun 17 09:12:00 +0200",
                     "Fri, 30 Jun 2017 09:12:00 +02:00", "Fri, 30 Jun 2017 09:12:00 +0260", "Fri, 30 Jun 2017 09:x2:00 +0200"] {
            #expect(Text.parseRFC2822(junk) == nil, "\(junk)")
        }
    }

    @Test("timestamps outside 0001-9999 go through ISO8601FormatStyle as they went through ISO8601DateFormatter")
    func isoFallback() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        for t in [1e12, 3e11, 1_700_000_000] {
            let date = Date(timeIntervalSince1970: t)
            #expect(Text.isoTimestamp(date) == f.string(from: date), "\(t)")
        }
        for s in ["2026-11-25T12:00:00+02:00", "2026-11-25T12:00:00Z", "2026-11-25T12:00:00-0930", "33658-09-27T01:46:40Z", "not a date"] {
            #expect(Text.parseISO(s) == f.date(from: s), "\(s)")
        }
    }

    @Test("standard-stream writes deliver every byte across a pipe's short writes")
    func standardStreamWholeWrites() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let text = String(repeating: "0123456789abcdef", count: 40_000) + "é\n"  // 640 KB: ten times a pipe's buffer
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let writer = Thread { StandardStream.write(writeEnd, text); close(writeEnd) }
        writer.start()
        var got = [UInt8](), buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(readEnd, &buffer, 4096)
            if n <= 0 { break }
            got += buffer[0..<n]
        }
        close(readEnd)
        #expect(got == Array(text.utf8))
    }

    @Test("fixed-point numbers are written as String(format:) wrote them")
    func fixedMatchesStringFormat() {
        var g = Generator(state: 317)
        let specials: [Double] = [0, -0.0, 0.0005, 0.0015, 0.0025, 1.005, 2.675, 123_456.789_5, 1e20, -3.14159, .infinity, .nan]
        for i in 0..<4_000 {
            let x = i < specials.count ? specials[i] : Double(g.next(1_000_000_000)) / Double(1 + g.next(100_000))
            for digits in [2, 3] {
                #expect(Text.fixed(x, digits) == String(format: "%.\(digits)f", x), "\(x)")
            }
        }
        #expect(Text.fixed(1e300, 3).count > 300)  // longer than the first buffer
    }

    @Test("case-insensitive key comparison agrees with Foundation's caseInsensitiveCompare")
    func sameIgnoringCaseMatchesFoundation() {
        let pairs = [("Patch-Id", "patch-id"), ("Ticket", "TICKET"), ("Straße", "STRASSE"), ("Ärger", "ärger"), ("é", "É"),
                     ("Reviewed-by", "Reviewed-By"), ("a", "b"), ("İ", "i"), ("Σ", "σ"), ("ǅ", "ǆ"), ("ﬁ", "FI"), ("k", "\u{212A}")]
        for (a, b) in pairs {
            #expect(Text.sameIgnoringCase(a, b) == (a.caseInsensitiveCompare(b) == .orderedSame), "\(a) \(b)")
        }
    }

    @Test("a FileManager error reads as the system's text for its errno")
    func fileManagerErrorText() {
        #expect(throws: (any Error).self) { try FileManager.default.contentsOfDirectory(atPath: "/nonexistent-patchkeeper") }
        do {
            _ = try FileManager.default.contentsOfDirectory(atPath: "/nonexistent-patchkeeper")
        } catch {
            #expect(POSIX.errorText(error) == "No such file or directory")
        }
    }

    @Test("dates are checked as calendar days")
    func days() {
        #expect(Text.parseDay("2026-12-31") != nil)
        #expect(Text.parseDay("2026-02-30") == nil)
        #expect(Text.parseDay("31.12.2026") == nil)
    }

    @Test("people parse from 'Name <email>'")
    func people() {
        #expect(Person.parse("Jane Admin <jane@example.org>") == Person(name: "Jane Admin", email: "jane@example.org"))
        #expect(Person.parse("jane", host: "web1") == Person(name: "jane", email: "jane@web1"))
        #expect(Person.parse("bad <x") == nil)
        #expect(Person.parse("") == nil)
    }
}

@Suite("Byte-wise text search")
struct ByteRangeTests {
    @Test("byteRange finds needles as bytes: after CR LF, past multi-byte characters, first and last")
    func byteRange() throws {
        let text = "Subject: caf\u{E9} \u{1F600}\r\n\r\ndiff --git a/x b/x\n+-- \n-- \nsig\n-- \n2.39\n"
        let r = try #require(text.byteRange(of: "\ndiff --git "))
        #expect(text[r.upperBound...].hasPrefix("a/x b/x"))
        let last = try #require(text.byteRange(of: "\n-- \n", backwards: true))
        #expect(text[last.upperBound...] == "2.39\n")
        let first = try #require(text.byteRange(of: "\n-- \n"))
        #expect(text[first.upperBound...].hasPrefix("sig"))
        #expect(text.byteRange(of: "absent") == nil && text.byteRange(of: "") == nil && "ab".byteRange(of: "abc") == nil)
        #expect("\u{1F600}x".byteRange(of: "x").map { "\u{1F600}x"[$0] } == "x")
        #expect(PatchFile.diffSection(of: text) == "diff --git a/x b/x\n+-- \n-- \nsig\n")
        #expect("x".sameBytes(as: "x") && !"caf\u{E9}".sameBytes(as: "cafe\u{301}") && "".sameBytes(as: ""))
    }
}
