import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

@Suite("Config file")
struct ConfigTests {
    @Test("apps, paths and ignore lists are read")
    func parsesApps() throws {
        let c = try ConfigFile.parse("""
            [apps.obs-api]
            root = "/srv/www/obs/api"
            repo = "/srv/www/obs/repo.git"
            subdir = "src/api"
            ignore = ["tmp/", "*.pyc"]
            trusted = true

            [apps.other]
            root = "/srv/other"
            """, path: "/etc/pk.toml")
        #expect(c.appNames == ["obs-api", "other"])
        let a = try #require(c.apps["obs-api"])
        #expect(a.root == "/srv/www/obs/api" && a.repo == "/srv/www/obs/repo.git" && a.subdir == "src/api")
        #expect(a.ignore == ["tmp/", "*.pyc"])
        #expect(a.trusted)
    }

    @Test("errors name the file, the line, or the key", arguments: [
        ("[apps.x\nroot = 1\n", "/etc/pk.toml:1:"),
        ("[apps.x]\nrooot = \"/srv\"\n", "unknown key 'rooot'"),
        ("[apps.x]\nroot = 5\n", "root must be a string"),
        ("colour = true\n", "unknown top-level key 'colour'"),
        ("[apps.x]\nignore = \"tmp/\"\n", "ignore must be an array"),
        ("[apps.x]\nroot = \"/srv\"\nmotd = \"\"\n", "/etc/pk.toml: [apps.x] motd is empty"),
        ("[defaults]\nmotd = \"\"\n[apps.x]\nroot = \"/srv\"\n", "motd is empty"),
    ])
    func errors(text: String, mentions: String) {
        #expect {
            _ = try ConfigFile.parse(text, path: "/etc/pk.toml")
        } throws: { error in
            (error as? PatchKeeperError)?.description.contains(mentions) == true
        }
    }

    @Test("a generated section parses back to the same settings")
    func sectionRoundTrip() throws {
        var app = AppConfig(name: "obs api")
        app.root = "/srv/with \"quote\""
        app.repo = "/srv/repo.git"
        app.ignore = ["tmp/", "log/"]
        let c = try ConfigFile.parse(ConfigFile.section(for: app), path: "x.toml")
        #expect(c.apps["obs api"] == app)
    }

    @Test("--app picks from several apps, and an unknown one lists the known")
    func appSelection() throws {
        let s = Scratch()
        s.write("c.toml", "[apps.a]\nroot = \"/a\"\n[apps.b]\nroot = \"/b\"\n")
        var o = AppOptions()
        o.configPath = s.file("c.toml")
        #expect(throws: PatchKeeperError.self) { try o.resolve(environment: [:]) }
        o.app = "b"
        #expect(try o.resolve(environment: [:]).app.root == "/b")
        o.app = "zzz"
        #expect {
            try o.resolve(environment: [:])
        } throws: { error in
            (error as? PatchKeeperError)?.description.contains("known apps: a, b") == true
        }
        var env = AppOptions()
        env.app = "a"
        #expect(try env.resolve(environment: ["PATCHKEEPER_CONFIG": s.file("c.toml")]).app.root == "/a")
    }
}

@Suite("Safe paths")
struct SafePathTests {
    @Test("clean relative paths are normalised")
    func normalises() throws {
        #expect(try SafePath.relative("a//b/./c", source: "t") == "a/b/c")
    }

    // A `/` followed by a combining mark is one Character with it: split at Characters, these
    // hid their `..` (and `.git`) inside a larger part; the kernel splits at the `/` byte.
    @Test("paths that leave the root are refused", arguments: ["../x", "a/../../x", "/etc/passwd", "", ".", "a\u{0}b", "a\nb", ".git/config",
                                                                "../\u{301}x", "a/../../\u{301}x", "a/..//\u{301}x", ".git/\u{301}hooks", "/\u{301}etc/passwd"])
    func refused(path: String) {
        #expect(throws: PatchKeeperError.self) { try SafePath.relative(path, source: "t") }
    }

    @Test("paths split at the / byte, as the kernel splits them: a combining mark after a slash starts the next part")
    func slashBytes() throws {
        let parts: [String] = "a/../\u{301}x".slashParts().map { String($0) }
        #expect(parts == ["a", "..", "\u{301}x"])
        let kept: [String] = "//a//b/".slashParts(omittingEmpty: false).map { String($0) }
        let reference: [String] = "//a//b/".split(separator: "/", omittingEmptySubsequences: false).map { String($0) }
        #expect(kept == reference)
        #expect(try SafePath.relative("d/\u{301}x", source: "t").utf8.elementsEqual("d/\u{301}x".utf8))
        #expect(POSIX.parentDirectory("d/\u{301}x") == "d" && POSIX.baseName("d/\u{301}x").utf8.elementsEqual("\u{301}x".utf8))
        #expect(SafePath.strip(prefix: "/srv/app", from: "/srv/app/\u{301}x").map { Array($0.utf8) } == Array("\u{301}x".utf8))
        #expect(SafePath.strip(prefix: "/srv/caf\u{E9}", from: "/srv/cafe\u{301}/x") == nil)
        // Plain paths split as before.
        var mix = SplitMix64(seed: 5)
        for _ in 0..<500 {
            let alphabet: [String] = ["a", "/", ".", "b", "\u{E9}"]
            var p = ""
            for _ in 0..<mix.int(0...12) { p += alphabet[mix.int(0...4)] }
            let mine: [String] = p.slashParts().map { String($0) }, theirs: [String] = p.split(separator: "/").map { String($0) }
            #expect(mine == theirs, "\(p)")
        }
    }

    @Test("a symlinked directory on the way is refused; a symlinked file is not")
    func symlinkedDirectory() throws {
        let s = Scratch()
        s.write("root/real/f", "x")
        s.write("outside/f", "y")
        try FileManager.default.createSymbolicLink(atPath: s.file("root/link"), withDestinationPath: s.file("outside"))
        try FileManager.default.createSymbolicLink(atPath: s.file("root/filelink"), withDestinationPath: "real/f")
        #expect(throws: PatchKeeperError.self) { try SafePath.checked("link/f", root: s.file("root"), source: "t") }
        #expect(try SafePath.checked("real/f", root: s.file("root"), source: "t") == "real/f")
        #expect(try SafePath.checked("filelink", root: s.file("root"), source: "t") == "filelink")
        #expect(throws: PatchKeeperError.self) { try SafePath.fromCommandLine(s.file("outside/f"), root: s.file("root")) }
        #expect(try SafePath.fromCommandLine(s.file("root/real/f"), root: s.file("root")) == "real/f")
    }
}

@Suite("Atomic writes and the lock")
struct AtomicAndLockTests {
    @Test("an atomic write keeps the file's mode and leaves no temp file")
    func keepsMode() throws {
        let s = Scratch()
        s.write("f", "old")
        chmod(s.file("f"), 0o640)
        try AtomicFile.write("new", to: s.file("f"))
        #expect(s.read("f") == "new")
        var st = stat()
        lstat(s.file("f"), &st)
        #expect(st.st_mode & 0o777 == 0o640)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.path) == ["f"])
    }

    @Test("an atomic write refuses to write through a symlink")
    func refusesSymlink() throws {
        let s = Scratch()
        s.write("target", "keep")
        try FileManager.default.createSymbolicLink(atPath: s.file("link"), withDestinationPath: s.file("target"))
        #expect(throws: PatchKeeperError.self) { try AtomicFile.write("evil", to: s.file("link")) }
        #expect(s.read("target") == "keep")
    }

    @Test("a second lock on the registry fails at once, and works after the first is released")
    func lockIsExclusive() throws {
        let s = Scratch()
        var first: RegistryLock? = try RegistryLock(path: s.file("lock"))
        #expect {
            _ = try RegistryLock(path: s.file("lock"), wait: 0.2)
        } throws: { error in
            (error as? PatchKeeperError)?.kind == .locked
        }
        _ = first
        first = nil
        _ = try RegistryLock(path: s.file("lock"))
    }
}
