import Foundation
import Testing
@testable import PatchKeeper

/// `ConfigFile.section(for:)` (what `init` appends) must read back as the same app: the
/// invariant FuzzConfig checks. `target` and `public_summary` were left out of it.
@Suite("Config section round trip")
struct ConfigSectionTests {
    @Test("every setting survives section(for:) -> parse", arguments: [
        "[apps.a]\nroot = \"/srv/a\"\ntarget = \"origin/main\"\n",
        "[apps.a]\nroot = \"/srv/a\"\npublic_summary = false\n",
        "[defaults]\npublic_summary = false\n[apps.a]\nroot = \"/srv/a\"\n",
        "[apps.\"ä b\"]\nroot = \"/srv/a\"\nrepo = \"/r\"\nsubdir = \"src\"\nregistry = \"/reg\"\ndeployed = \"v1\"\nmotd = \"/etc/motd\"\nignore = [\"tmp/\"]\ntrusted = true\ntarget = \"v2\"\n",
    ])
    func roundTrip(text: String) throws {
        let config = try ConfigFile.parse(text, path: "t.toml")
        for name in config.appNames {
            let app = try #require(config.apps[name])
            let again = try ConfigFile.parse(ConfigFile.section(for: app), path: "again.toml")
            #expect(again.apps[name] == app, "\(ConfigFile.section(for: app))")
        }
    }
}
