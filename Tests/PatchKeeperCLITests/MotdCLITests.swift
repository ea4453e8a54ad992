import Foundation
import Testing
import TestSupport

@Suite("CLI motd")
struct MotdCLITests {
    @Test("motd writes, refreshes and removes the block, keeping the rest of the file")
    func lifecycle() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        let motd = app.scratch.file("motd")
        let around = "Welcome to web1.\r\nAuthorized use only.\n"
        app.scratch.write("motd", around)
        chmod(motd, 0o640)

        // Nothing active: nothing written.
        let none = pk(["motd", "--file", motd] + app.flags)
        #expect(none.status == 0, "\(none.stderr)")
        #expect(none.stdout.contains("unchanged"))
        #expect(app.scratch.read("motd") == around)

        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "Disable the RSS job\u{1B}[31m\nFAKE LINE", "--reason", "locks",
                    "--author", "Jane <jane@example.org>"] + app.flags).status == 0)
        let w = pk(["motd", "--file", motd] + app.flags)
        #expect(w.status == 0, "\(w.stderr)")
        let text = try #require(app.scratch.read("motd"))
        #expect(text.hasPrefix(around))
        #expect(text.contains("# BEGIN patchkeeper live"))
        #expect(text.contains("MONKEY PATCHES"))
        #expect(text.contains("0001"))
        #expect(text.contains("applied"))
        #expect(!text.contains("\u{1B}"))
        #expect(!text.contains("\nFAKE LINE"))
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= 80 })
        var st = stat()
        lstat(motd, &st)
        #expect(st.st_mode & 0o777 == 0o640)

        // A deploy wipes the patch: scan --motd shows it stands out.
        app.deploy("v1")
        let s = pk(["scan", "--motd", "--motd-file", motd] + app.flags)
        #expect(s.status == 1)
        #expect(app.scratch.read("motd")?.contains("OVERWRITTEN") == true)

        // Retired: the block goes, the rest stays byte for byte.
        #expect(pk(["retire", "1", "--reason", "done"] + app.flags).status == 0)
        let r = pk(["motd", "--file", motd] + app.flags)
        #expect(r.stdout.contains("removed"))
        #expect(app.scratch.read("motd") == around)
    }

    @Test("a motd that is a symlink is refused with exit 2")
    func symlinkRefused() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        app.scratch.write("real", "keep\n")
        try FileManager.default.createSymbolicLink(atPath: app.scratch.file("motd"), withDestinationPath: app.scratch.file("real"))
        let r = pk(["motd", "--file", app.scratch.file("motd")] + app.flags)
        #expect(r.status == 2)
        #expect(r.stderr.contains("motd"))
        #expect(app.scratch.read("real") == "keep\n")
    }
}
