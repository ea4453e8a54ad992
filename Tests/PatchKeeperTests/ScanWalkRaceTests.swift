import Foundation
import Git
import Testing
import TestSupport
@testable import PatchKeeper

/// Races against hashing at the walk (`BlobHasher`, `LiveWalker.hashing`): what another user
/// can swap in between the walk's `fstatat` and the open must never be read as the walked file,
/// never be read from outside the root, and never block.
@Suite("Scan walk races")
struct ScanWalkRaceTests {
    static func hashers() -> [BlobHasher] {
        var h = [BlobHasher(fast: false)]
        if BlobHasher.fastAvailable { h.append(BlobHasher(fast: true)) }
        return h
    }

    static func seen(_ path: String) -> stat {
        var st = stat()
        precondition(lstat(path, &st) == 0)
        return st
    }

    @Test("a file swapped for a hard link to a secret outside the root is 'changed', never hashed as the walked file")
    func swappedForHardLinkOutside() throws {
        let s = Scratch()
        s.write("root/a", "walked\n")
        s.write("secret", "walked\n")     // same size and content: only the inode tells
        chmod(s.file("secret"), 0o600)
        let fd = open(s.file("root"), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        for hasher in Self.hashers() {
            let st = Self.seen(s.file("root/a"))
            unlink(s.file("root/a"))
            #expect(link(s.file("secret"), s.file("root/a")) == 0)
            let o = hasher.hash(dirfd: fd, name: "a", seen: st)
            if case .changed = o {} else { Issue.record("hard link (fast \(hasher.fast)): \(o)") }
            unlink(s.file("root/a"))
            s.write("root/a", "walked\n")
        }
    }

    @Test("a file swapped for a character device is a problem, not read (and the open does not block)", .enabled(if: geteuid() == 0, "mknod needs root"))
    func swappedForDevice() throws {
        let s = Scratch()
        s.write("root/a", "walked\n")
        let fd = open(s.file("root"), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        for hasher in Self.hashers() {
            let st = Self.seen(s.file("root/a"))
            unlink(s.file("root/a"))
            // 1:3, /dev/null's numbers: harmless to open.
            try #require(mknod(s.file("root/a"), S_IFCHR | 0o666, dev_t(0x103)) == 0)
            let o = hasher.hash(dirfd: fd, name: "a", seen: st)
            if case .failed(let m) = o { #expect(m.contains("not a regular file")) } else { Issue.record("device (fast \(hasher.fast)): \(o)") }
            unlink(s.file("root/a"))
            s.write("root/a", "walked\n")
        }
    }

    @Test("a file rewritten in place to the same size between the walk and the read is 'changed' when its times moved")
    func rewrittenSameSize() throws {
        let s = Scratch()
        s.write("root/a", "version one\n")
        let fd = open(s.file("root"), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        for hasher in Self.hashers() {
            let st = Self.seen(s.file("root/a"))
            Thread.sleep(forTimeInterval: 0.05)   // past the kernel's coarse timestamp tick
            // Rewritten in place (same inode, same size), then its mtime put back as it was: the
            // ctime still tells (no user can set it).
            let w = open(s.file("root/a"), O_WRONLY)
            _ = "version two\n".withCString { write(w, $0, 12) }
            var times = [st.st_atim, st.st_mtim]
            futimens(w, &times)
            close(w)
            let now = Self.seen(s.file("root/a"))
            try #require(now.st_mtim.tv_sec == st.st_mtim.tv_sec && now.st_mtim.tv_nsec == st.st_mtim.tv_nsec && now.st_size == st.st_size)
            try #require(now.st_ctim.tv_sec != st.st_ctim.tv_sec || now.st_ctim.tv_nsec != st.st_ctim.tv_nsec)
            let o = hasher.hash(dirfd: fd, name: "a", seen: st)
            if case .changed = o {} else { Issue.record("rewritten (fast \(hasher.fast)): \(o)") }
            s.write("root/a", "version one\n")
        }
    }

    func coldScanner(_ app: AppFixture) throws -> TreeScanner {
        let cfg = try app.appConfig()
        try Registry.create(path: app.registry, app: "t", committer: Person(name: "t", email: "t@t"), now: Date())
        var cold = TreeScanner.Options()
        cold.useCache = false
        cold.writeCache = false
        return TreeScanner(deployment: try Deployment(app: cfg), registry: try Registry(path: app.registry), options: cold)
    }

    @Test("a cold scan whose directory is swapped for a symlink to outside the root mid-walk reads the walked directory, not the link's target")
    func coldScanParentSwapped() throws {
        let app = AppFixture()
        var scanner = try coldScanner(app)
        app.scratch.write("live/config/workers.yml", "timeout: 60\nconcurrency: 4\n")   // drift
        let outside = app.scratch.file("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        // What a path resolved again would reach: a FIFO (a hang or "not a regular file") and
        // a file with the deployed content (a wrong "unchanged").
        mkfifo(outside + "/workers.yml", 0o644)
        app.scratch.write("outside/clock.rb", AppFixture.clock)
        let root = app.root
        scanner.beforeHash = { path in
            if path == "config/workers.yml" || path == "config/clock.rb", !FileManager.default.fileExists(atPath: root + "/config.moved") {
                rename(root + "/config", root + "/config.moved")
                symlink(outside, root + "/config")
            }
        }
        let report = try scanner.scan()
        #expect(report.stats.cacheHits == 0)
        #expect(!report.problems.contains { $0.message.contains("not a regular file") }, "\(report.problems)")
        // The drift the walk saw is reported.
        #expect(report.unregistered.map(\.path).contains("src/api/config/workers.yml"), "\(report.unregistered) \(report.problems)")
    }

    @Test("a cold scan: a drifted file swapped mid-walk for a hard link to an outside file holding the deployed content is not 'unchanged'")
    func coldScanSwappedForDeployedContent() throws {
        let app = AppFixture()
        var scanner = try coldScanner(app)
        app.scratch.write("live/config/workers.yml", "timeout: 60\nconcurrency: 4\n")   // drift, same size as deployed
        app.scratch.write("outside/workers.yml", "timeout: 30\nconcurrency: 4\n")    // the deployed content
        let root = app.root
        let outside = app.scratch.file("outside/workers.yml")
        scanner.beforeHash = { path in
            if path == "config/workers.yml" {
                unlink(root + "/config/workers.yml")
                link(outside, root + "/config/workers.yml")
            }
        }
        let report = try scanner.scan()
        let flagged = report.unregistered.contains { $0.path == "src/api/config/workers.yml" }
            || report.problems.contains { $0.path == "src/api/config/workers.yml" }
        #expect(flagged, "\(report.unregistered) \(report.problems)")
        #expect(!report.isClean)
    }
}

/// An entry listed and gone before the walk's fstatat is a problem (`LiveWalker.goneMessage`):
/// renamed away and back, an untracked file is otherwise seen by neither scan nor gate. A file
/// nothing would have been said of (ignored, not deployed, no patch's) may come and go freely.
@Suite("Scan: entries gone mid-walk")
struct ScanGoneTests {
    @Test("gone mid-walk: an untracked file is a problem and the scan is not clean; an ignored one is nothing")
    func goneUntrackedAndIgnored() throws {
        let app = AppFixture(deploy: false)
        var files: [String: String?] = ["src/api/.gitignore": "*.pid\n"]
        for i in 0..<10 { files["src/api/zone/w\(i).rb"] = "w\(i)\n" }
        _ = app.commit(files, message: "zone", tag: nil)
        app.deploy("HEAD")
        // The victims are made first, the deployed files put back after them: the listing then
        // tends to give the deployed files first (tmpfs lists newest first; ext4 by name hash).
        let zone = app.root + "/zone", held = app.scratch.file("held")
        try FileManager.default.moveItem(atPath: zone, toPath: held)
        try FileManager.default.createDirectory(atPath: zone, withIntermediateDirectories: false)
        for i in 0..<5 {
            app.scratch.write("live/zone/v\(i).pid", "123\n")
            app.scratch.write("live/zone/v\(i)-evil.rb", "untracked\n")
        }
        for i in 0..<10 { try FileManager.default.moveItem(atPath: held + "/w\(i).rb", toPath: zone + "/w\(i).rb") }
        let order = try FileManager.default.contentsOfDirectory(atPath: zone)
        let firstWanted = try #require(order.firstIndex { $0.hasPrefix("w") })
        let later = order[(firstWanted + 1)...].filter { $0.hasPrefix("v") }
        try #require(later.contains { $0.hasSuffix(".pid") } && later.contains { $0.hasSuffix("-evil.rb") }, "listing order \(order)")

        var scanner = try ScanWalkRaceTests().coldScanner(app)
        let away = app.scratch.file("away")
        try FileManager.default.createDirectory(atPath: away, withIntermediateDirectories: true)
        let hooked = Gate()
        scanner.beforeHash = { path in
            guard path.hasPrefix("zone/w"), hooked.first() else { return }
            for name in later { _ = rename(zone + "/" + name, away + "/" + name) }
        }
        let report = try scanner.scan()
        let gone = report.problems.filter { $0.message == LiveWalker.goneMessage }.map(\.path)
        for name in later where name.hasSuffix("-evil.rb") { #expect(gone.contains("src/api/zone/" + name), "\(report.problems)") }
        for name in later where name.hasSuffix(".pid") { #expect(!gone.contains("src/api/zone/" + name), "\(report.problems)") }
        #expect(!report.isClean)
    }

    final class Gate: @unchecked Sendable {
        private let lock = NSLock()
        private var fired = false
        func first() -> Bool { lock.lock(); defer { lock.unlock() }; if fired { return false }; fired = true; return true }
    }
}

/// SHA-1 on the SHA extensions (`CSHA1`) against libgit2's SHA1DC and git: every length of the
/// padded message mod 64, and a length field past 32 bits.
@Suite("Scan SHA-1 edges")
struct ScanSHA1EdgeTests {
    @Test("the fast hash gives libgit2's blob id for every content length 0...1100 (header included, every padding case)", .enabled(if: BlobHasher.fastAvailable))
    func everyLength() throws {
        let fast = BlobHasher(fast: true)
        let slow = BlobHasher(fast: false)
        var bytes: [UInt8] = []
        var x: UInt32 = 2_463_534_242
        for n in 0...1100 {
            let want = try ObjectID.hashBlob(bytes)
            let got = bytes.withUnsafeBytes { fast.blobID($0) }
            let dc = bytes.withUnsafeBytes { slow.blobID($0) }
            #expect(got == want, "\(n) bytes")
            #expect(dc == want, "\(n) bytes (SHA1DC)")
            x ^= x << 13; x ^= x >> 17; x ^= x << 5
            bytes.append(UInt8(truncatingIfNeeded: x))
        }
    }

    @Test("a sparse file of 4 GiB + 5 bytes: the fast hash equals sha1sum of git's blob encoding (a length field past 32 bits, a 10-digit header)",
          .enabled(if: BlobHasher.fastAvailable && FileManager.default.fileExists(atPath: "/usr/bin/sha1sum")),
          // ~50 s on a loaded 2-core machine (sha1sum of 4 GiB is most of it): on request only.
          .enabled(if: ProcessInfo.processInfo.environment["PATCHKEEPER_SLOW_TESTS"] != nil, "set PATCHKEEPER_SLOW_TESTS=1"))
    func pastFourGiB() throws {
        let s = Scratch()
        let size = (1 << 32) + 5
        let path = s.file("big")
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        try #require(fd >= 0)
        try #require(ftruncate(fd, off_t(size - 5)) == 0)
        _ = lseek(fd, off_t(size - 5), SEEK_SET)
        _ = "tail\n".withCString { write(fd, $0, 5) }
        close(fd)
        let ref = run("/bin/sh", ["-c", "{ printf 'blob \(size)\\0'; cat '\(path)'; } | sha1sum"])
        try #require(ref.status == 0, "\(ref.stderr)")
        let want = String(ref.stdout.prefix(40))
        var st = stat()
        try #require(lstat(path, &st) == 0 && Int(st.st_size) == size)
        let dir = open(s.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(dir) }
        let o = BlobHasher(fast: true, refuseSparse: false).hash(dirfd: dir, name: "big", seen: st)
        guard case .id(let id) = o else { Issue.record("not hashed: \(o)"); return }
        #expect(id.hex == want)
    }
}

/// Derived files (`AtomicFile.writeDerived`, no fsync) are still written as a temp file made
/// exclusively in the directory and renamed over the name: never through what stands there.
@Suite("Scan derived files: write safety")
struct ScanDerivedWriteSafetyTests {
    @Test("a symlink, a FIFO or a hard link at a derived file's name: the target is never written (refused, or the name replaced), and nothing blocks")
    func derivedNeverThroughTheName() throws {
        let s = Scratch()
        s.write("victim", "precious\n")
        try FileManager.default.createDirectory(atPath: s.file("state"), withIntermediateDirectories: true)
        symlink(s.file("victim"), s.file("state/statcache"))
        #expect(throws: PatchKeeperError.self) { try AtomicFile.writeDerived(Array("cache".utf8), to: s.file("state/statcache")) }
        #expect(s.read("victim") == "precious\n")
        mkfifo(s.file("state/last-scan"), 0o644)
        #expect(throws: PatchKeeperError.self) { try AtomicFile.writeDerived(Array("scan".utf8), to: s.file("state/last-scan")) }
        link(s.file("victim"), s.file("state/validated"))
        try AtomicFile.writeDerived(Array("ids".utf8), to: s.file("state/validated"))
        #expect(s.read("victim") == "precious\n")
        #expect(s.read("state/validated") == "ids")
        var st = stat()
        #expect(lstat(s.file("state/validated"), &st) == 0 && st.st_nlink == 1)
        // No temp file left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.file("state")).sorted() == ["last-scan", "statcache", "validated"])
    }
}

extension ScanWalkRaceTests {
    @Test("a root reached through a symlink (Capistrano's current) flipped to another release mid-walk: the whole walk stays in the release it started in (no deep drift hidden by the new release's pristine files)")
    func rootSymlinkFlippedMidWalk() throws {
        let app = AppFixture()
        // Release B: the same revision, pristine. Release A (the live one): drift two levels down.
        let relB = app.scratch.file("relB")
        #expect(run("/bin/cp", ["-a", app.root, relB]).status == 0)
        app.scratch.write("live/app/models/user.rb", "class User\n  def name\n    'hacked'\n  end\nend\n")
        let current = app.scratch.file("current")
        symlink(app.root, current)
        var o = AppOptions()
        o.root = current
        o.repo = app.repo
        o.subdir = "src/api"
        o.registry = app.registry
        let cfg = try o.resolve(environment: [:]).app
        try Registry.create(path: app.registry, app: "t", committer: Person(name: "t", email: "t@t"), now: Date())
        var cold = TreeScanner.Options()
        cold.useCache = false
        cold.writeCache = false
        var scanner = TreeScanner(deployment: try Deployment(app: cfg), registry: try Registry(path: app.registry), options: cold)
        let flipped = ManagedAtomicFlag()
        let next = app.scratch.file("current.next")
        scanner.beforeHash = { _ in
            if flipped.setOnce() {
                symlink(relB, next)
                rename(next, current)   // the deploy's atomic switch
            }
        }
        let report = try scanner.scan()
        try #require(flipped.isSet)
        #expect(report.unregistered.map(\.path).contains("src/api/app/models/user.rb"), "\(report.unregistered) \(report.problems)")
    }
}

/// A flag set once, from any thread.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    /// True for the one caller that set it.
    func setOnce() -> Bool { lock.lock(); defer { lock.unlock() }; if set { return false }; set = true; return true }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return set }
}

extension ScanWalkRaceTests {
    @Test("a deployed file made a sparse 64 GiB file by whoever owns the tree: a scan reports it as a problem in seconds instead of hashing 64 GiB of zeros on every scan; a small file with a hole is still hashed")
    func sparseHugeFile() throws {
        let app = AppFixture()
        let path = app.root + "/config/workers.yml"
        #expect(truncate(path, off_t(64) << 30) == 0)
        let cfg = try app.appConfig()
        try Registry.create(path: app.registry, app: "t", committer: Person(name: "t", email: "t@t"), now: Date())
        var cold = TreeScanner.Options()
        cold.useCache = false
        cold.writeCache = false
        let started = Date()
        let report = try TreeScanner(deployment: try Deployment(app: cfg), registry: try Registry(path: app.registry), options: cold).scan()
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(report.problems.contains { $0.path.hasSuffix("config/workers.yml") && $0.message.contains("sparse file") },
                "\(report.problems)")
        // Below the size at which holes are looked for, a file with a hole is read and hashed
        // like any other: drift, not a problem.
        let small = app.root + "/config/clock.rb"
        #expect(truncate(small, off_t(1) << 20) == 0)
        let again = try TreeScanner(deployment: try Deployment(app: cfg), registry: try Registry(path: app.registry), options: cold).scan()
        #expect(again.unregistered.contains { $0.path.hasSuffix("config/clock.rb") })
        #expect(!again.problems.contains { $0.path.hasSuffix("config/clock.rb") })
        // A large file without holes (every byte written) is hashed, whatever its size.
        let big = app.root + "/config/clock.rb"
        #expect(FileManager.default.createFile(atPath: big, contents: Data(repeating: 0x61, count: (64 << 20) + 4096)))
        let third = try TreeScanner(deployment: try Deployment(app: cfg), registry: try Registry(path: app.registry), options: cold).scan()
        #expect(third.unregistered.contains { $0.path.hasSuffix("config/clock.rb") })
        #expect(!third.problems.contains { $0.path.hasSuffix("config/clock.rb") }, "\(third.problems)")
    }
}
