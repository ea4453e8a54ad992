import Foundation
import Testing
import TestSupport

/// Bad input: one clear line on stderr, exit 2, nothing written.
@Suite("CLI bad input")
struct BadInputTests {
    /// Runs `args`, expects exit 2 with a single `patchkeeper: error:` line containing `mentions`,
    /// and checks that neither the root nor the registry changed.
    func expectTrouble(_ app: AppFixture, _ args: [String], mentions: [String], cwd: String? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let root = snapshot(app.root), registry = snapshot(app.registry)
        let r = pk(args, cwd: cwd)
        #expect(r.status == 2, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("patchkeeper: error: "), sourceLocation: sourceLocation)
        for m in mentions { #expect(r.stderr.contains(m), "missing '\(m)' in: \(r.stderr)", sourceLocation: sourceLocation) }
        #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
        #expect(snapshot(app.root) == root, "root changed", sourceLocation: sourceLocation)
        #expect(snapshot(app.registry) == registry, "registry changed", sourceLocation: sourceLocation)
    }

    func initialised() -> AppFixture {
        let app = AppFixture()
        let r = pk(["init"] + app.flags)
        precondition(r.status == 0, r.stderr)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        return app
    }

    let record = ["record", "config/clock.rb", "--title", "t", "--reason", "r"]

    @Test("a missing root is named")
    func missingRoot() {
        let app = initialised()
        expectTrouble(app, record + ["--root", app.scratch.file("nope"), "--repo", app.repo, "--registry", app.registry],
                      mentions: ["nope", "does not exist"])
    }

    @Test("a root without .git and no --repo asks for the repository")
    func missingRepo() {
        let app = initialised()
        expectTrouble(app, record + ["--root", app.root, "--registry", app.registry], mentions: ["no git repository", "--repo"])
    }

    @Test("a --repo that is not a repository is named")
    func badRepo() {
        let app = initialised()
        expectTrouble(app, record + ["--root", app.root, "--repo", app.scratch.file("live/config"), "--registry", app.registry],
                      mentions: ["cannot open git repository", "live/config"])
    }

    @Test("no deployed revision lists the ways to give one")
    func missingRevision() throws {
        let app = initialised()
        try FileManager.default.removeItem(atPath: app.root + "/REVISION")
        expectTrouble(app, record + app.flags, mentions: ["cannot tell which revision is deployed", "--deployed", "REVISION"])
    }

    @Test("a REVISION file naming an unknown commit is named with its content", arguments: [
        "0123456789abcdef0123456789abcdef01234567", "garbage; rm -rf /",
    ])
    func unknownRevision(content: String) {
        let app = initialised()
        app.scratch.write("live/REVISION", content + "\n")
        expectTrouble(app, record + app.flags, mentions: ["REVISION", "is not a commit", "--deployed"])
    }

    @Test("an empty REVISION file is named")
    func emptyRevision() {
        let app = initialised()
        app.scratch.write("live/REVISION", "\n")
        expectTrouble(app, record + app.flags, mentions: ["REVISION is empty"])
    }

    @Test("paths outside the root are refused", arguments: ["../app/src/api/README", "/etc/passwd", "config/../../x"])
    func outsideRoot(path: String) {
        let app = initialised()
        expectTrouble(app, ["record", path, "--title", "t", "--reason", "r"] + app.flags, mentions: ["app root", path])
    }

    @Test("a path through a symlinked directory is refused")
    func throughSymlink() throws {
        let app = initialised()
        app.scratch.write("elsewhere/secret.rb", "x\n")
        try FileManager.default.createSymbolicLink(atPath: app.root + "/linked", withDestinationPath: app.scratch.file("elsewhere"))
        expectTrouble(app, ["record", "linked/secret.rb", "--title", "t", "--reason", "r"] + app.flags, mentions: ["symbolic link", "linked"])
    }

    @Test("a malformed patch file in the registry is named with its line")
    func malformedRegistryFile() {
        let app = initialised()
        app.scratch.write("registry/0001-broken.patch", "From x Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: [PATCH] t\n\nPatch-Id: 0001\nStatus: active\n---\ndiff --git a/x b/x\n")
        for cmd in [["list"], ["show", "1"], ["log", "1"], record] {
            expectTrouble(app, cmd + app.flags, mentions: ["0001-broken.patch:7:", "Base"])
        }
    }

    @Test("duplicate patch ids are refused")
    func duplicateIDs() throws {
        let app = initialised()
        #expect(pk(record + app.flags).status == 0)
        let text = try #require(app.scratch.read("registry/0001-t.patch"))
        app.scratch.write("registry/0002-copy.patch", text)
        expectTrouble(app, ["list"] + app.flags, mentions: ["both have Patch-Id 0001"])
    }

    @Test("an unknown --app lists the known ones")
    func unknownApp() {
        let app = initialised()
        app.scratch.write("config.toml", "[apps.obs-api]\nroot = \"\(app.root)\"\n[apps.web]\nroot = \"\(app.root)\"\n")
        expectTrouble(app, ["list", "--config", app.config, "--app", "nope"], mentions: ["unknown app 'nope'", "obs-api, web"])
    }

    @Test("a config file with a typo is named with the key")
    func badConfig() {
        let app = initialised()
        app.scratch.write("config.toml", "[apps.obs-api]\nrooot = \"/srv\"\n")
        expectTrouble(app, ["list", "--config", app.config], mentions: ["config.toml", "unknown key 'rooot'"])
    }

    @Test("no config and no --root says how to name the app")
    func nothingGiven() {
        let app = initialised()
        expectTrouble(app, ["list"], mentions: ["no app given", "--root"], cwd: app.scratch.path)
    }

    @Test("a registry that was never created says to run init")
    func noRegistry() {
        let app = AppFixture()
        let r = pk(record + app.flags)
        #expect(r.status == 2)
        #expect(r.stderr.contains("patchkeeper init"))
        #expect(!FileManager.default.fileExists(atPath: app.registry))
    }

    @Test("a held registry lock fails fast with exit 2, and --wait waits for it")
    func lockHeld() throws {
        let app = initialised()
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [app.registry + "/.patchkeeper/lock", "sleep", "1.5"]
        try holder.run()
        Thread.sleep(forTimeInterval: 0.3)
        // The message names the holder, from the kernel's lock table.
        expectTrouble(app, record + app.flags, mentions: ["locked by another patchkeeper", "--wait", "(pid \(holder.processIdentifier), flock"])
        let waited = pk(record + app.flags + ["--wait", "10"])
        #expect(waited.status == 0, "\(waited.stderr)")
        holder.waitUntilExit()
    }

    @Test("usage errors exit 64")
    func usage() {
        let r = pk(["record", "--title", "t"])
        #expect(r.status == 64)
        #expect(pk(["frobnicate"]).status == 64)
        #expect(pk(["record", "x", "--title", "t", "--reason", "r", "--expires", "tomorrow", "--root", "/tmp"]).status == 64)
    }
}
