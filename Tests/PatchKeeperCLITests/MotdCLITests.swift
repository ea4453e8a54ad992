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
        #expect(none.stdout.contains("motd: no block for live in \(motd), nothing to remove (0 active patches"), "\(none.stdout)")
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

    @Test("motd --remove reports what it did without scan counts; a missing file is named as missing")
    func removeReports() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        let motd = app.scratch.file("motd")
        for n in 1...3 {
            app.scratch.write("live/config/clock.rb", "every \(n).hour do\nend\n")
            #expect(pk(["record", "config/clock.rb", "--title", "t\(n)", "--reason", "r"] + app.flags).status == 0)
        }
        let w = pk(["motd", "--file", motd] + app.flags)
        #expect(w.stdout == "motd: written block in \(motd) (3 active patches, 0 unregistered changes)\n", "\(w.stdout)\(w.stderr)")
        let r = pk(["motd", "--remove", "--file", motd] + app.flags)
        #expect(r.status == 0)
        #expect(r.stdout == "motd: removed block in \(motd)\n", "\(r.stdout)")
        let again = pk(["motd", "--remove", "--file", motd] + app.flags)
        #expect(again.stdout == "motd: no block for live in \(motd), nothing to remove\n", "\(again.stdout)")
        let missing = app.scratch.file("no-such-motd")
        let m = pk(["motd", "--remove", "--file", missing] + app.flags)
        #expect(m.status == 0)
        #expect(m.stdout == "motd: no block for live: \(missing) does not exist\n", "\(m.stdout)")
        let json = pk(["motd", "--remove", "--file", missing, "--format", "json"] + app.flags)
        #expect(json.stdout.contains("\"action\" : \"no-file\"") || json.stdout.contains("\"action\":\"no-file\""), "\(json.stdout)")
        #expect(!json.stdout.contains("active"))
    }
}

@Suite("CLI motd crash")
struct MotdCrashTests {
    @Test("a crash just before the banner's rename leaves a temp file only its owner can read")
    func crashLeavesPrivateTemp() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        try FileManager.default.createDirectory(atPath: app.scratch.file("motd.d"), withIntermediateDirectories: true)
        let banner = app.scratch.file("motd.d/50-patchkeeper-live")
        var crashed = false
        // Each run that dies leaves the caches it wrote, so later runs take fewer steps; one that
        // finishes has written the banner (and a run that finds it current does not write it).
        // Then the banner is removed and the count starts again over the now warm state.
        var n = 1, restarts = 0
        while n <= 40 {
            let r = pk(["motd", "--file", banner] + app.flags,
                       env: ["PATCHKEEPER_FAULT_AFTER": "\(n)", "PATCHKEEPER_FAULT_VERBOSE": "1"])
            if r.stderr.contains("fault injected at step \(n): before rename \(banner)") {
                crashed = true
                break
            }
            if r.status != 97 {
                try? FileManager.default.removeItem(atPath: banner)
                restarts += 1
                if restarts > 1 { break }
                n = 1
                continue
            }
            n += 1
        }
        #expect(crashed, "no run died just before the banner's rename")
        let temps = try FileManager.default.contentsOfDirectory(atPath: app.scratch.file("motd.d")).filter { $0.contains(".pk-tmp-") }
        #expect(temps.count == 1, "\(temps)")
        for t in temps {
            var st = stat()
            #expect(lstat(app.scratch.file("motd.d/" + t), &st) == 0 && st.st_mode & 0o077 == 0, "\(t) is readable by others")
        }
        #expect(pk(["motd", "--remove", "--file", banner] + app.flags).status == 0)
        let left = try FileManager.default.contentsOfDirectory(atPath: app.scratch.file("motd.d"))
        #expect(left.isEmpty, "\(left)")
    }
}

/// The banner refresh as the shipped unit runs it: /etc read-only (ProtectSystem=strict), umask
/// 0077, /run/motd.d writable. A private mount namespace makes /etc read-only and puts an empty
/// tmpfs on /run, so the host's /etc and /run are never touched.
@Suite("CLI motd under the hardened unit")
struct MotdUnitTests {
    static let unshare = "/usr/bin/unshare"
    /// unshare -m and a read-only bind mount work here (root, no seccomp or container rule against it).
    static let namespacesWork: Bool = {
        guard FileManager.default.isExecutableFile(atPath: unshare) else { return false }
        return run(unshare, ["-m", "--propagation", "private", "/bin/sh", "-c",
                             "mount --bind /etc /etc && mount -o remount,bind,ro /etc && mount -t tmpfs tmpfs /run"]).status == 0
    }()

    /// Runs `patchkeeper ARGS` in a private mount namespace with /etc read-only and an empty /run,
    /// then prints the default banner file, its mode and its directory's mode.
    func pkAsTheUnit(_ args: [String], banner: String) -> ProcessResult {
        let script = """
            set -e
            mount --bind /etc /etc
            mount -o remount,bind,ro /etc
            mount -t tmpfs -o mode=0755 tmpfs /run
            umask 077
            if touch /etc/.patchkeeper-probe 2>/dev/null; then rm -f /etc/.patchkeeper-probe; echo "etc is writable" >&2; exit 99; fi
            set +e
            "$@"
            status=$?
            echo "== status $status"
            if [ -f '\(banner)' ]; then
                echo "== banner $(stat -c %a '\(banner)') dir $(stat -c %a "$(dirname '\(banner)')")"
                cat '\(banner)'
            fi
            exit 0
            """
        return run(Self.unshare, ["-m", "--propagation", "private", "/bin/sh", "-c", script, "sh", patchkeeperBinary()] + args)
    }

    @Test("scan --motd writes its default banner, /run/motd.d/50-patchkeeper-APP, under a read-only /etc; /etc/motd fails there",
          .enabled(if: MotdUnitTests.namespacesWork, "skipped: unshare -m with a read-only bind mount is not permitted here"))
    func defaultBannerUnderReadOnlyEtc() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "Disable the RSS job", "--reason", "r"] + app.flags).status == 0)
        let banner = "/run/motd.d/50-patchkeeper-live"  // the fixture app is "live", the root's directory name
        let r = pkAsTheUnit(["scan", "--motd"] + app.flags, banner: banner)
        #expect(r.stdout.contains("== status 0"), "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("motd: written block in \(banner)"), "\(r.stdout)")
        #expect(r.stdout.contains("== banner 644 dir 755"), "\(r.stdout)")
        #expect(r.stdout.contains("*** MONKEY PATCHES ACTIVE on live: 1 ***"))
        #expect(!r.stdout.contains("# BEGIN patchkeeper"))

        // The old default: /etc/motd is refused by the read-only /etc, with exit 2 and the reason.
        let etc = pkAsTheUnit(["scan", "--motd", "--motd-file", "/etc/motd"] + app.flags, banner: banner)
        #expect(etc.stdout.contains("== status 2"), "\(etc.stdout)\(etc.stderr)")
        #expect(etc.stderr.contains("Read-only file system"), "\(etc.stderr)")
    }
}
