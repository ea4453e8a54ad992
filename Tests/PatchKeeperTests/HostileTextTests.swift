import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

/// Small, fast regressions for hostile input found by the corpus and the fuzzers.
@Suite("Hostile text")
struct HostileTextTests {
    @Test("a control character in a path is shown as two hex digits: '\\x0a' + 'b', never '\\xab'")
    func quotedControl() {
        #expect(throws: PatchKeeperError.self) { try SafePath.relative("a\nb", source: "path") }
        do { _ = try SafePath.relative("a\nb", source: "path") } catch let e as PatchKeeperError {
            #expect(e.message.contains("'a\\x0ab'"), "\(e.message)")
        } catch {}
    }

    @Test("a folded header line with no header before it is refused: a rewrite would fold it into Subject (fuzz finding)")
    func leadingFoldedHeader() {
        let text = "From \n :\nFrom: r\nSubject: t\n\n---\ndiff --git d s \n--- v/l\n+++ s/e\n@@ -0,0 +1 @@\n+\n"
        #expect {
            try PatchFile.parse(text, fileName: "f.patch", requireRegistryFields: false)
        } throws: { error in
            let e = error as? PatchFile.ParseError
            return e?.line == 2 && e?.message.hasPrefix("not a mail header line") == true
        }
    }

    @Test("a subject of blanks is missing, and blanks around a subject go: a rewrite reads it back the same (fuzz finding)")
    func blankSubject() throws {
        let tail = "\n\nr\n\nPatch-Id: 0001\nBase: 8c1f0e2d6b0f11111111111111111111111111ab\n---\n"
            + "diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n"
        #expect(throws: PatchFile.ParseError.self) {
            try PatchFile.parse("From x\nFrom: A <a@b>\nSubject:  " + tail, fileName: "f.patch")
        }
        let p = try PatchFile.parse("From x\nFrom: A <a@b>\nSubject:   spaced  " + tail, fileName: "f.patch")
        #expect(p.subject == "spaced")
        #expect(try PatchFile.parse(p.render(), fileName: "f.patch") == p)
    }

    @Test("an author with blanks inside the angle brackets reads back the same after a rewrite (fuzz finding)",
          arguments: ["< r>", "Jane < jane@example.org >", "<\tx@y >"])
    func authorBlanks(text: String) throws {
        let p = try #require(Person.parse(text, host: "h"))
        #expect(Person.parse(p.formatted, host: "h") == p)
        let file = "From x\nFrom: \(text)\nSubject: t\n\n---\ndiff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
        let parsed = try PatchFile.parse(file, fileName: "f.patch", requireRegistryFields: false)
        #expect(try PatchFile.parse(parsed.render(), fileName: "f.patch", requireRegistryFields: false) == parsed)
    }

    @Test("what toml++ would abort on is an error naming the line: a bad table name, a '}' where an array value goes (fuzz findings)",
          arguments: ["[äpps.web]\nroot = \"/srv\"\n", "  [[ é]]\n", "[\u{FFFD}pps.x\nroot = 1\n", "[;pps.x]\n", "[.x]\n", "[\n", "[", "\u{FEFF}[\u{D4}a]\n",
                      "[apps.x]\nignore = [}]\n", "[apps.x]\nignore = [\"tmp/\", # c\n}\n]\n", "a = [[}]]\n", "a = { b = [ 1, } ] }\n",
                      "7= 0----x---- 2\n", "e =[['', [''', ' [['''', }]]\n", "[apps.x]\ntrusted = True\n", "a = 2024-01-01\n", "a = [,]\n", "a = ,\n"])
    func tomlPlusPlusAborts(text: String) {
        #expect {
            try ConfigFile.parse(text, path: "/etc/pk.toml")
        } throws: { error in
            (error as? PatchKeeperError)?.description.contains("/etc/pk.toml:") == true
        }
    }

    @Test("the values the config holds still reach their own checks", arguments: [
        ("[apps.x]\nroot = 5\n", "root must be a string"), ("[apps.x]\ntrusted = \"yes\"\n", "trusted must be true or false"),
        ("[apps.x]\nignore = [1, 2]\n", "ignore must be an array of strings"), ("[apps.x]\ntrusted = -1\n", "trusted must be true or false"),
    ])
    func configTypes(text: String, mentions: String) {
        #expect {
            try ConfigFile.parse(text, path: "/etc/pk.toml")
        } throws: { error in
            (error as? PatchKeeperError)?.description.contains(mentions) == true
        }
    }

    @Test("valid TOML with brackets, braces, quotes and non-ASCII in strings and comments still parses")
    func validTrickyTOML() throws {
        let c = try ConfigFile.parse(#"""
            # café [x] = [}]
            [apps."café"]  # [;]
            root = "/srv/café \" [} ] #"
            ignore = [ # a comment with } in it
              "tmp/", '[}]', """
            ] }""",
              'x', # trailing comma next
            ]
            trusted = false
            [ apps.'x' ]
            motd = '''
            [;
            '''
            registry = ''''That,' she said, 'is still pointless.''''
            repo = """"quoted" "twice"""""
            [apps._-9]
            subdir = """a\
            b"""
            """#, path: "/etc/pk.toml")
        #expect(c.apps["café"]?.root == "/srv/café \" [} ] #")
        #expect(c.apps["café"]?.ignore == ["tmp/", "[}]", "] }", "x"])
        // Relative paths are taken from the config file's directory (/etc).
        #expect(c.apps["x"]?.motd == "/etc/[;\n")
        #expect(c.apps["x"]?.registry == "/etc/'That,' she said, 'is still pointless.'")
        #expect(c.apps["x"]?.repo == "/etc/\"quoted\" \"twice\"\"")
        #expect(c.apps["_-9"]?.subdir == "ab")
        #expect(c.appNames == ["_-9", "café", "x"])
    }

    @Test("a reason loses escape sequences whole, not just their ESC byte")
    func blockEscapes() {
        let s = Text.sanitizedBlock("Why \u{1B}]0;owned\u{07}\u{1B}[31mred\u{1B}[0m\nline two\r\n")
        #expect(s == "Why red\nline two\n")
    }
}
