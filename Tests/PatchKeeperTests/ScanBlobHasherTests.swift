import Foundation
import Git
import Testing
import TestSupport
@testable import PatchKeeper

/// The hashing scan does at the walk (`BlobHasher`): the same ids as git, by either hash, and the
/// walk's stat data enforced on the open descriptor.
@Suite("Scan blob hasher")
struct ScanBlobHasherTests {
    func outcome(_ hasher: BlobHasher, _ dir: String, _ name: String) -> HashOutcome {
        var st = stat()
        precondition(lstat(dir + "/" + name, &st) == 0)
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        return hasher.hash(dirfd: fd, name: name, seen: st)
    }

    @Test("both hashes give git's blob ids for 400 files of 0 bytes to 200 KB (every block and piece boundary near) and one of 9 MB")
    func sameIdsAsGit() throws {
        let scratch = Scratch()
        var mix = SplitMix64(seed: 13)
        var sizes = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 4095, 4096, 65535, 65536, 65537,
                     131_071, 131_072, 131_073, 131_072 * 2 - 26, 9 << 20]
        while sizes.count < 400 { sizes.append(Int(mix.next() % 200_001)) }
        var names: [String] = []
        for (i, size) in sizes.enumerated() {
            var bytes = [UInt8](repeating: 0, count: size)
            var k = 0
            while k < size {
                var word = mix.next()
                for _ in 0..<8 where k < size { bytes[k] = UInt8(truncatingIfNeeded: word); word >>= 8; k += 1 }
            }
            let name = "f\(i)"
            try Data(bytes).write(to: URL(fileURLWithPath: scratch.file(name)))
            names.append(name)
        }
        let git = run("/usr/bin/env", ["git", "hash-object"] + names, cwd: scratch.path)
        try #require(git.status == 0, "\(git.stderr)")
        let expected = git.stdout.split(separator: "\n").map(String.init)
        try #require(expected.count == names.count)

        var hashers = [BlobHasher(fast: false)]
        if BlobHasher.fastAvailable { hashers.append(BlobHasher(fast: true)) }
        for hasher in hashers {
            for (i, name) in names.enumerated() {
                guard case .id(let id) = outcome(hasher, scratch.path, name) else {
                    Issue.record("\(name) (\(sizes[i]) bytes, fast \(hasher.fast)): not hashed")
                    continue
                }
                #expect(id.hex == expected[i], "\(name) (\(sizes[i]) bytes, fast \(hasher.fast))")
            }
            // A symlink: the blob of its target's bytes.
            symlink("../some/where/else", scratch.file("link"))
            guard case .id(let id) = outcome(hasher, scratch.path, "link") else {
                Issue.record("link not hashed (fast \(hasher.fast))")
                continue
            }
            #expect(id == (try ObjectID.hashBlob(Array("../some/where/else".utf8))))
            unlink(scratch.file("link"))
        }
    }

    @Test("a registry load's content ids (the fast hash where the CPU has it) are libgit2's blob ids")
    func comparisonIDsAreBlobIDs() throws {
        var seed: UInt64 = 0x5EED
        for size in [0, 1, 55, 56, 63, 64, 65, 119, 120, 1_000, 4_096, 70_000, 200_003] {
            let bytes = (0..<size).map { _ -> UInt8 in seed = seed &* 6364136223846793005 &+ 1442695040888963407; return UInt8(truncatingIfNeeded: seed >> 33) }
            #expect(BlobHasher.comparisonID(bytes) == (try ObjectID.hashBlob(bytes)), "\(size) bytes")
        }
    }

    @Test("a file that is not the one the walk saw is never hashed as if it were: swapped, grown, replaced by a link or a FIFO, gone")
    func enforcesTheWalksStat() throws {
        let scratch = Scratch()
        var hashers = [BlobHasher(fast: false)]
        if BlobHasher.fastAvailable { hashers.append(BlobHasher(fast: true)) }
        for hasher in hashers {
            let dir = scratch.path
            let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            defer { close(fd) }
            func seen(_ name: String) -> stat {
                var st = stat()
                precondition(lstat(dir + "/" + name, &st) == 0)
                return st
            }
            func expectChanged(_ o: HashOutcome, _ what: String) {
                if case .changed = o {} else { Issue.record("\(what) (fast \(hasher.fast)): \(o)") }
            }
            scratch.write("a", "one\n")
            // Swapped for another file of the same size (another inode).
            var st = seen("a")
            scratch.write("b", "two\n")
            rename(dir + "/b", dir + "/a")
            expectChanged(hasher.hash(dirfd: fd, name: "a", seen: st), "swapped")
            // Grown in place (same inode).
            st = seen("a")
            let w = open(dir + "/a", O_WRONLY | O_APPEND)
            _ = "more\n".withCString { write(w, $0, 5) }
            close(w)
            expectChanged(hasher.hash(dirfd: fd, name: "a", seen: st), "grown")
            // Replaced by a symlink to a file outside: not followed.
            st = seen("a")
            unlink(dir + "/a")
            symlink("/etc/hostname", dir + "/a")
            expectChanged(hasher.hash(dirfd: fd, name: "a", seen: st), "replaced by a symlink")
            // Replaced by a FIFO: a problem, and no hang (O_NONBLOCK; the type read on the descriptor).
            unlink(dir + "/a")
            mkfifo(dir + "/a", 0o644)
            if case .failed(let message) = hasher.hash(dirfd: fd, name: "a", seen: st) {
                #expect(message.contains("not a regular file"))
            } else {
                Issue.record("FIFO (fast \(hasher.fast)) not a failure")
            }
            // Gone.
            unlink(dir + "/a")
            if case .vanished = hasher.hash(dirfd: fd, name: "a", seen: st) {} else { Issue.record("gone (fast \(hasher.fast))") }
        }
    }

    @Test("a cold scan (hashed at the walk) and a warm scan of changed files (hashed after it) report the same drift")
    func coldAndWarmAgree() throws {
        let app = AppFixture()
        let cfg = try app.appConfig()
        try Registry.create(path: app.registry, app: "t", committer: Person(name: "t", email: "t@t"), now: Date())
        let deployment = try Deployment(app: cfg)
        var cold = TreeScanner.Options()
        cold.useCache = false
        cold.writeCache = false
        let warmScanner = TreeScanner(deployment: deployment, registry: try Registry(path: app.registry))
        // Old enough for the stat cache to trust (not changed, ctime included, within 2 s of its write).
        Thread.sleep(forTimeInterval: 2.2)
        _ = try warmScanner.scan()  // writes the stat cache
        // Changes after the cache: an edit, a file made a symlink, a new file, a deleted one.
        app.scratch.write("live/config/workers.yml", "timeout: 60\nconcurrency: 4\n")
        unlink(app.root + "/README")
        symlink("/etc/passwd", app.root + "/README")
        app.scratch.write("live/app/models/account.rb", "class Account; end\n")
        unlink(app.root + "/bin/setup")
        let warm = try warmScanner.scan()
        #expect(warm.stats.cacheHits > 0 && warm.stats.hashed > 0, "\(warm.stats)")
        let coldReport = try TreeScanner(deployment: deployment, registry: try Registry(path: app.registry), options: cold).scan()
        #expect(coldReport.stats.cacheHits == 0)
        #expect(coldReport.unregistered == warm.unregistered)
        #expect(coldReport.problems.map(\.path) == warm.problems.map(\.path))
        #expect(Set(warm.unregistered.map(\.path)) == ["src/api/config/workers.yml", "src/api/README", "src/api/app/models/account.rb", "src/api/bin/setup"],
                "\(warm.unregistered)")
    }
}

extension ScanBlobHasherTests {
    @Test("a warm scan hashing a changed file whose directory was swapped for a symlink since the walk opens nothing outside the root")
    func warmScanParentSwappedForSymlink() throws {
        let app = AppFixture()
        let cfg = try app.appConfig()
        try Registry.create(path: app.registry, app: "t", committer: Person(name: "t", email: "t@t"), now: Date())
        let deployment = try Deployment(app: cfg)
        var scanner = TreeScanner(deployment: deployment, registry: try Registry(path: app.registry))
        Thread.sleep(forTimeInterval: 2.2)  // old enough for the stat cache to trust
        _ = try scanner.scan()
        // Changed after the cache was written: the warm scan hashes it after the walk.
        app.scratch.write("live/config/workers.yml", "timeout: 60\nconcurrency: 4\n")
        // Outside the root, where a path resolved again through the swapped directory would
        // lead: a FIFO by the same name (opening it would show as "not a regular file").
        let outside = app.scratch.file("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        mkfifo(outside + "/workers.yml", 0o644)
        let root = app.root
        scanner.beforeHash = { path in
            if path == "config/workers.yml" {
                rename(root + "/config", root + "/config.moved")
                symlink(outside, root + "/config")
            }
        }
        let report = try scanner.scan()
        #expect(report.stats.cacheHits > 0, "\(report.stats)")
        let problem = report.problems.first { $0.path == "src/api/config/workers.yml" }
        #expect(problem?.message.contains("changed while it was being scanned") == true, "\(report.problems)")
    }
}

extension ScanBlobHasherTests {
    @Test("a cold scan: files hashed by a walk thread (below the top two levels) and by the top level's thread both report a swap for a FIFO or an edit mid-scan, and never hang")
    func coldScanRacesAtAndAfterTheWalk() throws {
        let app = AppFixture()
        let cfg = try app.appConfig()
        try Registry.create(path: app.registry, app: "t", committer: Person(name: "t", email: "t@t"), now: Date())
        let deployment = try Deployment(app: cfg)
        var scanner = TreeScanner(deployment: deployment, registry: try Registry(path: app.registry))
        var options = TreeScanner.Options()
        options.useCache = false
        scanner.options = options
        let root = app.root
        // app/models is two levels down: walked, and its files hashed, by a walk thread of the
        // parallel phase; config/ is listed, and its files hashed, by the top level's thread.
        scanner.beforeHash = { path in
            if path == "app/models/user.rb" {
                unlink(root + "/app/models/user.rb")
                mkfifo(root + "/app/models/user.rb", 0o644)
            }
            if path == "config/workers.yml" {
                try? "timeout: 30\nconcurrency: 4\n# grown during the scan\n".write(toFile: root + "/config/workers.yml", atomically: false, encoding: .utf8)
            }
        }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<ScanReport, Error>?
        nonisolated(unsafe) let s = scanner
        Thread.detachNewThread {
            result = Result { try s.scan() }
            done.signal()
        }
        try #require(done.wait(timeout: .now() + 20) == .success, "scan hung on a FIFO swapped in at the walk")
        let report = try #require(try result?.get())
        #expect(report.problems.map(\.path) == ["src/api/app/models/user.rb", "src/api/config/workers.yml"], "\(report.problems)")
        #expect(report.problems.first?.message.contains("not a regular file") == true, "\(report.problems)")
        #expect(report.problems.last?.message.contains("changed while it was being scanned") == true, "\(report.problems)")
    }
}
