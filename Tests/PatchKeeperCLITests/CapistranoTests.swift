import Foundation
import Testing
import TestSupport

/// Capistrano's layout: releases/<timestamp> directories, a `current` symlink swapped at each
/// deploy, REVISION in each release, the old release kept.
@Suite("CLI Capistrano layout")
struct CapistranoTests {
    /// Deploys `rev` as a new release and points `current` at it (as Capistrano does).
    func capDeploy(_ app: AppFixture, _ rev: String, _ stamp: String) throws {
        let base = app.scratch.file("srv")
        let release = base + "/releases/" + stamp
        try FileManager.default.createDirectory(atPath: release, withIntermediateDirectories: true)
        let r = run("/bin/sh", ["-c", "git -C '\(app.repo)' archive \(rev):src/api | tar -x -C '\(release)'"])
        precondition(r.status == 0, r.stderr)
        try (git(["rev-parse", rev], in: app.repo) + "\n").write(toFile: release + "/REVISION", atomically: true, encoding: .utf8)
        let tmp = base + "/current.tmp"
        try? FileManager.default.removeItem(atPath: tmp)
        try FileManager.default.createSymbolicLink(atPath: tmp, withDestinationPath: "releases/" + stamp)
        #expect(rename(tmp, base + "/current") == 0)
    }

    @Test("two deploys through the current symlink: scan, gate, reapply and the stat cache follow the switch; the old release is left alone")
    func twoDeploys() throws {
        let app = AppFixture(deploy: false)
        try capDeploy(app, "v1", "20261201000000")
        let flags = ["--root", app.scratch.file("srv/current"), "--repo", app.repo, "--subdir", "src/api", "--registry", app.registry]
        #expect(pk(["init"] + flags).status == 0)
        #expect(app.scratch.read("registry/.patchkeeper-app") == "srv\n")
        app.scratch.write("srv/current/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        #expect(pk(["record", "config/workers.yml", "--title", "Raise timeout", "--reason", "r"] + flags).status == 0)
        #expect(pk(["scan"] + flags).status == 0)
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        #expect(pk(["gate", "--target", "v2", "--policy", "reapply"] + flags).status == 0)

        try capDeploy(app, "v2", "20261202000000")
        let scan = pk(["scan"] + flags)
        #expect(scan.status == 1 && scan.stdout.contains("OVERWRITTEN"), "\(scan.stdout)")
        let re = pk(["reapply"] + flags)
        #expect(re.status == 0, "\(re.stdout)\(re.stderr)")
        #expect(app.scratch.read("srv/releases/20261202000000/config/workers.yml") == "timeout: 120\nconcurrency: 4\n")
        // The old release keeps what it had; the new one carries the patch; scan is clean.
        #expect(app.scratch.read("srv/releases/20261201000000/config/workers.yml") == "timeout: 120\nconcurrency: 4\n")
        #expect(pk(["scan"] + flags).status == 0)
        #expect(pk(["status"] + flags).stdout.contains("1 applied"))
        // The registry now names the new revision as the patch's base.
        #expect(app.scratch.read("registry/0001-raise-timeout.patch")?.contains("Base: \(git(["rev-parse", "v2"], in: app.repo))") == true)
    }
}
