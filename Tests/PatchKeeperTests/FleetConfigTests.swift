import Foundation
import Testing
@testable import PatchKeeper

@Suite("Fleet config and secret paths")
struct FleetConfigTests {
    @Test("[fleet] is read with its keys; secret_paths add to the built-in list")
    func parses() throws {
        let c = try ConfigFile.parse("""
            [fleet]
            remote = "/srv/git/fleet.git"
            host = "web1"
            secret_paths = ["config/smtp.yml"]
            ssh_host_key = "SHA256:abc"

            [apps.api]
            root = "/srv/api"
            """, path: "/etc/pk.toml")
        let f = try #require(c.fleet)
        #expect(f.remote == "/srv/git/fleet.git")
        #expect(f.host == "web1")
        #expect(f.secretPaths.contains("config/database.yml"))
        #expect(f.secretPaths.last == "config/smtp.yml")
        #expect(f.sshHostKey == "SHA256:abc")
        #expect(c.appNames == ["api"])
    }

    @Test("bad [fleet] values are refused with the file and key", arguments: [
        ("[fleet]\nremotes = \"/x\"\n", "unknown key 'remotes' in [fleet]"),
        ("[fleet]\nhost = \"../web2\"\n", "host name"),
        ("[fleet]\nhost = \"web1.lock\"\n", "not valid in a git ref name"),
        ("[fleet]\nremote = \"http://git.example.org/fleet.git\"\n", "remote scheme 'http' is not supported"),
        ("[fleet]\nsecret_paths = \"config/x\"\n", "secret_paths must be an array"),
        ("[fleet]\nssh_host_key = \"abc\"\n", "ssh_host_key must be a SHA256"),
    ])
    func refuses(_ text: String, _ message: String) {
        do {
            _ = try ConfigFile.parse(text, path: "/etc/pk.toml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test("secret patterns: a bare name matches at any depth, a path matches the whole path or its end")
    func matching() throws {
        let f = try FleetConfig(remote: nil, host: "web1", secretPaths: ["deploy/*.yml"])
        for p in ["src/api/config/database.yml", "config/database.yml", ".env", "src/.env.production", "keys/server.pem",
                  "config/master.key", "app/config/credentials/production.yml.enc", "deploy/prod.yml", "x/deploy/prod.yml"] {
            #expect(f.isSecret(p), "\(p)")
        }
        for p in ["src/api/config/clock.rb", "config/database.yml.example", "environment.rb", "deploy/sub/prod.yml", "docs/keyboard.md"] {
            #expect(!f.isSecret(p), "\(p)")
        }
    }

    @Test("an ssh remote is recognised in URL and scp form; a path is not")
    func sshRemotes() {
        #expect(FleetConfig.isSSH("ssh://git@host/fleet.git"))
        #expect(FleetConfig.isSSH("git@host:fleet.git"))
        #expect(!FleetConfig.isSSH("/srv/git/fleet.git"))
        #expect(!FleetConfig.isSSH("file:///srv/git/fleet.git"))
        #expect(!FleetConfig.isSSH("./dir:with/colon"))
    }
}
