import Foundation
import Git
import Testing
import TestSupport
@testable import PatchKeeper

/// `.patchkeeper/headers`: a registry load takes a file's parsed head from it only for the exact
/// bytes that parsed to it, and only from a file nobody else could have written.
@Suite("registry header cache")
struct HeaderCacheTests {
    static let base = "0123456789012345678901234567890123456789"

    /// Registry files of many shapes: folded and extra headers, CR LF, marks, `[PATCH n/m]`,
    /// bodies with `---`-like lines, trailers in odd case, an empty body.
    static func texts() -> [String] {
        var generator = Generator(state: 0x48)
        func next(_ n: Int) -> Int { generator.next(n) }
        let froms = ["From: A <a@example.org>", "From: Jane Admin <jane@example.org>", "From: \u{E9}ric\r <e@x>",
                     "From: Long Name\n <long@example.org>", "From:   spaced   <  s@x  >"]
        let subjects = ["Subject: [PATCH] t", "Subject: [PATCH 2/3] Fix\n the job", "Subject: plain \u{301}title",
                        "Subject: [RFC PATCH]   spaced  ", "Subject: [patch] lower"]
        let extras = ["", "X-Mailer: hand\n", "Cc: b@example.org\nX-Other: \u{1F600}\n", "Date-Ish: no\n"]
        let bodies = ["", "r\n\n", "Line one.\n\n--\nnot a separator\n\n", "caf\u{E9}\r\nsecond\n\n", "a\n\n\nb\n\n"]
        let trailerSets = ["Patch-Id: 0001\nBase: \(base)\nStatus: active\n",
                           "patch-id: 12\nBASE: \(base)\nStatus: retired\nRetired-Reason: done\nExpires: 2027-01-31\n",
                           "Patch-Id: 0003\nBase: \(base)\nTicket: https://example.org/1\nX-Custom: k\u{301}\n"]
        let tails = [" f | 1 +\n\ndiff --git a/f b/f\nindex 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n",
                     " f | 1 +\r\n\ndiff --git a/f b/f\nindex 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\r\n+b\r\n-- \n2.39.5\n\n"]
        var out: [String] = []
        for _ in 0..<400 {
            var text = "From \(base) Mon Sep 17 00:00:00 2001\n"
            text += froms[next(froms.count)] + "\nDate: Tue, 01 Dec 2026 00:00:00 +0000\n"
            text += subjects[next(subjects.count)] + "\n" + extras[next(extras.count)] + "\n"
            text += bodies[next(bodies.count)] + trailerSets[next(trailerSets.count)] + "---\n" + tails[next(tails.count)]
            out.append(text)
        }
        return out
    }

    @Test("a record gives back what parse gave, field for field, after a write and a read of the file")
    func recordEqualsParse() throws {
        var records: [ObjectID: ArraySlice<UInt8>] = [:]
        var parsed: [ObjectID: (PatchFile, [UInt8])] = [:]
        for text in Self.texts() {
            let patch = try PatchFile.parse(text, fileName: "0001-x.patch", validateDiff: false)
            let bytes = Array(text.utf8)
            let record = try #require(HeaderCache.record(of: patch, text: text), "\(text.debugDescription)")
            let id = try ObjectID.hashBlob(bytes)
            records[id] = record[...]
            parsed[id] = (patch, bytes)
        }
        #expect(parsed.count > 200)
        let read = HeaderCache(bytes: try #require(HeaderCache.encode(records)))
        #expect(read.records.count == records.count)
        for (id, (patch, bytes)) in parsed {
            let back = try #require(read.records[id].flatMap { HeaderCache.patch($0, bytes: bytes, fileName: "0001-x.patch") })
            #expect(back == patch)
            #expect(back.render() == patch.render())
            #expect(back.id == patch.id && back.status == patch.status && back.expires == patch.expires && back.base == patch.base)
            #expect(back.lazy?.validatedTail == patch.tail, "loaded unparsed, as a validated file is")
        }
    }

    @Test("an author made from this host's name is not kept (the host name can change)")
    func hostAuthorNotKept() throws {
        let text = "From \(Self.base) Mon Sep 17 00:00:00 2001\nFrom: jane\nDate: x\nSubject: [PATCH] t\n\nPatch-Id: 0001\nBase: \(Self.base)\n---\n"
            + "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
        let patch = try PatchFile.parse(text, fileName: "0001-t.patch", validateDiff: false)
        #expect(patch.author.email.hasPrefix("jane@"))
        #expect(HeaderCache.record(of: patch, text: text) == nil)
        let withEmail = try PatchFile.parse(text.replacingOccurrences(of: "From: jane\n", with: "From: jane <j@x>\n"), fileName: "0001-t.patch", validateDiff: false)
        #expect(HeaderCache.record(of: withEmail, text: text.replacingOccurrences(of: "From: jane\n", with: "From: jane <j@x>\n")) != nil)
    }

    @Test("a cache file cut anywhere reads back only whole records, each one right, and a damaged record is a miss")
    func cutAnywhere() throws {
        var records: [ObjectID: ArraySlice<UInt8>] = [:]
        var bytesOf: [ObjectID: [UInt8]] = [:]
        for text in Self.texts().prefix(5) {
            let patch = try PatchFile.parse(text, fileName: "0001-x.patch", validateDiff: false)
            let id = try ObjectID.hashBlob(Array(text.utf8))
            records[id] = try #require(HeaderCache.record(of: patch, text: text))[...]
            bytesOf[id] = Array(text.utf8)
        }
        let file = try #require(HeaderCache.encode(records))
        var seen = Set<Int>()
        for cut in 0...file.count {
            let read = HeaderCache(bytes: Array(file[..<cut]))
            seen.insert(read.records.count)
            for (id, r) in read.records { #expect(r.elementsEqual(records[id]!), "cut at \(cut)") }
        }
        #expect(seen == Set(0...records.count))
        // A flipped length byte inside a record: that record gives no head (its file is parsed).
        var bad = file
        bad[HeaderCache.magic!.count + 24 + 4] ^= 0x40
        let first = try #require(records.keys.sorted().first)
        let damaged = try #require(HeaderCache(bytes: bad).records[first])
        #expect(HeaderCache.patch(damaged, bytes: bytesOf[first]!, fileName: "0001-x.patch") == nil)
        #expect(HeaderCache.patch(records[first]!, bytes: bytesOf[first]!, fileName: "0001-x.patch") != nil)
    }

    /// A registry with three recorded patches, loaded once so that its cache exists.
    func registry() throws -> (AppFixture, String) {
        let app = AppFixture()
        precondition(pk(["init"] + app.flags).status == 0)
        for (i, file) in ["config/clock.rb", "README", "config/clock.rb"].enumerated() {
            app.scratch.write("live/" + file, "edit \(i)\n")
            let r = pk(["record", file, "--title", "Patch \(i)", "--reason", "r"] + app.flags)
            precondition(r.status == 0, r.stderr)
        }
        _ = try Registry(path: app.registry).load()
        return (app, app.registry + "/.patchkeeper/headers")
    }

    /// The cache file with the subject of every record replaced by `subject`.
    static func forged(_ path: String, subject: String, registry: String) throws -> [UInt8] {
        let cache = HeaderCache.load(path)
        var records: [ObjectID: ArraySlice<UInt8>] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: registry) where name.hasSuffix(".patch") {
            let bytes = try POSIX.readFile(registry + "/" + name)
            let id = try #require(BlobHasher.comparisonID(bytes))
            #expect(cache.records[id] != nil, "\(name) is not in the cache")
            var patch = try PatchFile.parse(String(decoding: bytes, as: UTF8.self), fileName: name)
            patch.subject = subject
            records[id] = try #require(HeaderCache.record(of: patch, text: String(decoding: bytes, as: UTF8.self)))[...]
        }
        return try #require(HeaderCache.encode(records))
    }

    @Test("a load takes heads from the cache, and not from one that others may write or that the owner does not own")
    func believedOnlyWhenOwned() throws {
        let (app, path) = try registry()
        #expect(HeaderCache.load(path).records.count == 3)
        let forged = try Self.forged(path, subject: "FROM THE CACHE", registry: app.registry)
        try AtomicFile.writeDerived(forged, to: path, mode: 0o600)
        // Believed: the cache is what a load reads (this is what makes it fast).
        #expect(try Registry(path: app.registry).load().allSatisfy { $0.subject == "FROM THE CACHE" })
        // Not believed once group or others may write it, or its directory.
        chmod(path, 0o620)
        #expect(try Registry(path: app.registry).load().allSatisfy { $0.subject.hasPrefix("Patch ") })
        try AtomicFile.writeDerived(forged, to: path, mode: 0o600)
        chmod(app.registry + "/.patchkeeper", 0o770)
        #expect(try Registry(path: app.registry).load().allSatisfy { $0.subject.hasPrefix("Patch ") })
        chmod(app.registry + "/.patchkeeper", 0o700)
        // Nor a symlink to a cache.
        try AtomicFile.writeDerived(forged, to: app.scratch.file("elsewhere"), mode: 0o600)
        unlink(path)
        symlink(app.scratch.file("elsewhere"), path)
        #expect(try Registry(path: app.registry).load().allSatisfy { $0.subject.hasPrefix("Patch ") })
    }

    @Test("what another build wrote is not believed: neither its heads nor its validated list (a stricter parse refuses the file)")
    func anotherBuildNotBelieved() throws {
        let (app, path) = try registry()
        let name = try #require(app.patchFiles().first)
        // A day no calendar has: this binary's parse refuses it; an older one might not have.
        let text = try #require(app.scratch.read("registry/" + name))
        let bad = text.replacingOccurrences(of: "Status: active\n", with: "Status: active\nExpires: 2030-02-31\n")
        try bad.write(toFile: app.registry + "/" + name, atomically: true, encoding: .utf8)
        let bytes = Array(bad.utf8)
        let id = try #require(BlobHasher.comparisonID(bytes))
        // What a laxer binary would have noted: the file as validated, its head as parsed.
        var lax = try PatchFile.parse(text, fileName: name)
        lax.setTrailer("Expires", "2030-02-31")
        let laxText = lax.render()
        #expect(laxText == bad, "the forged head describes the file")
        let record = try #require(HeaderCache.record(of: lax, text: bad))
        func forge(identity: String) throws {
            var file = Array("\(HeaderCache.format) \(identity)\n".utf8)
            file += id.bytes
            file += withUnsafeBytes(of: UInt32(record.count).littleEndian, Array.init)
            file += record
            try AtomicFile.writeDerived(file, to: path, mode: 0o600)
            try AtomicFile.writeDerived(Array("\(Registry.validatedVersion) \(identity)\n\(id.hex)\n".utf8), to: app.registry + "/.patchkeeper/validated", mode: 0o600)
        }
        try forge(identity: "1:2:3:4.5")
        #expect(throws: PatchKeeperError.self) { try Registry(path: app.registry).load() }
        // The same records under this binary's identity are believed: the identity is what refused them.
        try forge(identity: try #require(BinaryIdentity.current))
        #expect(try Registry(path: app.registry).load().contains { $0.expires == "2030-02-31" })
    }

    @Test("root loading another user's registry neither reads nor writes its caches there", .enabled(if: geteuid() == 0))
    func foreignStateDirectory() throws {
        let (app, path) = try registry()
        let state = app.registry + "/.patchkeeper"
        unlink(path)
        unlink(state + "/validated")
        #expect(run("/bin/chown", ["-R", "4242:4242", app.registry]).status == 0)
        for _ in 0..<2 {
            let r = pk(["list", "--all", "--trust-repo", "--registry", app.registry])
            #expect(r.status == 0 && r.stdout.contains("Patch 2"), "\(r.stdout) \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: path), "root wrote headers into uid 4242's directory")
        #expect(!FileManager.default.fileExists(atPath: state + "/validated"), "root wrote validated into uid 4242's directory")
    }

    @Test("a hand edit is parsed again (its bytes have another id), and a removed file leaves the cache")
    func handEditParsedAgain() throws {
        let (app, path) = try registry()
        let name = try #require(app.patchFiles().first)
        let file = app.registry + "/" + name
        let text = try #require(app.scratch.read("registry/" + name))
        try text.replacingOccurrences(of: "Subject: [PATCH] Patch 0", with: "Subject: [PATCH] Edited by hand").write(toFile: file, atomically: true, encoding: .utf8)
        let loaded = try Registry(path: app.registry).load()
        #expect(loaded.first?.subject == "Edited by hand")
        #expect(HeaderCache.load(path).records.count == 3, "the edited file's head was not kept")
        unlink(file)
        _ = try Registry(path: app.registry).load()
        #expect(HeaderCache.load(path).records.count == 2)
        // A file that no longer parses is refused, whatever the cache holds for its old bytes.
        let other = try #require(app.patchFiles().first)
        let broken = try #require(app.scratch.read("registry/" + other)).replacingOccurrences(of: "Patch-Id:", with: "Patch-Ix:")
        try broken.write(toFile: app.registry + "/" + other, atomically: true, encoding: .utf8)
        #expect(throws: PatchKeeperError.self) { try Registry(path: app.registry).load() }
    }
}
