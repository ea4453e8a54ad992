import ArgumentParser
import Testing
@testable import PatchKeeperCLI

/// `patchkeeper SUBCOMMAND ARGS` is parsed as SUBCOMMAND alone when it can be (start-up time);
/// what that gives must be what the root's parse gives, and anything else must go to the root.
@Suite("leaf-command parse")
struct LeafParseTests {
    static let flags = ["--root", "/srv/app/current", "--repo", "/srv/app/repo", "--registry", "/var/lib/pk/app"]

    /// Argument vectors the leaf parse must take, and parse exactly as the root does.
    static let accepted: [[String]] = [
        ["scan"] + flags,
        ["scan", "--no-cache", "--format", "json"] + flags,
        ["gate", "--target", "v2", "--policy", "reapply"] + flags,
        ["gate", "--target=v2", "--format=json"] + flags,
        ["reapply", "--dry-run"] + flags,
        ["gate"] + flags,
        ["list", "--all"] + flags,
        ["list"],
        ["status", "--app", "shop"],
        ["record", "config/clock.rb", "--title", "t", "--reason", "r"] + flags,
        ["motd", "--file", "/tmp/motd"] + flags,
        ["init"] + flags,
        ["diff", "--", "a b.rb"] + flags,
    ]

    @Test("what the leaf parse accepts, it parses as the root does", arguments: accepted)
    func sameAsRoot(_ args: [String]) throws {
        guard let leaf = PatchKeeperMain.leafCommand(args) else {
            Issue.record("the leaf parse refused \(args)")
            return
        }
        let root = try PatchKeeperCommand.parseAsRoot(args)
        #expect(type(of: leaf) == type(of: root))
        #expect(String(reflecting: leaf) == String(reflecting: root))
    }

    /// Help, usage errors, unknown commands, command groups and root options go to the root's
    /// parse, which says what it always said.
    static let refused: [[String]] = [
        [], ["--help"], ["--version"], ["help", "gate"], ["gate", "--help"], ["gate", "-h"],
        ["gate", "--policy", "lenient"] + flags,
        ["gate", "--target", "v2", "--bogus"] + flags,
        ["scan", "--format", "yaml"] + flags,
        ["scna"] + flags,
        ["fleet"], ["fleet", "gate", "--target", "v2"],
        ["--generate-completion-script", "bash"],
        ["gate", "--generate-completion-script", "bash"],
    ]

    @Test("the leaf parse leaves help, errors and command groups to the root", arguments: refused)
    func refusedGoesToRoot(_ args: [String]) {
        #expect(PatchKeeperMain.leafCommand(args) == nil)
    }
}
