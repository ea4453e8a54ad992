import Foundation
import Testing
import TestSupport

/// `scan` and `diff` end to end on generated trees.
@Suite("CLI scan")
struct ScanTests {
    /// An app whose v2 also has a binary file, a CRLF file, a symlink and a .gitignore for tmp/,
    /// deployed and initialised.
    func richApp() -> AppFixture {
        let app = AppFixture(deploy: false)
        app.scratch.write("app/src/api/.gitignore", "tmp/*\n!tmp/.keep\n")
        app.scratch.write("app/src/api/tmp/.keep", "")
        app.scratch.write("app/src/api/windows.txt", "line one\r\nline two\r\n")
        _ = FileManager.default.createFile(atPath: app.scratch.file("app/src/api/logo.png"), contents: Data([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 0, 255]))
        try! FileManager.default.createSymbolicLink(atPath: app.scratch.file("app/src/api/config/current.yml"), withDestinationPath: "workers.yml")
        app.commit([:], message: "v1.1", tag: "v1.1")
        app.deploy("v1.1")
        let r = pk(["init"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    func scanJSON(_ app: AppFixture, _ extra: [String] = []) throws -> (status: Int32, json: [String: Any]) {
        let r = pk(["scan", "--format", "json"] + app.flags + extra)
        #expect(r.status != 2, "\(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
        return (r.status, obj)
    }

    func drift(_ j: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for d in (j["unregistered"] as? [[String: Any]]) ?? [] { out[d["path"] as! String] = d["change"] as? String }
        return out
    }

    func states(_ j: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for p in (j["patches"] as? [[String: Any]]) ?? [] { out[p["id"] as! String] = p["state"] as? String }
        return out
    }

    @Test("a freshly deployed tree is clean, with binary, CRLF and symlink files hashed as git does")
    func cleanTree() throws {
        let app = richApp()
        let r = pk(["scan"] + app.flags)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("scan: clean"))
    }

    @Test("every kind of unregistered drift is reported; ignored runtime files are not")
    func driftKinds() throws {
        let app = richApp()
        app.scratch.write("live/config/clock.rb", "every 2.hours do\nend\n")          // modified
        app.scratch.write("live/config/new_flag.rb", "X = 1\n")                       // added
        try FileManager.default.removeItem(atPath: app.root + "/README")              // deleted
        chmod(app.root + "/config/workers.yml", 0o755)                                // mode
        try FileManager.default.removeItem(atPath: app.root + "/config/current.yml")  // type: link -> file
        app.scratch.write("live/config/current.yml", "timeout: 30\n")
        app.scratch.write("live/windows.txt", "line one\r\nline 2\r\n")              // CRLF content change
        _ = FileManager.default.createFile(atPath: app.root + "/logo.png", contents: Data([0x89, 0x50, 0, 9]))  // binary change
        app.scratch.write("live/tmp/cache/page.html", "cached\n")                      // ignored by .gitignore
        let (status, j) = try scanJSON(app)
        #expect(status == 1)
        #expect(drift(j) == [
            "src/api/config/clock.rb": "modified", "src/api/config/new_flag.rb": "added", "src/api/README": "deleted",
            "src/api/config/workers.yml": "mode", "src/api/config/current.yml": "type", "src/api/windows.txt": "modified",
            "src/api/logo.png": "modified",
        ])
        #expect(j["clean"] as? Bool == false)
    }

    @Test("the app's ignore list and the deployed .patchkeeperignore hide drift; tracked files still count otherwise")
    func ignoreRules() throws {
        let app = richApp()
        // .patchkeeperignore counts only from the deployed revision (a live copy is compared like any file).
        app.commit(["src/api/.patchkeeperignore": "public/assets/\n"], message: "assets", tag: "v1.2")
        app.deploy("v1.2")
        app.scratch.write("live/log/production.log", "x\n")
        app.scratch.write("live/public/assets/app.js", "y\n")
        app.scratch.write("live/config/local.pyc", "z\n")
        app.scratch.write("live/config/workers.yml", "timeout: 99\nconcurrency: 4\n")
        // The registry belongs to the app richApp() initialised: "live", named after the root.
        app.scratch.write("config.toml", """
            [apps.live]
            root = "\(app.root)"
            repo = "\(app.repo)"
            subdir = "src/api"
            registry = "\(app.registry)"
            ignore = ["log/", "*.pyc"]
            """)
        let r = pk(["scan", "--format", "json", "--config", app.config])
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(drift(j) == ["src/api/config/workers.yml": "modified"])
        // A tracked file is ignored only when the app's list or the deployed .patchkeeperignore says so.
        app.commit(["src/api/.patchkeeperignore": "public/assets/\nconfig/workers.yml\n"], message: "workers", tag: "v1.3")
        app.deploy("v1.3")
        app.scratch.write("live/config/workers.yml", "timeout: 99\nconcurrency: 4\n")
        app.scratch.write("live/public/assets/app.js", "y\n")
        let r2 = pk(["scan", "--config", app.config])
        #expect(r2.status == 0, "\(r2.stdout)")
    }

    @Test("patch states: applied, overwritten by a deploy, modified on top, partial")
    func patchStates() throws {
        let app = richApp()
        app.scratch.write("live/config/clock.rb", "every 1.hour do\n  # RssCleanup.run\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "Disable job", "--reason", "locks"] + app.flags).status == 0)
        app.scratch.write("live/config/workers.yml", "timeout: 90\nconcurrency: 4\n")
        app.scratch.write("live/app/models/user.rb", "class User\nend\n")
        #expect(pk(["record", "config/workers.yml", "app/models/user.rb", "--title", "Two files", "--reason", "r"] + app.flags).status == 0)
        var (status, j) = try scanJSON(app)
        #expect(status == 0, "\(j)")
        #expect(states(j) == ["0001": "applied", "0002": "applied"])
        #expect(drift(j).isEmpty)

        // Someone edits on top of 0001; one file of 0002 goes back to the deployed content.
        app.scratch.write("live/config/clock.rb", "every 1.hour do\n  # RssCleanup.run\n  Other.run\nend\n")
        app.scratch.write("live/config/workers.yml", "timeout: 30\nconcurrency: 4\n")
        (status, j) = try scanJSON(app)
        #expect(status == 1)
        #expect(states(j) == ["0001": "modified", "0002": "partial"])
        // The edit on top of 0001 is an unregistered change (a deploy would lose it); the file of
        // 0002 back at the deployed content is explained by the patch (partial).
        #expect(drift(j) == ["src/api/config/clock.rb": "modified"])

        // A deploy replaces the tree: both patches are overwritten (the post-mortem's case).
        app.deploy("v1.1")
        let text = pk(["scan"] + app.flags)
        #expect(text.status == 1)
        #expect(text.stdout.contains("0001   OVERWRITTEN"))
        #expect(text.stdout.contains("back at the deployed content"))
        #expect(text.stdout.contains("scan: 2 overwritten"))
    }

    @Test("two patches on the same file are both applied when both hunks are present")
    func twoPatchesOneFile() throws {
        let app = richApp()
        app.scratch.write("live/app/models/user.rb", "class User\n  def name\n    @name\n  end\nend\n# patched by A\n")
        #expect(pk(["record", "app/models/user.rb", "--title", "A", "--reason", "r"] + app.flags).status == 0)
        app.scratch.write("live/app/models/user.rb", "# patched by B\nclass User\n  def name\n    @name\n  end\nend\n# patched by A\n")
        #expect(pk(["record", "app/models/user.rb", "--title", "B", "--reason", "r"] + app.flags).status == 0)
        var (status, j) = try scanJSON(app)
        #expect(status == 0, "\(j)")
        #expect(states(j) == ["0001": "applied", "0002": "applied"])
        // Take A's hunk out by hand: A is no longer applied, B still is.
        app.scratch.write("live/app/models/user.rb", "# patched by B\nclass User\n  def name\n    @name\n  end\nend\n")
        (status, j) = try scanJSON(app)
        #expect(status == 1)
        #expect(states(j)["0002"] == "applied")
        #expect(states(j)["0001"] != "applied")
    }

    @Test("a patched file that was deleted makes the patch modified, with the file missing")
    func patchedFileDeleted() throws {
        let app = richApp()
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        try FileManager.default.removeItem(atPath: app.root + "/config/clock.rb")
        let (status, j) = try scanJSON(app)
        #expect(status == 1)
        let p = try #require((j["patches"] as? [[String: Any]])?.first)
        #expect(p["state"] as? String == "modified")
        #expect((p["files"] as? [[String: Any]])?.first?["state"] as? String == "missing")
    }

    @Test("an expired patch is a finding even when applied")
    func expiredIsFinding() throws {
        let app = richApp()
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r", "--expires", "2099-01-01"] + app.flags).status == 0)
        backdateExpiry(registry: app.registry, file: "0001-t.patch", to: "2001-01-01")
        let r = pk(["scan"] + app.flags)
        #expect(r.status == 1)
        #expect(r.stdout.contains("EXPIRED 2001-01-01"))
    }

    @Test("the JSON report is pinned: sorted snake_case keys and schema_version 2")
    func pinnedJSON() throws {
        let app = richApp()
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "Disable job", "--reason", "r", "--expires", "2099-12-31"] + app.flags).status == 0)
        app.scratch.write("live/config/new_flag.rb", "X = 1\n")
        let r = pk(["scan", "--format", "json"] + app.flags)
        let rev = git(["rev-parse", "v1.1"], in: app.repo)
        // Stats and the first-seen time vary run to run; everything else is fixed.
        let stable = r.stdout.replacingOccurrences(of: #""stats" : \{[^}]*\}"#, with: "\"stats\" : {}", options: .regularExpression)
            .replacingOccurrences(of: #""first_seen" : "[0-9TZ:-]+""#, with: "\"first_seen\" : \"T\"", options: .regularExpression)
        #expect(stable == """
            {
              "app" : "live",
              "clean" : false,
              "deployed_revision" : "\(rev)",
              "patches" : [
                {
                  "expired" : false,
                  "expires" : "2099-12-31",
                  "files" : [
                    {
                      "path" : "src/api/config/clock.rb",
                      "state" : "applied"
                    }
                  ],
                  "id" : "0001",
                  "state" : "applied",
                  "title" : "Disable job"
                }
              ],
              "problems" : [

              ],
              "revision_source" : "\(app.root)/REVISION",
              "root" : "\(app.root)",
              "schema_version" : 2,
              "stats" : {},
              "unregistered" : [
                {
                  "change" : "added",
                  "first_seen" : "T",
                  "new" : true,
                  "path" : "src/api/config/new_flag.rb"
                }
              ]
            }

            """)
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let stats = try #require(j["stats"] as? [String: Any])
        #expect(Set(stats.keys) == ["files", "hashed", "cache_hits", "seconds"])
    }

    @Test("a warm rescan of an unchanged tree hashes nothing; a corrupt cache is discarded")
    func statCache() throws {
        let app = richApp()
        // Make every file older than the racy window.
        run("/bin/sh", ["-c", "find '\(app.root)' -exec touch -h -d '1 hour ago' {} +"])
        // ... and their ctime too (it cannot be set back: wait it out).
        Thread.sleep(forTimeInterval: 2.1)
        let (_, cold) = try scanJSON(app)
        let coldStats = try #require(cold["stats"] as? [String: Any])
        #expect((coldStats["hashed"] as? Int ?? 0) > 5)
        let (status, warm) = try scanJSON(app)
        #expect(status == 0)
        let warmStats = try #require(warm["stats"] as? [String: Any])
        #expect(warmStats["hashed"] as? Int == 0)
        #expect(warmStats["cache_hits"] as? Int == coldStats["hashed"] as? Int)
        // A change with the same size and a restored mtime is still caught (ctime differs).
        app.scratch.write("live/config/clock.rb", String(AppFixture.clock.reversed()))
        run("/usr/bin/touch", ["-d", "1 hour ago", app.root + "/config/clock.rb"])
        let (changed, j) = try scanJSON(app)
        #expect(changed == 1)
        #expect(drift(j) == ["src/api/config/clock.rb": "modified"])
        // Garbage in the cache file: discarded, not fatal.
        app.scratch.write("registry/.patchkeeper/statcache", "garbage")
        let (_, again) = try scanJSON(app)
        #expect(drift(again) == ["src/api/config/clock.rb": "modified"])
    }

    @Test("the stat cache's remembered tree positions and the kept deployed listing are not trusted across revisions, nor the cache rows when the walk parts ways; garbage or a FIFO in their place is not read")
    func statCacheAcrossRevisionsAndWalks() throws {
        let app = richApp()
        app.scratch.write("live/config/new_flag.rb", "X = 1\n")   // untracked in v1.1
        app.scratch.write("live/lib/extra.rb", "module Extra; end\n")
        run("/bin/sh", ["-c", "find '\(app.root)' -exec touch -h -d '1 hour ago' {} +"])
        Thread.sleep(forTimeInterval: 2.1)  // past the racy window of the files' ctime
        let (_, cold) = try scanJSON(app)
        #expect(drift(cold) == ["src/api/config/new_flag.rb": "added", "src/api/lib/extra.rb": "added"])
        let (_, warm) = try scanJSON(app)
        #expect((warm["stats"] as? [String: Any])?["hashed"] as? Int == 0)
        #expect(drift(warm) == drift(cold))

        // v1.2 tracks new_flag.rb with the live content, adds a file that sorts first (every
        // position in the listing moves) and deletes README; only REVISION moves to it, so the
        // walk meets every cached row in order while the tree they were cached for is another.
        app.commit(["src/api/config/new_flag.rb": "X = 1\n", "src/api/aaa.rb": "A = 1\n", "src/api/README": nil], message: "v1.2", tag: "v1.2")
        app.writeRevision("v1.2")
        run("/usr/bin/touch", ["-h", "-d", "1 hour ago", app.root + "/REVISION"])
        Thread.sleep(forTimeInterval: 2.1)
        let expected = ["src/api/aaa.rb": "deleted", "src/api/README": "added", "src/api/lib/extra.rb": "added"]
        let (_, nocache) = try scanJSON(app, ["--no-cache"])
        #expect(drift(nocache) == expected)
        let (_, moved) = try scanJSON(app)
        #expect(drift(moved) == expected)
        let (_, again) = try scanJSON(app)
        #expect(drift(again) == expected)
        #expect((again["stats"] as? [String: Any])?["hashed"] as? Int == 0)

        // The walk parts ways with the cached rows: files added, removed, a directory renamed.
        try FileManager.default.removeItem(atPath: app.root + "/lib/extra.rb")
        app.scratch.write("live/lib/zz/new.rb", "Z = 1\n")
        app.scratch.write("live/aaa.rb", "A = 1\n")
        try FileManager.default.moveItem(atPath: app.root + "/config", toPath: app.root + "/config2")
        let (_, fresh) = try scanJSON(app, ["--no-cache"])
        let (_, cached) = try scanJSON(app)
        #expect(drift(cached) == drift(fresh))
        #expect(drift(cached)["src/api/lib/zz/new.rb"] == "added" && drift(cached)["src/api/config/new_flag.rb"] == "deleted")

        // A FIFO in the cache's place is neither waited on nor fatal; the scan replaces it.
        let cache = app.registry + "/.patchkeeper/statcache"
        try FileManager.default.removeItem(atPath: cache)
        #expect(mkfifo(cache, 0o600) == 0)
        let (_, fifo) = try scanJSON(app)
        #expect(drift(fifo) == drift(fresh))

        // The deployed listing kept beside it: garbage or a FIFO there is read from the repository again.
        let listing = app.registry + "/.patchkeeper/deployed-listing"
        #expect(FileManager.default.fileExists(atPath: listing))
        app.scratch.write("registry/.patchkeeper/deployed-listing", "PKTREE1\ngarbage")
        let (_, garbage) = try scanJSON(app)
        #expect(drift(garbage) == drift(fresh))
        try FileManager.default.removeItem(atPath: listing)
        #expect(mkfifo(listing, 0o600) == 0)
        let (_, fifoListing) = try scanJSON(app)
        #expect(drift(fifoListing) == drift(fresh))
    }

    @Test("diff prints the unregistered drift as a patch git accepts, and record --all registers it")
    func diffAndRecordAll() throws {
        let app = richApp()
        #expect(pk(["diff"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        app.scratch.write("live/config/new_flag.rb", "X = 1\n")
        let d = pk(["diff"] + app.flags)
        #expect(d.status == 1)
        #expect(d.stdout.contains("diff --git a/src/api/config/clock.rb b/src/api/config/clock.rb"))
        #expect(d.stdout.contains("+++ b/src/api/config/new_flag.rb"))
        app.scratch.write("drift.patch", d.stdout)
        let check = run("/usr/bin/git", ["apply", "--check", app.scratch.file("drift.patch")], cwd: app.repo)
        #expect(check.status == 0, "\(check.stderr)")
        let only = pk(["diff", "config/new_flag.rb"] + app.flags)
        #expect(!only.stdout.contains("clock.rb"))

        let rec = pk(["record", "--all", "--title", "Found on the server", "--reason", "nobody registered it"] + app.flags)
        #expect(rec.status == 0, "\(rec.stderr)")
        #expect(rec.stdout.contains("src/api/config/clock.rb"))
        #expect(rec.stdout.contains("src/api/config/new_flag.rb"))
        #expect(pk(["scan"] + app.flags).status == 0)
        let none = pk(["record", "--from-drift", "--title", "t", "--reason", "r"] + app.flags)
        #expect(none.status == 2)
        #expect(none.stderr.contains("no unregistered changes"))
    }
}

@Suite("CLI scan with attributes")
struct ScanAttributesTests {
    @Test("a file git checks out with CRLF (.gitattributes eol=crlf) is not drift; a real edit to it is")
    func eolAttributes() throws {
        let app = AppFixture(deploy: false)
        app.commit(["src/api/.gitattributes": "*.bat text eol=crlf\n", "src/api/run.bat": "echo one\necho two\n"], message: "bat", tag: "v1.2")
        app.deploy("v1.2")
        // git archive applied the attribute: the live file has CRLF, the blob has LF.
        let live = try #require(FileManager.default.contents(atPath: app.root + "/run.bat"))
        #expect(String(decoding: live, as: UTF8.self) == "echo one\r\necho two\r\n")
        #expect(pk(["init"] + app.flags).status == 0)
        let clean = pk(["scan"] + app.flags)
        #expect(clean.status == 0, "\(clean.stdout)")
        app.scratch.write("live/run.bat", "echo one\r\necho 2\r\n")
        let dirty = pk(["scan", "--format", "json"] + app.flags)
        #expect(dirty.status == 1)
        #expect(dirty.stdout.contains("src/api/run.bat"))
    }
}

@Suite("CLI scan caches and who owns them")
struct ScanCacheOwnerTests {
    func stats(_ r: ProcessResult) throws -> [String: Any] {
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\(r.stderr)")
        return try #require(j["stats"] as? [String: Any])
    }

    func backdate(_ dir: String) {
        // Every file's mtime two years back: the cache rows are not racy by mtime.
        _ = run("/usr/bin/find", [dir, "-type", "f", "-exec", "touch", "-d", "2024-01-01", "{}", "+"])
    }

    @Test("the stat cache and the kept tree listing are believed only from a state directory this user owns",
          .enabled(if: getuid() == 0))
    func foreignStateIsNotBelieved() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        backdate(app.root)
        Thread.sleep(forTimeInterval: 2.1)  // past the racy window of the files' ctime
        _ = pk(["scan"] + app.flags)
        let warm = try stats(pk(["scan", "--format", "json"] + app.flags))
        #expect((warm["cache_hits"] as? Int ?? 0) > 0, "\(warm)")
        #expect(run("/bin/chown", ["-R", "65534:65534", app.registry + "/.patchkeeper"]).status == 0)
        let foreign = try stats(pk(["scan", "--format", "json"] + app.flags))
        #expect(foreign["cache_hits"] as? Int == 0, "a state directory another user owns was believed: \(foreign)")
    }

    @Test("a file whose mtime was set back is racy by its ctime: not taken from the cache right after a scan")
    func ctimeCountsForRacy() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        backdate(app.root)  // ctime: now; mtime: 2024
        _ = pk(["scan"] + app.flags)
        let next = try stats(pk(["scan", "--format", "json"] + app.flags))
        #expect(next["cache_hits"] as? Int == 0, "rows cached within the racy window of their ctime were used: \(next)")
    }
}

@Suite("CLI scan compares names as bytes")
struct ScanUnicodeNameTests {
    @Test("a file renamed between the composed and decomposed spellings of its name is drift, warm and cold (git compares bytes)")
    func canonicallyEquivalentRename() throws {
        let app = AppFixture(deploy: false)
        let composed = "src/api/config/caf\u{E9}.yml"  // é as one scalar
        app.commit([composed: "x: 1\n"], message: "cafe", tag: "v2")
        app.deploy("v2")
        #expect(pk(["init"] + app.flags).status == 0)
        #expect(pk(["scan"] + app.flags).status == 0)
        // Rename by bytes: composed C3 A9 -> decomposed 65 CC 81 ("e" + combining acute).
        let dir = app.root + "/config"
        let r = run("/usr/bin/python3", ["-c", "import os; d=os.fsencode(\(String(reflecting: dir))); os.rename(d+b'/caf\\xc3\\xa9.yml', d+b'/cafe\\xcc\\x81.yml')"])
        #expect(r.status == 0, "\(r.stderr)")
        for args in [["scan"], ["scan", "--no-cache"]] {
            let s = pk(args + ["--format", "json"] + app.flags)
            #expect(s.status == 1, "\(args): a rename to an equivalent name scanned clean: \(s.stdout)")
        }
    }

    /// Makes `rel` (bytes given as a Python bytes literal body) under `base` with `content`.
    func makeFile(_ base: String, _ rel: String, _ content: String = "x\n") {
        let r = run("/usr/bin/python3", ["-c", "import os; p=os.fsencode(\(String(reflecting: base)))+b'/\(rel)'; os.makedirs(os.path.dirname(p), exist_ok=True); open(p,'wb').write(\(String(reflecting: content)).encode())"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test("a patch on café does not explain a new file spelled cafe + U+0301 beside it (hostile review, warm and cold)")
    func patchDoesNotExplainOtherSpelling() throws {
        let app = AppFixture(deploy: false)
        app.commit(["src/api/config/caf\u{E9}.yml": "x: 1\n"], message: "cafe", tag: "v2")
        app.deploy("v2")
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/caf\u{E9}.yml", "x: 2\n")
        #expect(pk(["record", "config/caf\u{E9}.yml", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        #expect(pk(["scan"] + app.flags).status == 0)
        makeFile(app.root, "config/cafe\\xcc\\x81.yml", "evil\n")
        for args in [["scan"], ["scan", "--no-cache"], ["scan"]] {
            let s = pk(args + app.flags)
            #expect(s.status == 1 && s.stdout.contains("added"), "\(args): a file beside a patched one, spelled another way, scanned clean: \(s.stdout)")
        }
    }

    @Test("the walk skips the registry inside the root by its bytes: a directory whose combining marks come in the other order is scanned")
    func skipIsByBytes() throws {
        let app = AppFixture()
        let registry = app.root + "/reg\u{316}\u{301}"
        let flags = ["--root", app.root, "--repo", app.repo, "--subdir", "src/api", "--registry", registry]
        #expect(pk(["init"] + flags).status == 0)
        // (The registry's public summary beside it is inside the root too, and reported.)
        #expect(!pk(["scan"] + flags).stdout.contains("x.php"))
        makeFile(app.root, "reg\\xcc\\x81\\xcc\\x96/x.php", "<?php evil();\n")
        for args in [["scan"], ["scan", "--no-cache"]] {
            let s = pk(args + flags)
            #expect(s.status == 1 && s.stdout.contains("x.php"), "\(args): \(s.stdout)\(s.stderr)")
        }
    }

    @Test("a folder under x/.git/ whose name starts with a combining mark is scanned (split at the / byte; hostile review)")
    func nestedGitFolderWithCombiningMark() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        makeFile(app.root, "x/.git/\\xcc\\x81y/shell.php", "<?php evil();\n")
        for args in [["scan", "--no-cache"], ["scan"]] {
            let s = pk(args + app.flags)
            #expect(s.status == 1 && s.stdout.contains("shell.php"), "\(args): \(s.stdout)\(s.stderr)")
        }
    }

    @Test("a registry outside the root whose path is another spelling of a folder inside it does not hide that folder")
    func registrySpelledLikeRootFolder() throws {
        let app = AppFixture()
        let base = app.scratch.path
        // root: <base>/café (composed), a copy of the deployed tree; registry: <base>/cafe\u{301}/reg.
        let r = run("/usr/bin/python3", ["-c", "import os, shutil; b=os.fsencode(\(String(reflecting: base))); shutil.copytree(b+b'/live', b+b'/caf\\xc3\\xa9'); os.makedirs(b+b'/cafe\\xcc\\x81')"])
        #expect(r.status == 0, "\(r.stderr)")
        let root = base + "/caf\u{E9}", registry = base + "/cafe\u{301}/reg"
        let flags = ["--app", "cafe", "--root", root, "--repo", app.repo, "--subdir", "src/api", "--registry", registry]
        let i = pk(["init"] + flags)
        #expect(i.status == 0, "\(i.stderr)")
        #expect(pk(["scan"] + flags).status == 0)
        makeFile(root, "reg/shell.php", "<?php evil();\n")
        for args in [["scan", "--no-cache"], ["scan"]] {
            let s = pk(args + flags)
            #expect(s.status == 1 && s.stdout.contains("reg/shell.php"), "\(args): \(s.stdout)\(s.stderr)")
        }
    }

    @Test("record keeps two spellings of one name apart: a mode change on cafe + U+0301 after a patch on café is a mode-only patch of that file")
    func recordKeepsSpellingsApart() throws {
        let app = AppFixture(deploy: false)
        makeFile(app.repo, "src/api/caf\\xc3\\xa9.sh", "nfc\n")
        makeFile(app.repo, "src/api/cafe\\xcc\\x81.sh", "nfd\n")
        app.commit([:], message: "twins", tag: "v2")
        app.deploy("v2")
        #expect(pk(["init"] + app.flags).status == 0)
        makeFile(app.root, "caf\\xc3\\xa9.sh", "nfc patched\n")
        #expect(pk(["record", "caf\u{E9}.sh", "--title", "one", "--reason", "r"] + app.flags).status == 0)
        chmod(app.root + "/cafe\u{301}.sh", 0o755)
        let r = pk(["record", "cafe\u{301}.sh", "--title", "two", "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        let second = try #require(try FileManager.default.contentsOfDirectory(atPath: app.registry).first { $0.hasPrefix("0002") })
        let text = try String(contentsOfFile: app.registry + "/" + second, encoding: .utf8)
        #expect(text.contains("new mode 100755") && !text.contains("nfc patched") && !text.contains("@@"), "\(text)")
        // Both spellings in one record: two files in the patch.
        makeFile(app.root, "caf\\xc3\\xa9.sh", "nfc again\n")
        makeFile(app.root, "cafe\\xcc\\x81.sh", "nfd again\n")
        let both = pk(["record", "cafe\u{301}.sh", "caf\u{E9}.sh", "--title", "both", "--reason", "r"] + app.flags)
        #expect(both.status == 0, "\(both.stderr)")
        let third = try #require(try FileManager.default.contentsOfDirectory(atPath: app.registry).first { $0.hasPrefix("0003") })
        let t3 = try String(contentsOfFile: app.registry + "/" + third, encoding: .utf8)
        #expect(t3.contains("+nfc again") && t3.contains("+nfd again"), "\(t3)")
        #expect(pk(["scan"] + app.flags).status == 0)
    }

    @Test("apply refuses a patch naming two files whose names differ only in their Unicode spelling, and writes nothing")
    func applyRefusesTwinSpellings() throws {
        let app = AppFixture(deploy: false)
        makeFile(app.repo, "src/api/caf\\xc3\\xa9.sh", "nfc\n")
        makeFile(app.repo, "src/api/cafe\\xcc\\x81.sh", "nfd\n")
        app.commit([:], message: "twins", tag: "v2")
        app.deploy("v2")
        #expect(pk(["init"] + app.flags).status == 0)
        makeFile(app.repo, "src/api/caf\\xc3\\xa9.sh", "nfc fixed\n")
        makeFile(app.repo, "src/api/cafe\\xcc\\x81.sh", "nfd fixed\n")
        let diff = run("/usr/bin/env", ["git", "-C", app.repo, "-c", "core.quotepath=false", "diff"])
        #expect(diff.status == 0 && diff.stdout.contains("nfd fixed"), "\(diff.stderr)")
        app.scratch.write("twins.patch", diff.stdout)
        let r = pk(["apply", app.scratch.file("twins.patch"), "--title", "t", "--reason", "r"] + app.flags)
        #expect(r.status == 2 && r.stderr.contains("differ only in their Unicode spelling"), "\(r.stdout)\(r.stderr)")
        #expect(pk(["scan"] + app.flags).status == 0)  // nothing written
    }

    @Test("a deployed listing in the first format (paths as repaired strings) is not trusted: the tree is read again")
    func oldListingFormatIgnored() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        #expect(pk(["scan"] + app.flags).status == 0)
        let path = app.registry + "/.patchkeeper/deployed-listing"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Array(bytes.prefix(8)) == Array("PKTREE3\n".utf8))
        // The same listing under the old tag, with README renamed to READMF: believed, it would
        // give README added and READMF deleted.
        bytes.replaceSubrange(0..<8, with: Array("PKTREE1\n".utf8))
        let readme = Array("README".utf8)
        let at = try #require((0...(bytes.count - readme.count)).first { Array(bytes[$0..<$0 + readme.count]) == readme })
        bytes[at + 5] = UInt8(ascii: "F")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let s = pk(["scan"] + app.flags)
        #expect(s.status == 0, "an old-format listing was believed: \(s.stdout)")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(8)) == Array("PKTREE3\n".utf8))
    }
}
