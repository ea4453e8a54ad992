import Foundation
import Testing
import TestSupport

/// Real processes at once: the registry lock serialises writers, --wait waits, and a killed
/// lock holder never blocks anyone (the kernel drops a dead process's flock).
@Suite("Concurrent writers")
struct ConcurrencyTests {
    func start(_ args: [String]) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: patchkeeperBinary())
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["GIT_CONFIG_GLOBAL"] = "/dev/null"
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return (p, err)
    }

    @Test("eight records started at once all land, with distinct ids and one commit each")
    func parallelRecords() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        for i in 0..<8 { app.scratch.write("live/config/hot\(i).rb", "HOT = \(i)\n") }
        let procs = try (0..<8).map { i in
            try start(["record", "config/hot\(i).rb", "--title", "Hot \(i)", "--reason", "r", "--wait", "60"] + app.flags)
        }
        for (p, err) in procs {
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        }
        let files = git(["ls-files", "*.patch"], in: app.registry).split(separator: "\n").map { String($0.prefix(4)) }
        #expect(files.sorted() == (1...8).map { String(format: "%04d", $0) })
        #expect(git(["log", "--oneline"], in: app.registry).split(separator: "\n").count == 9)
        #expect(run("/usr/bin/git", ["fsck", "--no-progress"], cwd: app.registry).status == 0)
        #expect(pk(["scan"] + app.flags).status == 0)
    }

    @Test("reapply and record at the same time are serialised and both finish")
    func reapplyAndRecord() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "One", "--reason", "r"] + app.flags).status == 0)
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        app.deploy("v2")
        app.scratch.write("live/config/workers.yml", "timeout: 99\nconcurrency: 4\n")
        let a = try start(["reapply", "--wait", "60"] + app.flags)
        let b = try start(["record", "config/workers.yml", "--title", "Two", "--reason", "r", "--wait", "60"] + app.flags)
        a.0.waitUntilExit()
        b.0.waitUntilExit()
        #expect(a.0.terminationStatus == 0)
        #expect(b.0.terminationStatus == 0)
        #expect(pk(["scan"] + app.flags).status == 0)
        #expect(git(["status", "--porcelain"], in: app.registry) == "")
    }

    @Test("motd from a timer and by hand at once leaves exactly one block")
    func parallelMotd() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "One", "--reason", "r"] + app.flags).status == 0)
        app.scratch.write("motd", "Welcome.\n")
        let procs = try (0..<6).map { _ in try start(["motd", "--file", app.scratch.file("motd"), "--wait", "60"] + app.flags) }
        for (p, _) in procs { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        let text = try #require(app.scratch.read("motd"))
        #expect(text.components(separatedBy: "# BEGIN patchkeeper").count == 2)
        #expect(text.hasPrefix("Welcome.\n"))
    }

    @Test("a lock holder killed with SIGKILL does not block the next writer")
    func killedHolder() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [app.registry + "/.patchkeeper/lock", "sleep", "60"]
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        Thread.sleep(forTimeInterval: 0.3)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        let blocked = pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags)
        #expect(blocked.status == 2)
        run("/usr/bin/pkill", ["-KILL", "-P", String(holder.processIdentifier)])  // its sleep child
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        let started = Date()
        let r = pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 5)
    }
}

@Suite("Registry permissions")
struct PermissionTests {
    func mode(_ path: String) -> UInt16 {
        var st = stat()
        lstat(path, &st)
        return UInt16(st.st_mode & 0o7777)
    }

    @Test("the registry is 0700 (patches hold copies of live files, secrets too) with 0644 patches; lock, cache and state are 0600 in a 0700 directory")
    func modes() throws {
        let app = AppFixture()
        _ = umask(0o022)
        #expect(pk(["init"] + app.flags, env: [:]).status == 0)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        #expect(pk(["scan"] + app.flags).status == 0)
        #expect(mode(app.registry) == 0o700)
        #expect(mode(app.registry + "/0001-t.patch") == 0o644)
        #expect(mode(app.registry + "/.patchkeeper") == 0o700)
        for f in ["lock", "statcache", "last-scan.json"] { #expect(mode(app.registry + "/.patchkeeper/" + f) == 0o600, "\(f)") }
    }

    @Test("a registry writable by others is refused with the chmod that fixes it", arguments: [0o777, 0o775])
    func writableByOthers(m: Int) throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        chmod(app.registry, mode_t(m))
        let r = pk(["list"] + app.flags)
        #expect(r.status == 2)
        #expect(r.stderr.contains("writable by group or others"))
        #expect(r.stderr.contains("chmod go-w"))
        chmod(app.registry, 0o755)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        chmod(app.registry + "/0001-t.patch", 0o666)
        #expect(pk(["list"] + app.flags).status == 2)
    }
}
