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
