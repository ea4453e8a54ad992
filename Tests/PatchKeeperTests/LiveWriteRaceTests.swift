import Foundation
import Git
import Synchronization
import Testing
import TestSupport
@testable import PatchKeeper
#if canImport(Glibc)
import Glibc
#endif

/// The live tree is writable by the app's (unprivileged) user while patchkeeper writes it as root:
/// a file or a directory on the way can be swapped for a symlink at any moment. These tests swap
/// them — deterministically through the `LiveIO.beforeWrite` hook, between the checks and the
/// write, and with a real racing process — and require that nothing outside the root is ever
/// written, read or chmod'ed.
@Suite("Live-tree writes under a racing app user", .serialized)
struct LiveWriteRaceTests {
    final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    func names(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    /// Issue item 1: after the rename the old writer looked at the path again and chmod'ed it by
    /// name; a symlink renamed over the file at that moment made its target 0666. A thread renames
    /// a symlink to a 0600 file outside the root over the live file as fast as it can while the
    /// file is rewritten 1,000 times.
    @Test("a symlink renamed over a live file right after the write never gets its target chmod'ed")
    func chmodAfterRename() throws {
        let app = AppFixture()
        app.scratch.write("outside/shadow", "root:secret\n")
        let secret = app.scratch.file("outside/shadow")
        chmod(secret, 0o600)
        let dir = app.root + "/config"
        chmod(dir + "/workers.yml", 0o755)  // the writes below clear the exec bit: the old code's chmod path
        let stop = Flag()
        let racer = Thread {
            let link = dir + "/.racer-link"
            while !stop.value.load(ordering: .relaxed) {
                _ = symlink(secret, link)
                _ = rename(link, dir + "/workers.yml")
            }
        }
        racer.start()
        var written = 0, refused = 0
        for i in 0..<1000 {
            let file = FileVersion(path: "config/workers.yml", mode: .regular, content: Array("timeout: \(i)\n".utf8))
            do {
                try LiveTree.write(file, root: app.root, relativePath: "config/workers.yml")
                written += 1
            } catch {
                refused += 1
            }
        }
        stop.value.store(true, ordering: .relaxed)
        while !racer.isFinished { usleep(1000) }
        #expect(mode(secret) == 0o600, "the file behind the symlink was chmod'ed to \(String(mode(secret), radix: 8))")
        #expect(app.scratch.read("outside/shadow") == "root:secret\n")
        #expect(written + refused == 1000)
        #expect(written > 0, "no write got through at all (\(refused) refused)")
    }

    /// A hard link to someone else's set-uid file put at a live path does not lend its set-id bits
    /// to the content patchkeeper writes there (protected_hardlinks may be off).
    @Test("a hard-linked live file's set-uid and set-gid bits are not carried to the new content")
    func hardLinkedSetuid() throws {
        let app = AppFixture()
        app.scratch.write("outside/tool", "#!/bin/sh\necho privileged\n")
        let tool = app.scratch.file("outside/tool")
        chmod(tool, 0o6755)
        let live = app.root + "/bin/tool"
        #expect(link(tool, live) == 0)
        let file = FileVersion(path: "bin/tool", mode: .executable, content: Array("#!/bin/sh\nid\n".utf8))
        try LiveTree.write(file, root: app.root, relativePath: "bin/tool")
        #expect(mode(live) == 0o755, "mode \(String(mode(live), radix: 8))")
        #expect(mode(tool) == 0o6755)
        #expect(app.scratch.read("outside/tool") == "#!/bin/sh\necho privileged\n")
        // A file of its own keeps them.
        chmod(live, 0o4755)
        try LiveTree.write(FileVersion(path: "bin/tool", mode: .executable, content: Array("#!/bin/sh\nid -u\n".utf8)), root: app.root, relativePath: "bin/tool")
        #expect(mode(live) == 0o4755)
    }

    /// Issue item 2, driven deterministically: the hook runs after apply checked every path and
    /// before the write opens its directories, and swaps `config/` for a symlink to a directory
    /// outside the root.
    @Test("a parent directory swapped for a symlink between apply's check and its write: nothing lands outside the root")
    func swapBeforeWrite() throws {
        let (app, deployment, registry) = try setUp()
        let outside = app.scratch.file("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let root = app.root
        LiveIO.beforeWrite.withLock { hook in
            hook = { hookRoot, rel in
                guard hookRoot == root, rel.hasPrefix("config/"), !FileManager.default.fileExists(atPath: root + "/config.moved") else { return }
                _ = rename(root + "/config", root + "/config.moved")
                _ = symlink(outside, root + "/config")
            }
        }
        defer { LiveIO.beforeWrite.withLock { $0 = nil } }
        app.scratch.write("in.patch", Self.twoFilePatch)
        var req = Applier.Request(patchPath: app.scratch.file("in.patch"), title: "t", reason: "r")
        req.lockWait = 0
        #expect(throws: PatchKeeperError.self) { try Applier.apply(req, deployment: deployment, registry: registry) }
        #expect(names(outside) == [], "written outside the root: \(names(outside))")
        // The refusal names the link, and the registry took nothing.
        #expect(try registry.load().isEmpty)
    }

    /// The same for the rollback: the second file's write fails (the hook throws), and before the
    /// first file is put back, `config/` becomes a symlink to outside.
    @Test("a parent directory swapped for a symlink before apply's rollback: the rollback never writes outside the root")
    func swapBeforeRollback() throws {
        let (app, deployment, registry) = try setUp()
        let outside = app.scratch.file("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let root = app.root
        let calls = Mutex(0)
        LiveIO.beforeWrite.withLock { hook in
            hook = { hookRoot, rel in
                guard hookRoot == root else { return }
                let n = calls.withLock { c -> Int in
                    c += 1
                    return c
                }
                if n == 2 { throw PatchKeeperError("injected failure writing \(rel)") }
                if n == 3 {
                    _ = rename(root + "/config", root + "/config.moved")
                    _ = symlink(outside, root + "/config")
                }
            }
        }
        defer { LiveIO.beforeWrite.withLock { $0 = nil } }
        app.scratch.write("in.patch", Self.twoFilePatch)
        let req = Applier.Request(patchPath: app.scratch.file("in.patch"), title: "t", reason: "r")
        #expect(throws: PatchKeeperError.self) { try Applier.apply(req, deployment: deployment, registry: registry) }
        #expect(calls.withLock { $0 } >= 3, "the rollback did not run")
        #expect(names(outside) == [], "the rollback wrote outside the root: \(names(outside))")
        #expect(try registry.load().isEmpty)
    }

    /// Makes the second live write under `root` fail, after running `before` (e.g. an edit by the
    /// app's user between the first write and the rollback). Reset the hook when done.
    func failSecondWrite(root: String, before: @escaping @Sendable () -> Void) {
        let calls = Mutex(0)
        LiveIO.beforeWrite.withLock { hook in
            hook = { hookRoot, rel in
                guard hookRoot == root else { return }
                let n = calls.withLock { c -> Int in
                    c += 1
                    return c
                }
                if n == 2 {
                    before()
                    throw PatchKeeperError("injected failure writing \(rel)")
                }
            }
        }
    }

    /// The rollback after a failed write puts a file back only while it holds what the job wrote:
    /// the app's user edits the first file between its write and the rollback, and keeps the edit.
    @Test("a file changed by someone else between the write and the rollback is left as found, and the error says so")
    func rollbackKeepsAConcurrentEdit() throws {
        let (app, deployment, registry) = try setUp()
        let root = app.root
        failSecondWrite(root: root) {
            // README was written; the app's user edits it, then the second write fails.
            try? "edited by the app user\n".write(toFile: root + "/README", atomically: false, encoding: .utf8)
        }
        defer { LiveIO.beforeWrite.withLock { $0 = nil } }
        app.scratch.write("in.patch", Self.twoFilePatch)
        let req = Applier.Request(patchPath: app.scratch.file("in.patch"), title: "t", reason: "r")
        do {
            _ = try Applier.apply(req, deployment: deployment, registry: registry)
            Issue.record("apply succeeded despite the injected failure")
        } catch let e as PatchKeeperError {
            #expect(e.message.contains("left as found") && e.message.contains(root + "/README"), "\(e.message)")
        }
        #expect(app.scratch.read("live/README") == "edited by the app user\n", "the rollback overwrote the app user's edit")
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 30\nconcurrency: 4\n")
        #expect(try registry.load().isEmpty)
    }

    /// Without a concurrent change the rollback does put the first file back.
    @Test("a failed second write rolls the first file back")
    func rollbackRestores() throws {
        let (app, deployment, registry) = try setUp()
        failSecondWrite(root: app.root) {}
        defer { LiveIO.beforeWrite.withLock { $0 = nil } }
        app.scratch.write("in.patch", Self.twoFilePatch)
        let req = Applier.Request(patchPath: app.scratch.file("in.patch"), title: "t", reason: "r")
        #expect(throws: PatchKeeperError.self) { try Applier.apply(req, deployment: deployment, registry: registry) }
        #expect(app.scratch.read("live/README") == "The API.\n")
        #expect(try registry.load().isEmpty)
    }

    /// Issue item 2 with a real racing process: a Python loop exchanges `config/` and a symlink to
    /// a directory outside the root (renameat2 RENAME_EXCHANGE, so `config` never goes missing)
    /// while the file in it is written and read 1,000 times each.
    @Test("1,000 writes and reads while another process keeps swapping the parent directory for a symlink",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")))
    func racingProcess() throws {
        let app = AppFixture()
        let outside = app.scratch.file("outside")
        app.scratch.write("outside/workers.yml", "OUTSIDE\n")
        let root = app.root
        #expect(symlink(outside, root + "/config.link") == 0)
        let script = """
            import ctypes, os, sys
            libc = ctypes.CDLL(None, use_errno=True)
            os.chdir(sys.argv[1])
            open("racer.started", "w").close()
            while not os.path.exists("racer.stop"):
                libc.renameat2(-100, b"config", -100, b"config.link", 2)
            """
        app.scratch.write("racer.py", script)
        let racer = Process()
        racer.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        racer.arguments = [app.scratch.file("racer.py"), root]
        try racer.run()
        defer {
            _ = FileManager.default.createFile(atPath: root + "/racer.stop", contents: nil)
            racer.waitUntilExit()
        }
        let started = Date()
        while !FileManager.default.fileExists(atPath: root + "/racer.started") && Date().timeIntervalSince(started) < 10 { usleep(10_000) }
        var written = 0, readBack = 0, refused = 0
        // At least 1,000 iterations; more (up to 5,000) when a loaded machine let the racer win
        // every read so far, so that the test also shows reads getting through.
        for i in 0..<5000 {
            if i >= 1000 && written > 0 && refused > 0 && readBack > 0 { break }
            let file = FileVersion(path: "config/workers.yml", mode: .regular, content: Array("timeout: \(i)\n".utf8))
            do {
                try LiveTree.write(file, root: root, relativePath: "config/workers.yml")
                written += 1
            } catch {
                refused += 1
            }
            if let seen = try? LiveTree.read(root: root, relativePath: "config/workers.yml", repoPath: "config/workers.yml") {
                #expect(seen.content != Array("OUTSIDE\n".utf8), "read through the symlink at iteration \(i)")
                readBack += 1
            }
        }
        _ = FileManager.default.createFile(atPath: root + "/racer.stop", contents: nil)
        racer.waitUntilExit()
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(names(outside) == ["workers.yml"], "written outside the root: \(names(outside))")
        #expect(app.scratch.read("outside/workers.yml") == "OUTSIDE\n")
        #expect(written > 0 && refused > 0, "the race never happened: \(written) written, \(refused) refused")
        #expect(readBack > 0, "no read got through")
    }

    static let twoFilePatch = """
        diff --git a/src/api/README b/src/api/README
        --- a/src/api/README
        +++ b/src/api/README
        @@ -1 +1 @@
        -The API.
        +The patched API.
        diff --git a/src/api/config/workers.yml b/src/api/config/workers.yml
        --- a/src/api/config/workers.yml
        +++ b/src/api/config/workers.yml
        @@ -1,2 +1,2 @@
        -timeout: 30
        +timeout: 90
         concurrency: 4

        """

    func setUp() throws -> (AppFixture, Deployment, Registry) {
        let app = AppFixture()
        let o = app.options
        _ = try Initializer.run(options: o, environment: [:])
        let deployment = try Deployment(app: try o.resolve(environment: [:]).app)
        return (app, deployment, try Registry(path: app.registry))
    }
}
