import Foundation
import PatchKeeper
import Testing
import TestSupport

/// The command line as an admin meets it (issue 15, "CLI behaviour"): usage errors that name
/// the mistake, --quiet/--verbose, tables measured in terminal columns, coloured diffs.
@Suite("CLI behaviour")
struct CLIBehaviourTests {
    func recorded() -> AppFixture {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        let r = pk(["record", "config/clock.rb", "--title", "Disable job", "--reason", "r"] + app.flags)
        precondition(r.status == 0, r.stderr)
        return app
    }

    @Test("apply of a patch with no Subject and no --title exits 64, like record without --title")
    func applyWithoutTitle() {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("fix.patch", "diff --git a/README b/README\n--- a/README\n+++ b/README\n@@ -1 +1 @@\n-The API.\n+The API, patched.\n")
        let before = snapshot(app.root)
        let r = pk(["apply", app.scratch.file("fix.patch"), "--reason", "docs"] + app.flags)
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("--title is required"))
        #expect(snapshot(app.root) == before)
        #expect(pk(["record", "config/clock.rb", "--reason", "r"] + app.flags).status == 64)
    }

    @Test("a mistyped option is named ('--titel'), not reported as a missing --title")
    func typoIsNamed() {
        let app = AppFixture()
        let r = pk(["record", "config/clock.rb", "--titel", "t", "--reason", "r"] + app.flags)
        #expect(r.status == 64)
        #expect(r.stderr.contains("--titel"), "\(r.stderr)")
        #expect(!r.stderr.contains("--title is required"), "\(r.stderr)")
        // Without a typo the missing title is still a usage error with the command's usage line.
        let missing = pk(["record", "config/clock.rb", "--reason", "r"] + app.flags)
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("--title is required") && missing.stderr.contains("Usage: patchkeeper record"), "\(missing.stderr)")
    }

    @Test("a mistyped command gets a suggestion")
    func commandSuggestion() {
        let r = pk(["scna"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("did you mean 'scan'?"), "\(r.stderr)")
        #expect(pk(["lsit"]).stderr.contains("did you mean 'list'?"))
        #expect(!pk(["frobnicate"]).stderr.contains("did you mean"))
    }

    @Test("--author and --owner must be 'Name <email>': a bare word is refused, not turned into bob@HOST")
    func authorMustBeNameAndEmail() {
        let app = recorded()
        for bad in ["bob", "bob@", "Bob <bob>", "Bob bob@example.org"] {
            let r = pk(["retire", "1", "--reason", "x", "--author", bad] + app.flags)
            #expect(r.status == 64, "\(bad): \(r.stderr)")
            #expect(r.stderr.contains("'Name <email>'"), "\(r.stderr)")
        }
        #expect(pk(["edit", "1", "--owner", "jane"] + app.flags).status == 64)
        let ok = pk(["edit", "1", "--ticket", "T-1", "--author", "Jane Admin <jane@example.org>"] + app.flags)
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test("diff's help says what paths are relative to, and it is true from inside the root")
    func diffHelpIsTrue() {
        let app = recorded()
        let help = pk(["help", "diff"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("<path> Only these files or directories: relative to the current directory when it is inside the root"), "\(help)")
        #expect(!help.contains("(relative to the root)"))
        app.scratch.write("live/config/extra.rb", "x\n")
        let inside = pk(["diff", "extra.rb"] + app.flags, cwd: app.root + "/config")
        #expect(inside.status == 1, "\(inside.stderr)")
        #expect(inside.stdout.contains("src/api/config/extra.rb"))
    }

    @Test("--quiet prints nothing and keeps the exit code; --verbose says what it uses on stderr")
    func quietAndVerbose() {
        let app = recorded()
        app.scratch.write("live/new.txt", "x\n")
        let quiet = pk(["scan", "--quiet"] + app.flags)
        #expect(quiet.status == 1)
        #expect(quiet.stdout.isEmpty, "\(quiet.stdout)")
        let loud = pk(["scan", "-v"] + app.flags)
        #expect(loud.status == 1)
        #expect(loud.stdout.contains("UNREGISTERED"))
        #expect(loud.stderr.contains("deployed \(app.v1)") && loud.stderr.contains("hashed"), "\(loud.stderr)")
        #expect(!pk(["scan"] + app.flags).stderr.contains("deployed \(app.v1)"))
        #expect(pk(["list", "--verbose"] + app.flags).stderr.contains("registry \(app.registry)"))
        #expect(pk(["scan", "-q", "-v"] + app.flags).status == 64)
        // JSON is unchanged by --quiet.
        #expect(pk(["scan", "--quiet", "--format", "json"] + app.flags).stdout.contains("\"unregistered\""))
    }

    @Test("progress on a terminal's stderr, but not when TERM=dumb")
    func noProgressOnDumbTerminal() throws {
        let app = recorded()
        let cmd = ([patchkeeperBinary(), "scan"] + app.flags).map { "'\($0)'" }.joined(separator: " ")
        let tty = run("/usr/bin/script", ["-qec", cmd, "/dev/null"], env: ["TERM": "xterm"])
        #expect(tty.stdout.contains("walking"), "\(tty.stdout)")
        let dumb = run("/usr/bin/script", ["-qec", cmd, "/dev/null"], env: ["TERM": "dumb"])
        #expect(dumb.stdout.contains("scan: clean"), "\(dumb.stdout)")
        #expect(!dumb.stdout.contains("walking"), "\(dumb.stdout)")
    }

    @Test("tables are measured in terminal columns: a CJK title keeps the columns aligned and the row in the width")
    func wideCharactersAlign() throws {
        let app = recorded()
        app.scratch.write("live/README", "読んでください\n")
        let title = "設定ファイルの読み込みを修正する長いタイトルです、とても長いタイトルです"
        let r = pk(["record", "README", "--title", title, "--reason", "r"] + app.flags)
        #expect(r.status == 0, "\(r.stderr)")
        let list = pk(["list"] + app.flags, env: ["COLUMNS": "80"])
        let rows = list.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("000") || $0.hasPrefix("ID") }
        #expect(rows.count == 3, "\(list.stdout)")
        for row in rows { #expect(Text.displayWidth(row) <= 80, "\(Text.displayWidth(row)) columns: \(row)") }
        // The FILES column starts at the same terminal column in every row.
        func filesColumn(_ row: String) -> Int? {
            let parts = row.components(separatedBy: " 1     ")
            return parts.count > 1 ? Text.displayWidth(parts[0]) : nil
        }
        let starts = rows.dropFirst().compactMap(filesColumn)
        #expect(starts.count == 2 && Set(starts).count == 1, "\(starts): \(list.stdout)")
        #expect(Text.displayWidth(String(rows[0].prefix(while: { $0 != "F" }))) == starts.first.map { $0 + 1 }, "\(list.stdout)")
        // Wider terminal: the whole title shows.
        #expect(pk(["list"] + app.flags, env: ["COLUMNS": "200"]).stdout.contains(title))
    }

    @Test("one header name for the patch id column: ID in list, scan and gate")
    func idHeader() {
        let app = recorded()
        #expect(pk(["list"] + app.flags).stdout.hasPrefix("ID "))
        #expect(pk(["scan"] + app.flags).stdout.contains("\nID     STATE"))
        app.commit(["src/api/README": "new\n"], message: "v2", tag: "v2")
        #expect(pk(["gate", "--target", "v2"] + app.flags).stdout.contains("\nID     VERDICT"))
    }

    @Test("diff and show colour the diff with --color always, and not with --color never or NO_COLOR")
    func colouredDiff() {
        let app = recorded()
        let show = pk(["show", "1", "--color", "always"] + app.flags)
        #expect(show.stdout.contains("\u{1B}[31m-  RssCleanup.run\u{1B}[0m"), "\(show.stdout)")
        #expect(show.stdout.contains("\u{1B}[36m@@"))
        #expect(!pk(["show", "1", "--color", "never"] + app.flags).stdout.contains("\u{1B}["))
        app.scratch.write("live/new.txt", "x\n")
        let diff = pk(["diff", "--color", "always"] + app.flags)
        #expect(diff.stdout.contains("\u{1B}[32m+x\u{1B}[0m"), "\(diff.stdout)")
        #expect(!pk(["diff"] + app.flags).stdout.contains("\u{1B}["))  // a pipe, NO_COLOR set by the harness
    }

    static let commands = ["init", "record", "apply", "list", "show", "edit", "retire", "resolve", "propose", "log", "status",
                           "scan", "diff", "gate", "reapply", "motd"]

    @Test("help COMMAND: the command's own options before the shared ones, a usage line that says something, examples that copy-paste")
    func helpPerCommand() throws {
        for name in Self.commands {
            let help = pk(["help", name], env: ["COLUMNS": "80"])
            #expect(help.status == 0)
            let lines = help.stdout.components(separatedBy: "\n")
            // Usage: more than "<options>".
            let usage = try #require(lines.first { $0.hasPrefix("USAGE: ") }, "\(name)")
            #expect(usage != "USAGE: patchkeeper \(name) <options>" && usage.count <= 80, "\(usage)")
            try Self.checkExamples(name, lines)
            // Own options first: --app (shared) comes after every option the command declares.
            if let app = lines.firstIndex(where: { $0.hasPrefix("  --app ") }) {
                let own = lines.indices.filter { i in
                    let l = lines[i]
                    return l.hasPrefix("  --") && !GlobalOptionNames.all.contains { l.hasPrefix("  \($0) ") || l.hasPrefix("  \($0),") }
                        && !l.hasPrefix("  --version") && !l.hasPrefix("  -h, --help")
                }
                #expect(own.allSatisfy { $0 < app }, "\(name): \(help.stdout)")
            }
        }
        let scan = pk(["help", "scan"]).stdout
        #expect(scan.contains("USAGE: patchkeeper scan [--motd]"))
        #expect(scan.firstRange(of: "--no-cache")!.lowerBound < scan.firstRange(of: "--app")!.lowerBound)
    }

    /// Examples, each line a whole command or the continuation of one ending in a backslash.
    static func checkExamples(_ name: String, _ lines: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let start = try #require(lines.firstIndex { $0 == "Examples:" }, "\(name) has no examples", sourceLocation: sourceLocation)
        let block = lines[(start + 1)...].prefix { !$0.isEmpty }
        #expect(!block.isEmpty, sourceLocation: sourceLocation)
        var continued = false
        for l in block {
            #expect(l.count <= 80 && l.hasPrefix("  "), "\(name): \(l)", sourceLocation: sourceLocation)
            let word = l.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
            #expect(continued || ["patchkeeper", "cd", "git", "vi"].contains(word), "\(name): a wrapped example line: \(l)", sourceLocation: sourceLocation)
            continued = l.hasSuffix("\\")
        }
    }

    @Test("help fleet, fleet report, fleet gate: a real usage line, examples that copy-paste, own options before the fleet ones")
    func helpFleet() throws {
        let shared = ["--config", "--remote", "--cache", "--ssh-key", "--ssh-host-key", "--no-fetch", "--stale-after", "--format", "--color"]
        let own = ["fleet": [], "fleet report": ["--prometheus-file"],
                   "fleet gate": ["--target", "--repo", "--app", "--policy", "--allow-expired", "--trust-repo"]]
        for (name, mine) in own {
            let help = pk(["help"] + name.split(separator: " ").map(String.init), env: ["COLUMNS": "80"])
            #expect(help.status == 0, "\(name): \(help.stderr)")
            let lines = help.stdout.components(separatedBy: "\n")
            let usage = try #require(lines.first { $0.hasPrefix("USAGE: ") }, "\(name)")
            #expect(!usage.hasSuffix("<options>") && !usage.hasSuffix("<subcommand>") && usage.count <= 80, "\(usage)")
            try Self.checkExamples(name, lines)
            if mine.isEmpty { continue }
            func index(_ option: String) -> Int? { lines.firstIndex { $0.hasPrefix("  \(option) ") } }
            let first = try #require(shared.compactMap(index).min(), "\(name): \(help.stdout)")
            for o in mine {
                let i = try #require(index(o), "\(name) lists no \(o): \(help.stdout)")
                #expect(i < first, "\(name): \(o) after the shared options:\n\(help.stdout)")
            }
        }
        #expect(pk(["help", "fleet", "gate"]).stdout.contains("USAGE: patchkeeper fleet gate --target REV"))
    }

    enum GlobalOptionNames {
        static let all = ["--app", "--config", "--root", "--repo", "--registry", "--subdir", "--deployed", "--trust-repo",
                          "--format", "--color", "--wait", "-q, --quiet", "-v, --verbose"]
    }

    @Test("completion: help <TAB> lists the commands; files for paths; patch ids, app names and git refs from the binary")
    func completion() throws {
        let bash = pk(["--generate-completion-script", "bash"]).stdout
        let helpFn = try #require(bash.range(of: "_patchkeeper_help() {").map { String(bash[$0.lowerBound...].prefix(600)) })
        #expect(helpFn.contains("compgen -W 'init record apply"), "\(helpFn)")
        #expect(pk(["--generate-completion-script", "zsh"]).stdout.contains("'*:subcommands:(init record"))
        #expect(pk(["--generate-completion-script=fish"]).stdout.contains("__fish_seen_subcommand_from help"))
        // Files and directories: apply's patch, record's paths, --config, --root, --metrics-file.
        let zsh = pk(["--generate-completion-script", "zsh"]).stdout
        #expect(zsh.contains("':file.patch:_files'"), "apply FILE")
        #expect(zsh.contains("--config[") && zsh.contains(":file:_files'"))
        #expect(zsh.contains(":dir:_files -/'"))
        #expect(zsh.contains("put {app} in the name).]:path:_files'"))

        // Candidates computed by the binary itself, reading only.
        let app = recorded()
        app.scratch.write("config.toml", "[apps.obs-api]\nroot = \"\(app.root)\"\n\n[apps.web]\nroot = \"/srv/web\"\n")
        let before = snapshot(app.registry)
        func complete(_ command: String, _ arg: String, _ words: [String]) -> [String] {
            let r = pk(["---completion", command, "--", arg, String(words.count - 1), String(words.last?.count ?? 0)] + words)
            return r.stdout.split(separator: "\n").map(String.init)
        }
        #expect(complete("show", "positional@0", ["patchkeeper", "show", "--registry", app.registry, ""]) == ["0001"])
        #expect(complete("show", "--app", ["patchkeeper", "show", "--config", app.config, "--app", ""]) == ["obs-api", "web"])
        #expect(complete("show", "--app", ["patchkeeper", "show", "--config", app.config, "--app", "w"]) == ["web"])
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2.0")
        let refs = complete("gate", "--target", ["patchkeeper", "gate", "--repo", app.repo, "--root", app.root, "--target", "v"])
        #expect(refs == ["v1", "v2.0"], "\(refs)")
        #expect(snapshot(app.registry) == before)
    }
}
