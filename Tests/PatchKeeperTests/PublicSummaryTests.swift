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
}
