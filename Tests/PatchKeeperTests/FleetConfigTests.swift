import Foundation
import Testing
@testable import PatchKeeper
import Git
import TestSupport

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

    /// Review F4: yaml twins, backups and editor copies of secret files, more well-known names, any case.
    @Test("secret patterns: yaml twins, backup and swap copies, more credential files, case-insensitive")
    func moreSecrets() throws {
        let f = try FleetConfig(remote: nil, host: "web1", secretPaths: ["config/smtp.yml"])
        for p in ["config/database.yaml", "config/secrets.production.yaml", "config/database.yml.bak", "config/database.yml.orig",
                  "config/database.yml~", "config/.database.yml.swp", "config/database.yml.bak.orig", "config/smtp.yml.bak",
                  "production.env", ".npmrc", "home/.pypirc", ".git-credentials", ".my.cnf", "keys/id_dsa", "keys/id_dsa.pub",
                  "android/release.jks", "app.keystore", "vault.kdbx", "config/application.yml", "app/config/parameters.yml",
                  "mysite/local_settings.py", "w/LocalSettings.php", "joomla/configuration.php", "src/appsettings.Production.json",
                  "appsettings.json", "CONFIG/DATABASE.YML", "Keys/Server.PEM", "wp-config.php.bak", ".ENV"] {
            #expect(f.isSecret(p), "\(p)")
        }
        for p in ["config/database.yml.example", "config/clock.rb.bak", "docs/env.md", "config/application.rb", "src/settings.py",
                  "package.json", ".bak", "~"] {
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

    /// Review F8: a publish that cannot take the registry lock said "see status" while status
    /// still showed the last success.
    @Test("a publish that cannot take the registry lock is recorded as pending")
    func lockedPublishIsPending() throws {
        let app = AppFixture()
        try Registry.create(path: app.registry, app: "api", committer: Person(name: "t", email: "t@t"), now: Date())
        let registry = try Registry(path: app.registry)
        git(["init", "-q", "--bare", app.scratch.file("remote.git")], in: app.scratch.path)
        let config = try FleetConfig(remote: app.scratch.file("remote.git"), host: "web1")
        let publisher = FleetPublisher(registry: registry, app: "api", config: config)
        let first = try #require(publisher.publish(lockWait: 0))
        #expect(first.ok, "\(first)")
        let held = try registry.lock(wait: 0, recover: false)
        let later = Date().addingTimeInterval(60)
        let locked = try #require(publisher.publish(lockWait: 0, now: later))
        withExtendedLifetime(held) {}
        #expect(!locked.ok)
        let saved = try #require(FleetPushState.load(registry: registry))
        #expect(!saved.ok, "\(saved)")
        #expect(saved.pendingSince != nil)
        #expect(saved.error?.contains("locked") == true, "\(saved)")
    }
}
