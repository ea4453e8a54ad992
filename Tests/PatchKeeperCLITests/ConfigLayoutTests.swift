import Foundation
import Testing
import TestSupport

/// Apps without ceremony: conf.d, [defaults], relative paths, the app from the current directory,
/// and Capistrano's `current` never naming an app.
@Suite("CLI config layout")
struct ConfigLayoutTests {
    @Test("conf.d files merge with the main file, [defaults] apply, relative paths are the config's, and the app comes from the current directory")
    func confDAndDefaults() throws {
        let app = AppFixture()
        let etc = app.scratch.file("etc")
        try FileManager.default.createDirectory(atPath: etc + "/conf.d", withIntermediateDirectories: true)
        // Paths relative to the config file's directory.
        app.scratch.write("etc/config.toml", """
            [defaults]
            ignore = ["tmp/"]

            [apps.api]
            root = "../live"
            repo = "../app"
            subdir = "src/api"
            registry = "../registry"
            """)
        app.scratch.write("etc/conf.d/10-docs.toml", """
            [apps.docs]
            root = "\(app.scratch.file("live2"))"
            repo = "\(app.repo)"
            registry = "\(app.scratch.file("registry2"))"
            """)
        let config = etc + "/config.toml"
        #expect(pk(["init", "--config", config, "--app", "api"]).status == 0)
        // Inside the api root, no --app is needed; a temp file ignored by [defaults] is no drift.
        app.scratch.write("live/tmp/cache.bin", "x")
        let r = pk(["scan", "--config", config], cwd: app.root + "/config")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("scan api") || r.stdout.contains("api"), "\(r.stdout)")
        // Outside any root, several apps: the error names them and says how to choose.
        let outside = pk(["scan", "--config", config], cwd: app.scratch.path)
        #expect(outside.status == 2 && outside.stderr.contains("api, docs") && outside.stderr.contains("--app"), "\(outside.stderr)")
        // status lists both (docs has no registry yet: trouble for that line only).
        let st = pk(["status", "--config", config])
        #expect(st.stdout.contains("api") && st.stdout.contains("docs"), "\(st.stdout)")

        // The same app in conf.d again: an error naming both files.
        app.scratch.write("etc/conf.d/20-dup.toml", "[apps.api]\nroot = \"/srv/x\"\n")
        let dup = pk(["list", "--config", config, "--app", "api"])
        #expect(dup.status == 2 && dup.stderr.contains("config.toml") && dup.stderr.contains("20-dup.toml"), "\(dup.stderr)")
    }

    @Test("a Capistrano root named current takes the app name from the directory above it")
    func currentIsNotAName() throws {
        let app = AppFixture()
        let deployRoot = app.scratch.file("obs-api")
        try FileManager.default.createDirectory(atPath: deployRoot + "/releases", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: app.root, toPath: deployRoot + "/releases/20261201")
        try FileManager.default.createSymbolicLink(atPath: deployRoot + "/current", withDestinationPath: "releases/20261201")
        let r = pk(["init", "--root", deployRoot + "/current", "--repo", app.repo, "--subdir", "src/api", "--registry", app.registry])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(app.scratch.read("registry/.patchkeeper-app") == "obs-api\n")
    }
}

@Suite("CLI --all-apps")
struct AllAppsTests {
    @Test("scan, gate and motd run over every app of the config; gate takes each app's own target; the exit code summarises")
    func allApps() throws {
        let a = AppFixture()
        let b = AppFixture()
        b.commit(["src/api/README": "b2\n"], message: "b2", tag: "b2")
        let config = a.scratch.file("all.toml")
        a.scratch.write("all.toml", """
            [apps.alpha]
            root = "\(a.root)"
            repo = "\(a.repo)"
            subdir = "src/api"
            registry = "\(a.registry)"
            target = "v1"

            [apps.beta]
            root = "\(b.root)"
            repo = "\(b.repo)"
            subdir = "src/api"
            registry = "\(b.registry)"
            target = "b2"
            """)
        #expect(pk(["init", "--config", config, "--app", "alpha"]).status == 0)
        #expect(pk(["init", "--config", config, "--app", "beta"]).status == 0)
        var r = pk(["scan", "--all-apps", "--config", config, "--metrics-file", a.scratch.file("{app}.prom")])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(a.scratch.exists("alpha.prom") && a.scratch.exists("beta.prom"))
        // beta gets an unregistered change: scan exits 1, alpha still scanned.
        b.scratch.write("live/config/workers.yml", "timeout: 99\nconcurrency: 4\n")
        r = pk(["scan", "--all-apps", "--config", config, "--format", "json"])
        #expect(r.status == 1)
        #expect(r.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.count == 2 || r.stdout.contains("\"app\" : \"alpha\""), "\(r.stdout)")
        // gate: each against its own target; beta's change would be lost → 1.
        r = pk(["gate", "--all-apps", "--config", config])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("gate alpha") && r.stdout.contains("gate beta") && r.stdout.contains("b2"), "\(r.stdout)")
        // motd: one block per app in one file.
        let motd = a.scratch.file("motd")
        b.scratch.write("live/config/workers.yml", "timeout: 30\nconcurrency: 4\n")
        a.scratch.write("live/config/workers.yml", "timeout: 120\nconcurrency: 4\n")
        #expect(pk(["record", "config/workers.yml", "--title", "t", "--reason", "r", "--config", config, "--app", "alpha"]).status == 0)
        r = pk(["motd", "--all-apps", "--config", config, "--file", motd])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(a.scratch.read("motd")?.contains("alpha") == true)
        // --all-apps with --app is a usage error.
        #expect(pk(["scan", "--all-apps", "--app", "alpha", "--config", config]).status == 64)
    }
}
