import Foundation
import Testing
import TestSupport

/// Where patchkeeper writes, and what it keeps, when the app's own user (who owns the live tree)
/// or a careless argument tries to steer it — the security issue's write-side items, end to end
/// through the built binary (RELIABILITY.md, "Threat model"). The races themselves are driven
/// in-process in `LiveWriteRaceTests`.
@Suite("CLI write safety")
struct WriteSafetyTests {
    static let isRoot = getuid() == 0
    static let hasSetpriv = FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    func initialised(_ app: AppFixture = AppFixture()) -> AppFixture {
        let r = pk(["init"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    /// One `patchkeeper: error:` line containing every `mentions`, exit `code`, nothing on stdout.
    func checkRefusal(_ r: ProcessResult, code: Int32 = 2, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == code, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("patchkeeper: error: "), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        for m in mentions { #expect(r.stderr.contains(m), "missing '\(m)' in: \(r.stderr)", sourceLocation: sourceLocation) }
        #expect(r.stdout.isEmpty, "stdout: \(r.stdout)", sourceLocation: sourceLocation)
    }

    func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    func names(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    static let workersPatch = """
        diff --git a/src/api/config/workers.yml b/src/api/config/workers.yml
        --- a/src/api/config/workers.yml
        +++ b/src/api/config/workers.yml
        @@ -1,2 +1,2 @@
        -timeout: 30
        +timeout: 90
         concurrency: 4

        """

    func apply(_ app: AppFixture, _ patch: String = workersPatch, extra: [String] = []) -> ProcessResult {
        app.scratch.write("in.patch", patch)
        return pk(["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + extra + app.flags)
    }

    // MARK: - Item 16: temp files

    /// The old writer's temp file was `.NAME.pk-tmp-PID`, opened without O_EXCL: a FIFO planted
    /// at the next PIDs' names hung `apply`/`reapply` while it held the registry lock.
    @Test("FIFOs planted at guessable temp-file names never block a live write")
    func fifoAtTempName() throws {
        let app = initialised()
        let pidMax = Int((try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 32768
        let last = Int((try? String(contentsOfFile: "/proc/sys/kernel/ns_last_pid", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 300
        for i in 1...4000 {
            let pid = (last + i) % pidMax
            if pid < 2 { continue }
            _ = mkfifo(app.root + "/config/.workers.yml.pk-tmp-\(pid)", 0o644)
        }
        app.scratch.write("in.patch", Self.workersPatch)
        let started = Date()
        let r = run("/usr/bin/timeout", ["30", patchkeeperBinary(), "apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "exit \(r.status) after \(Date().timeIntervalSince(started)) s: \(r.stderr)")
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 90\nconcurrency: 4\n")
    }

    // MARK: - Item 17: huge files

    @Test("apply refuses a 1 GiB live file or patch file by its size, before reading it", arguments: ["live file", "patch file"])
    func hugeFile(kind: String) throws {
        let app = initialised()
        let big = kind == "live file" ? app.root + "/config/workers.yml" : app.scratch.file("in.patch")
        app.scratch.write("in.patch", Self.workersPatch)
        #expect(truncate(big, 1 << 30) == 0)  // sparse: no disk, but 1 GiB to read
        let started = Date()
        let r = pk(["apply", app.scratch.file("in.patch"), "--title", "t", "--reason", "r"] + app.flags)
        let took = Date().timeIntervalSince(started)
        checkRefusal(r, mentions: [kind == "live file" ? "config/workers.yml" : "in.patch", "1024 MiB"])
        #expect(took < 3, "took \(took) s")
        #expect(names(app.registry).filter { $0.hasSuffix(".patch") } == [])
    }

    // MARK: - Item 7: ACLs and extended attributes

    @Test("a rewritten live file keeps its ACL and extended attributes")
    func keepsACLAndXattrs() throws {
        let app = initialised()
        let file = app.root + "/config/workers.yml"
        let acl = run("/usr/bin/setfacl", ["-m", "u:nobody:r", file])
        let attr = run("/usr/bin/setfattr", ["-n", "user.patchkeeper-test", "-v", "kept", file])
        if acl.status != 0 || attr.status != 0 {
            try Test.cancel("the filesystem of \(app.root) refuses ACLs or user xattrs: \(acl.stderr)\(attr.stderr)")
        }
        let modeBefore = mode(file)
        let r = apply(app)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.scratch.read("live/config/workers.yml") == "timeout: 90\nconcurrency: 4\n")
        let facl = run("/usr/bin/getfacl", ["-c", file]).stdout
        #expect(facl.contains("user:nobody:r--"), "ACL after apply: \(facl)")
        let x = run("/usr/bin/getfattr", ["--only-values", "-n", "user.patchkeeper-test", file])
        #expect(x.status == 0 && x.stdout == "kept", "xattr after apply: \(x.stdout)\(x.stderr)")
        #expect(mode(file) == modeBefore)
    }
}
