import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

@Suite("Public summary")
struct PublicSummaryTests {
    @Test("a summary kept up to date line by line over record, edit, retire and scan equals one built whole from the registry")
    func incrementalEqualsWhole() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        for (file, text) in [("config/workers.yml", "timeout: 90\nconcurrency: 4\n"), ("README", "Patched.\n"), ("bin/setup", "#!/bin/sh\necho hot\n")] {
            app.scratch.write("live/" + file, text)
            #expect(pk(["record", file, "--title", "Fix \(file)", "--reason", "r"] + app.flags).status == 0)
        }
        #expect(pk(["scan"] + app.flags).status == 0)
        #expect(pk(["edit", "2", "--ticket", "OPS-2"] + app.flags).status == 0)
        #expect(pk(["retire", "1", "--reason", "done"] + app.flags).status == 0)
        let bytes = try #require(try PublicSummary.readBytes(registryPath: app.registry))
        let layout = try #require(PublicSummary.Layout(bytes), "the summary is not in the line layout")
        #expect(layout.patches.count == 3 && layout.log.count == 6, "\(layout.patches.count) patches, \(layout.log.count) log lines")
        let kept = try #require(try PublicSummary.load(registryPath: app.registry))
        let whole = try PublicSummary.build(Registry(path: app.registry), now: kept.writtenAt)
        #expect(kept.patches == whole.patches)
        #expect(kept.log == whole.log)
        #expect(kept.lastScan?.states == whole.lastScan?.states)
        // Written whole, the same document reads back the same.
        let wholeBytes = try PublicSummary.Layout(whole).bytes
        #expect(PublicSummary.Layout(wholeBytes)?.bytes == wholeBytes)
    }

    @Test("a summary not in the line layout (an older file, a hand edit) is rebuilt whole by the next write")
    func otherLayoutIsRebuilt() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        let path = app.registry + ".summary.json"
        let old = try #require(try PublicSummary.load(registryPath: app.registry))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970
        try encoder.encode(old).write(to: URL(fileURLWithPath: path))
        app.scratch.write("live/README", "Patched.\n")
        #expect(pk(["record", "README", "--title", "Readme", "--reason", "r"] + app.flags).status == 0)
        let bytes = try #require(try PublicSummary.readBytes(registryPath: app.registry))
        #expect(PublicSummary.Layout(bytes) != nil)
        #expect(try PublicSummary.load(registryPath: app.registry)?.patches.map(\.subject) == ["Readme"])
    }

    @Test("a summary damaged in the layout's own shape is repaired by the next scan; a log line carries the author as the commit does")
    func scanRepairsAndAuthorsMatch() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/README", "Patched.\n")
        #expect(pk(["record", "README", "--title", "Readme", "--reason", "r", "--author", "Bob. <bob@example.org.>"] + app.flags).status == 0)
        let path = app.registry + ".summary.json"
        let kept = try #require(try PublicSummary.load(registryPath: app.registry))
        let whole = try PublicSummary.build(Registry(path: app.registry), now: kept.writtenAt)
        #expect(kept.log == whole.log, "\(kept.log.first?.author as Any) vs \(whole.log.first?.author as Any)")
        // One patch line broken by hand, still `{...}`: readers cannot decode it ...
        var text = try String(contentsOfFile: path, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.contains("\"fileName\"") })
        text = text.replacingOccurrences(of: String(line), with: "{\"fileName\":\"0001-readme.patch\", oops}")
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: PatchKeeperError.self) { try PublicSummary.load(registryPath: app.registry) }
        // ... and the next scan writes it whole again.
        _ = pk(["scan"] + app.flags)
        #expect(try PublicSummary.load(registryPath: app.registry)?.patches.map(\.subject) == ["Readme"])
    }

    /// A registry with two patches, scanned once (the full build that leaves the stamp).
    private func scannedApp() throws -> AppFixture {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        for (file, text) in [("config/workers.yml", "timeout: 90\nconcurrency: 4\n"), ("README", "Patched.\n")] {
            app.scratch.write("live/" + file, text)
            #expect(pk(["record", file, "--title", "Fix \(file)", "--reason", "r"] + app.flags).status == 0)
        }
        #expect(pk(["scan"] + app.flags).status == 0)
        #expect(FileManager.default.fileExists(atPath: app.registry + "/.patchkeeper/summary-source"))
        return app
    }

    private func scan(at seconds: Double) -> LastScan {
        LastScan(checkedAt: Date(timeIntervalSince1970: seconds), deployedRevision: String(repeating: "a", count: 40),
                 states: ["0001": "applied", "0002": "overwritten"], unregistered: ["tmp/x"], firstSeen: ["drift tmp/x": Date(timeIntervalSince1970: 5)],
                 problems: 0, expired: [])
    }

    /// The summary as a full build writes it for `scan` at `now`.
    private func whole(_ app: AppFixture, _ scan: LastScan, _ now: Date) throws -> [UInt8] {
        try PublicSummary.Layout(PublicSummary.build(Registry(path: app.registry), now: now, lastScan: scan)).bytes
    }

    @Test("a scan that finds the registry as the last full build left it replaces only the last-scan line and the time: the bytes a full build writes")
    func scanPatchesLastScanLine() throws {
        let app = try scannedApp()
        // The stamp names the program that wrote the lines: another one (here the test runner,
        // after the patchkeeper binary's scan; or an upgraded binary) builds whole once.
        #expect(try PublicSummary.noteScan(Registry(path: app.registry), scan: scan(at: 1_799_999_999), now: Date(timeIntervalSince1970: 1_799_999_999)) == .whole)
        for k in 1...2 {
            let now = Date(timeIntervalSince1970: 1_800_000_000 + Double(k))
            let s = scan(at: 1_800_000_000 + Double(k))
            #expect(try PublicSummary.noteScan(Registry(path: app.registry), scan: s, now: now) == .lastScanLine)
            let written = try #require(try PublicSummary.readBytes(registryPath: app.registry))
            #expect(written == (try whole(app, s, now)))
            let read = try #require(try PublicSummary.load(registryPath: app.registry))
            #expect(read.writtenAt == now && read.lastScan?.states["0002"] == "overwritten" && read.lastScan?.unregistered.count == 1)
            #expect(read.lastScan?.unregistered.first?.contains("tmp/x") == false, "a drift path is shown to root only")
        }
    }

    @Test("the summary is built whole again after a hand edit in the layout's shape, a patch file edited without a commit, a commit the summary did not see, or without its stamp")
    func scanRebuildsWhenAnInputChanged() throws {
        let app = try scannedApp()
        let summaryPath = app.registry + ".summary.json"
        let reg = { try Registry(path: app.registry) }
        var t = 1_800_000_000.0
        func noteScan() throws -> PublicSummary.ScanUpdate {
            t += 1
            let s = scan(at: t)
            let how = try PublicSummary.noteScan(reg(), scan: s, now: Date(timeIntervalSince1970: t))
            #expect(try PublicSummary.readBytes(registryPath: app.registry) == (try whole(app, s, Date(timeIntervalSince1970: t))))
            return how
        }
        #expect(try noteScan() == .whole)  // another program wrote the stamp (the CLI's scan)
        #expect(try noteScan() == .lastScanLine)

        // 1. A patch line changed by hand, still valid JSON in the layout: rebuilt, then patched again.
        var text = try String(contentsOfFile: summaryPath, encoding: .utf8)
        #expect(text.contains("Fix README"))
        text = text.replacingOccurrences(of: "Fix README", with: "Fix README by hand")
        try text.write(toFile: summaryPath, atomically: false, encoding: .utf8)
        #expect(try noteScan() == .whole)
        #expect(try PublicSummary.load(registryPath: app.registry)?.patches.map(\.subject).contains("Fix README") == true)
        #expect(try noteScan() == .lastScanLine)

        // 2. A patch file edited in place without a commit (its blob id changes).
        let patchFile = try #require(try FileManager.default.contentsOfDirectory(atPath: app.registry).first { $0.hasPrefix("0002-") })
        var patch = try String(contentsOfFile: app.registry + "/" + patchFile, encoding: .utf8)
        patch = patch.replacingOccurrences(of: "Subject: [PATCH] Fix README", with: "Subject: [PATCH] Fix README again")
        try patch.write(toFile: app.registry + "/" + patchFile, atomically: false, encoding: .utf8)
        #expect(try noteScan() == .whole)
        #expect(try PublicSummary.load(registryPath: app.registry)?.patches.map(\.subject).contains("Fix README again") == true)
        #expect(try noteScan() == .lastScanLine)

        // 3. A commit made beside patchkeeper (the git CLI): the log must show it.
        git(["commit", "-q", "-a", "-m", "By hand"], in: app.registry)
        #expect(try noteScan() == .whole)
        #expect(try PublicSummary.load(registryPath: app.registry)?.log.first?.subject == "By hand")
        #expect(try noteScan() == .lastScanLine)

        // 4. No stamp (an older patchkeeper wrote the summary), or a stamp of another format.
        try FileManager.default.removeItem(atPath: app.registry + "/.patchkeeper/summary-source")
        #expect(try noteScan() == .whole)
        try "# patchkeeper summary-source 0\n".write(toFile: app.registry + "/.patchkeeper/summary-source", atomically: false, encoding: .utf8)
        #expect(try noteScan() == .whole)
        #expect(try noteScan() == .lastScanLine)

        // A stamp that is not a regular file (it cannot be replaced in place) is replaced.
        let stampPath = app.registry + "/.patchkeeper/summary-source"
        try FileManager.default.removeItem(atPath: stampPath)
        #expect(mkfifo(stampPath, 0o600) == 0)
        #expect(try noteScan() == .whole)
        #expect(try noteScan() == .lastScanLine)
        try FileManager.default.removeItem(atPath: stampPath)
        try FileManager.default.createDirectory(atPath: stampPath, withIntermediateDirectories: false)
        #expect(try noteScan() == .whole)
        #expect(try noteScan() == .lastScanLine)

        // 5. A record between scans (line-by-line update): the next scan builds whole once.
        app.scratch.write("live/bin/setup", "#!/bin/sh\necho hot\n")
        #expect(pk(["record", "bin/setup", "--title", "Setup", "--reason", "r"] + app.flags).status == 0)
        #expect(try noteScan() == .whole)
        #expect(try PublicSummary.load(registryPath: app.registry)?.patches.map(\.subject).contains("Setup") == true)
    }
}
