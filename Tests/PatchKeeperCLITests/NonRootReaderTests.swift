import Foundation
import Testing
import TestSupport

/// Runs as root and can drop to an unprivileged user with setpriv(1).
private let canDropPrivileges = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

@Suite("CLI readers who are not root")
struct NonRootReaderTests {
    /// Copies the binary where `nobody` can execute it, and lets nobody reach the config.
    func openToNobody(_ app: AppFixture) throws -> String {
        let bin = app.scratch.file("bin/patchkeeper")
        try FileManager.default.createDirectory(atPath: app.scratch.file("bin"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: patchkeeperBinary(), toPath: bin)
        chmod(bin, 0o755)
        chmod(app.scratch.path, 0o755)
        chmod(app.config, 0o644)
        return bin
    }

    /// Runs the binary (copied where `nobody` can execute it) as uid/gid 65534.
    func asNobody(_ bin: String, _ args: [String], cwd: String) -> ProcessResult {
        run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", bin] + args, cwd: cwd,
            env: ["HOME": "/nonexistent", "NO_COLOR": "1"])
    }

    @Test("list, show, log and status work for an unprivileged user on a private root-owned registry, from the metadata-only public summary",
          .enabled(if: canDropPrivileges, "needs root and setpriv to run commands as an unprivileged user"))
    func nobodyReadsTheSummary() throws {
        let app = AppFixture()
        app.commit(["src/api/config/database.yml": "production:\n  password: changeme\n"], message: "db")
        app.deploy("HEAD")
        app.scratch.write("config.toml", """
            [apps.live]
            root = "\(app.root)"
            repo = "\(app.repo)"
            subdir = "src/api"
            registry = "\(app.registry)"
            """)
        let cfg = ["--config", app.config]
        #expect(pk(["init"] + cfg).status == 0)
        let summaryPath = app.registry + ".summary.json"
        #expect(FileManager.default.fileExists(atPath: summaryPath), "init writes the summary")

        app.scratch.write("live/config/database.yml", "production:\n  password: hunter2-secret\n")
        var r = pk(["record", "config/database.yml", "--title", "Rotate DB password", "--reason", "leaked in chat", "--ticket", "OPS-7"] + cfg)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(pk(["scan"] + cfg).status == 0)

        // Where nobody can run the binary from.
        let bin = try openToNobody(app)
        let cwd = app.scratch.path

        // The registry itself stays private: nobody cannot read a patch file.
        let patchFile = try #require(app.patchFiles().first)
        #expect(run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/cat", app.registry + "/" + patchFile]).status != 0)

        r = asNobody(bin, ["list"] + cfg, cwd: cwd)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("Rotate DB password") && r.stdout.contains("applied") && r.stdout.contains("public summary"), "\(r.stdout)")

        r = asNobody(bin, ["list", "--format", "json"] + cfg, cwd: cwd)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\(r.stderr)")
        #expect(list["source"] as? String == "public-summary")
        let patch = try #require((list["patches"] as? [[String: Any]])?.first)
        #expect(patch["ticket"] as? String == "OPS-7" && patch["state"] as? String == "applied")
        #expect((patch["files"] as? [[String: Any]])?.first?["path"] as? String == "src/api/config/database.yml")

        r = asNobody(bin, ["show", "1"] + cfg, cwd: cwd)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("leaked in chat") && r.stdout.contains("OPS-7") && r.stdout.contains("sudo patchkeeper show 0001"), "\(r.stdout)")
        r = asNobody(bin, ["log", "1"] + cfg, cwd: cwd)
        #expect(r.status == 0 && r.stdout.contains("Rotate DB password"), "\(r.stdout)\(r.stderr)")
        r = asNobody(bin, ["status"] + cfg, cwd: cwd)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("1 applied") && r.stdout.contains("public summary"), "\(r.stdout)")

        // No content of the patched file leaves the private registry.
        for args in [["list", "--format", "json"], ["show", "1", "--format", "json"], ["show", "1"], ["log", "--format", "json"], ["status", "--format", "json"]] {
            #expect(!asNobody(bin, args + cfg, cwd: cwd).stdout.contains("hunter2"), "\(args)")
        }
        #expect(!(try String(contentsOfFile: summaryPath, encoding: .utf8)).contains("hunter2"))

        // The names of unregistered live files stay with root; their number does not.
        app.scratch.write("live/config/backdoor_key.pem", "key\n")
        #expect(pk(["scan"] + cfg).status == 1)
        #expect(!(try String(contentsOfFile: summaryPath, encoding: .utf8)).contains("backdoor_key"))
        r = asNobody(bin, ["status", "--format", "json"] + cfg, cwd: cwd)
        #expect(!r.stdout.contains("backdoor_key"), "\(r.stdout)")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\(r.stderr)")
        #expect((status["apps"] as? [[String: Any]])?.first?["unregistered"] as? Int == 1, "\(r.stdout)")
        try FileManager.default.removeItem(atPath: app.root + "/config/backdoor_key.pem")
        #expect(pk(["scan"] + cfg).status == 0)

        // A summary that could not be written is said so, and the next write rebuilds it whole.
        // (Its directory is group-writable for one record: the summary stays as it was.)
        chmod(app.scratch.path, 0o775)
        app.scratch.write("live/README", "The patched API.\n")
        r = pk(["record", "README", "--title", "Readme note", "--reason", "r"] + cfg)
        #expect(r.status == 0 && r.stderr.contains("public summary") && r.stderr.contains("was not updated"), "\(r.stderr)")
        chmod(app.scratch.path, 0o755)
        #expect(!(try String(contentsOfFile: summaryPath, encoding: .utf8)).contains("Readme note"))
        #expect(pk(["edit", "1", "--ticket", "OPS-77"] + cfg).status == 0)
        r = asNobody(bin, ["list"] + cfg, cwd: cwd)
        #expect(r.stdout.contains("Readme note") && r.stdout.contains("Rotate DB password"), "\(r.stdout)\(r.stderr)")
        // A gap in the log (the record above went by without the summary) is not patched over.
        app.scratch.write("live/bin/setup", "#!/bin/sh\necho patched\n")
        #expect(pk(["record", "bin/setup", "--title", "Setup echo", "--reason", "r"] + cfg).status == 0)
        let log = asNobody(bin, ["log"] + cfg, cwd: cwd).stdout
        #expect(log.contains("Readme note") && log.contains("Setup echo") && log.contains("OPS-77") == false, "\(log)")
        #expect(pk(["retire", "2", "--reason", "done"] + cfg).status == 0)
        #expect(pk(["retire", "3", "--reason", "done"] + cfg).status == 0)
        app.scratch.write("live/README", "The API.\n")
        app.scratch.write("live/bin/setup", "#!/bin/sh\necho setup\n")

        // A registry write updates it at once (no scan in between): a new patch, then a retire.
        app.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        #expect(pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "slow"] + cfg).status == 0)
        #expect(pk(["retire", "1", "--reason", "rotated properly"] + cfg).status == 0)
        r = asNobody(bin, ["list"] + cfg, cwd: cwd)
        #expect(r.stdout.contains("Raise timeout") && !r.stdout.contains("Rotate DB password"), "\(r.stdout)")
        r = asNobody(bin, ["list", "--all"] + cfg, cwd: cwd)
        #expect(r.stdout.contains("Rotate DB password") && r.stdout.contains("retired"), "\(r.stdout)")
        #expect(asNobody(bin, ["log"] + cfg, cwd: cwd).stdout.contains("retire 0001"))

        // A registry the admin opened to everyone (chmod 755) is read directly, with no ownership trust asked.
        chmod(app.registry, 0o755)
        r = asNobody(bin, ["show", "4"] + cfg, cwd: cwd)
        #expect(r.status == 0 && r.stdout.contains("+timeout: 120") && !r.stdout.contains("public summary"), "\(r.stdout)\(r.stderr)")
        #expect(asNobody(bin, ["log"] + cfg, cwd: cwd).stdout.contains("retire 0001"))
        chmod(app.registry, 0o700)

        // A summary someone else wrote is not believed.
        chown(summaryPath, 65534, 65534)
        r = asNobody(bin, ["list"] + cfg, cwd: cwd)
        #expect(r.status == 2 && r.stderr.contains("not owned by the registry's owner"), "\(r.stdout)\(r.stderr)")

        // public_summary = false: the summary is withdrawn, and the reader is told why nothing shows.
        app.scratch.write("config.toml", (app.scratch.read("config.toml") ?? "") + "\npublic_summary = false\n")
        chmod(app.config, 0o644)
        #expect(pk(["scan"] + cfg).status == 1, "the retired change is still live: drift")
        #expect(pk(["edit", "4", "--ticket", "OPS-8"] + cfg).status == 0)
        #expect(!FileManager.default.fileExists(atPath: summaryPath))
        r = asNobody(bin, ["list"] + cfg, cwd: cwd)
        #expect(r.status == 2 && r.stderr.contains("public_summary = false"), "\(r.stderr)")
    }

    @Test("a registry another user owns is not read without --trust-repo, and no summary is trusted beside it",
          .enabled(if: canDropPrivileges, "needs root and setpriv to run commands as an unprivileged user"))
    func plantedRegistryIsNotTrusted() throws {
        let app = AppFixture()
        let cfg = ["--config", app.config]
        app.scratch.write("config.toml", "[apps.live]\nroot = \"\(app.root)\"\nrepo = \"\(app.repo)\"\nsubdir = \"src/api\"\nregistry = \"\(app.registry)\"\n")
        #expect(pk(["init"] + cfg).status == 0)
        let bin = try openToNobody(app)
        // Someone else's registry, readable to all: the owner check stays for it.
        #expect(run("/bin/chown", ["-R", "1234:1234", app.registry]).status == 0)
        chmod(app.registry, 0o755)
        var r = asNobody(bin, ["list"] + cfg, cwd: app.scratch.path)
        #expect(r.status == 2 && r.stderr.contains("--trust-repo"), "\(r.stdout)\(r.stderr)")
        // A summary in a directory its group may write is not believed (nor written).
        #expect(run("/bin/chown", ["-R", "0:0", app.registry]).status == 0)
        chmod(app.registry, 0o700)
        chmod(app.scratch.path, 0o775)
        r = asNobody(bin, ["list"] + cfg, cwd: app.scratch.path)
        #expect(r.status == 2 && r.stderr.contains("writable by group or others"), "\(r.stdout)\(r.stderr)")
        app.scratch.write("live/README", "changed\n")
        r = pk(["scan"] + cfg)
        #expect(r.stderr.contains("was not updated"), "\(r.stderr)")
    }

    @Test("the summary is not written into a directory everyone may write (readers would believe a planted one)")
    func noSummaryInWorldWritableDirectory() throws {
        let app = AppFixture()
        let shared = app.scratch.file("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        chmod(shared, 0o777)
        let flags = ["--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", shared + "/registry"]
        let r = pk(["init"] + flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("writable by group or others"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: shared + "/registry.summary.json"))
    }
}

/// A registry of 64 patches or more is read on two threads; a thread that cannot be started
/// (RLIMIT_NPROC here; a cgroup's pids.max, no memory) must not leave half the registry unread.
@Suite("CLI registry read without a second thread")
struct RegistryReadThreadTests {
    @Test("list reads all 70 patches when no thread can be started",
          .enabled(if: canDropPrivileges && FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"),
                   "needs root, setpriv and prlimit"))
    func listWithoutThreads() throws {
        let app = AppFixture()
        let base = git(["rev-parse", "HEAD"], in: app.repo).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pk(["init"] + app.flags).status == 0)
        for i in 1...70 {
            let n = String(format: "%02d", i), id = String(format: "%04d", i)
            app.scratch.write("registry/\(id)-p\(n).patch", """
                From \(base) Mon Sep 17 00:00:00 2001
                From: A <a@example.org>
                Date: Wed, 02 Dec 2026 05:03:18 +0000
                Subject: [PATCH] hot patch \(n)

                why \(n)

                Patch-Id: \(id)
                Base: \(base)
                Status: active
                ---
                 c/f\(n).rb | 1 +
                 1 file changed, 1 insertion(+)

                diff --git a/c/f\(n).rb b/c/f\(n).rb
                index bbcb2fa66a717ada9b307db2e1d5b25739d26609..cbc022879da452c8f87b90fdc7a1cf982b848408 100644
                --- a/c/f\(n).rb
                +++ b/c/f\(n).rb
                @@ -1 +1,2 @@
                 v \(n)
                +hot \(n)

                """)
        }
        // nobody owns the registry (so it reads the patch files themselves) and may run the binary.
        let bin = app.scratch.file("bin/patchkeeper")
        try FileManager.default.createDirectory(atPath: app.scratch.file("bin"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: patchkeeperBinary(), toPath: bin)
        chmod(bin, 0o755)
        chmod(app.scratch.path, 0o755)
        #expect(run("/bin/chown", ["-R", "65534:65534", app.registry]).status == 0)
        let args = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/prlimit", "--nproc=1", bin,
                    "list", "--registry", app.registry, "--format", "json"]
        let r = run("/usr/bin/setpriv", args, cwd: app.scratch.path, env: ["HOME": "/nonexistent", "NO_COLOR": "1"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        for i in [1, 2, 69, 70] { #expect(r.stdout.contains("\"\(String(format: "%04d", i))\""), "patch \(i) missing: \(r.stdout.prefix(400))") }
    }
}
