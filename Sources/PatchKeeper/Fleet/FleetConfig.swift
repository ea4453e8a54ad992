#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git
import TOMLKit

/// The config's `[fleet]` table: where this host publishes its registries, under which name, and
/// which paths never leave the host with their content.
///
/// ```toml
/// [fleet]
/// remote = "ssh://git@git.example.org/patchkeeper-fleet.git"   # or a path, file://
/// host = "web1"                          # default: this machine's host name (up to the first '.')
/// secret_paths = ["config/smtp.yml"]     # added to the built-in list (defaultSecretPaths)
/// cache = "/var/cache/patchkeeper/fleet" # where 'patchkeeper fleet' keeps its copy
/// ssh_key = "/etc/patchkeeper/fleet_ed25519"        # ssh: the login key (default: ssh-agent)
/// ssh_host_key = "SHA256:..."            # ssh: the server's host key, required for ssh remotes
/// timeout = 60                           # seconds a push may take before it is abandoned
/// ```
public struct FleetConfig: Sendable, Equatable {
    /// The central git remote (nil: nothing is published; `fleet` then needs `--remote`).
    public var remote: String?
    /// This host's name in the ref namespace (`refs/patchkeeper/HOST/APP/...`).
    public var host: String
    /// Patterns of repository paths whose patch bodies are redacted and whose images stay home.
    public var secretPaths: [String]
    /// The local cache repository of `patchkeeper fleet`.
    public var cache: String?
    /// ssh: the private key to log in with (nil: ssh-agent), and the server's pinned host key
    /// (`SHA256:...` as `ssh-keygen -lf` prints it; libgit2 1.5 reads no known_hosts).
    public var sshKey: String?
    public var sshHostKey: String?
    /// Seconds a push may take (libgit2 1.5 has no network timeout): a remote that never answers
    /// leaves the publish pending instead of hanging the command.
    public var timeout: Int = 60

    public var auth: RemoteAuth { RemoteAuth(privateKey: sshKey, hostKeySHA256: sshHostKey) }

    /// Files that usually hold passwords or keys. A pattern without '/' matches a file name at any
    /// depth; one with '/' matches the whole path or its end (`config/database.yml` matches
    /// `src/api/config/database.yml`). fnmatch(3) syntax, case-insensitive; a backup or editor
    /// copy of a matching file (`.bak`, `.orig`, `~`, vim's `.NAME.swp`, ...) matches too.
    public static let defaultSecretPaths = [
        "config/database.yml", "config/database.yaml", "config/secrets*.yml", "config/secrets*.yaml",
        "config/master.key", "config/credentials/*", "config/application.yml", "config/application.yaml",
        "credentials*", ".env", ".env.*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx",
        "id_rsa*", "id_dsa*", "id_ed25519*", "id_ecdsa*",
        ".htpasswd", ".netrc", ".pgpass", ".npmrc", ".pypirc", ".git-credentials", ".my.cnf",
        "wp-config.php", "settings.local.php", "local_settings.py", "LocalSettings.php", "configuration.php",
        "parameters.yml", "parameters.yaml", "appsettings*.json",
    ]

    /// Suffixes of backup and editor copies: a name that matches a secret pattern once they are
    /// stripped is secret too.
    static let backupSuffixes = [".bak", ".orig", ".old", ".save", ".backup", ".swp", ".swo", ".tmp", "~"]

    public static let defaultCache = "/var/cache/patchkeeper/fleet"

    static let knownKeys: Set<String> = ["remote", "host", "secret_paths", "cache", "ssh_key", "ssh_host_key", "timeout"]

    public init(remote: String?, host: String? = nil, secretPaths: [String] = [], cache: String? = nil) throws {
        self.remote = remote
        self.host = try host ?? Self.defaultHost()
        self.secretPaths = Self.defaultSecretPaths + secretPaths
        self.cache = cache
    }

    static func parse(_ t: TOMLTable, path: String) throws -> FleetConfig {
        for key in t.keys where !knownKeys.contains(key) {
            throw PatchKeeperError("\(path): unknown key '\(key)' in [fleet]", hint: "[fleet] takes: \(knownKeys.sorted().joined(separator: ", "))")
        }
        func string(_ key: String) throws -> String? {
            guard let v = t[key] else { return nil }
            guard let s = v.string, !s.isEmpty else { throw PatchKeeperError("\(path): [fleet] \(key) must be a non-empty string") }
            return s
        }
        var patterns: [String] = []
        if let v = t["secret_paths"] {
            guard let arr = v.array else { throw PatchKeeperError("\(path): [fleet] secret_paths must be an array of strings") }
            patterns = try arr.map { item in
                guard let s = item.string, !s.isEmpty, !s.contains("\0") else {
                    throw PatchKeeperError("\(path): [fleet] secret_paths must be an array of non-empty strings")
                }
                return s.hasPrefix("/") ? String(s.dropFirst()) : s
            }
        }
        let host = try string("host")
        if let host { try validate(host: host, source: "\(path) [fleet] host") }
        var cache = try string("cache")
        if let c = cache, !c.hasPrefix("/") { cache = Deployment.absolute(POSIX.parentDirectory(Deployment.absolute(path)) + "/" + c) }
        let remote = try string("remote")
        if let remote { try validate(remote: remote, source: "\(path) [fleet] remote") }
        var config = try FleetConfig(remote: remote, host: host, secretPaths: patterns, cache: cache)
        config.sshKey = try string("ssh_key").map { $0.hasPrefix("/") ? $0 : Deployment.absolute(POSIX.parentDirectory(Deployment.absolute(path)) + "/" + $0) }
        config.sshHostKey = try string("ssh_host_key")
        if let v = t["timeout"] {
            guard let n = v.int, n >= 1, n <= 3600 else { throw PatchKeeperError("\(path): [fleet] timeout must be a number of seconds from 1 to 3600") }
            config.timeout = n
        }
        if let k = config.sshHostKey, !k.hasPrefix("SHA256:") {
            throw PatchKeeperError("\(path): [fleet] ssh_host_key must be a SHA256:... fingerprint", hint: "on the server: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
        }
        return config
    }

    /// Host names become ref path components: the app-name rules (letters, digits, '.', '_', '-',
    /// starting with a letter or digit, at most 64), and not ending in ".lock".
    public static func validate(host: String, source: String) throws {
        do { try AppConfig.validate(name: host, source: source) } catch {
            throw PatchKeeperError("host name \(SafePath.quoted(host)) (\(source)) is not valid",
                                   hint: "set [fleet] host to 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        if host.hasSuffix(".lock") || host.contains("..") {
            throw PatchKeeperError("host name \(SafePath.quoted(host)) (\(source)) is not valid in a git ref name", hint: "pick another [fleet] host")
        }
    }

    /// A remote is a path, a file://, ssh:// or https:// URL, or scp-like `user@host:path`. Plain
    /// http (unencrypted) and other schemes are refused.
    public static func validate(remote: String, source: String) throws {
        if remote.contains("\0") || remote.contains("\n") || remote.hasPrefix("-") {
            throw PatchKeeperError("\(source): \(SafePath.quoted(remote)) is not a usable remote")
        }
        if let r = remote.byteRange(of: "://") {
            let scheme = remote[..<r.lowerBound].lowercased()
            guard ["file", "ssh", "https"].contains(scheme) else {
                throw PatchKeeperError("\(source): remote scheme '\(scheme)' is not supported", hint: "use a path, file://, ssh:// or https://")
            }
        }
    }

    /// This machine's host name up to the first '.', as a valid ref component.
    static func defaultHost() throws -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { throw PatchKeeperError("cannot read the host name: \(POSIX.errorText())", hint: "set [fleet] host") }
        let full = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let short = String(full.split(separator: ".").first ?? "")
        try validate(host: short, source: "the host name")
        return short
    }

    /// Whether `remote` goes over ssh (the host key must then be pinned).
    public static func isSSH(_ remote: String) -> Bool { RemoteAuth.isSSH(remote) }

    /// Whether a repository path matches a secret pattern.
    public func isSecret(_ path: String) -> Bool { Self.matches(path, patterns: secretPaths) }

    static func matches(_ path: String, patterns: [String]) -> Bool {
        let patterns = patterns.map { $0.lowercased() }
        var parts = path.lowercased().slashParts().map(String.init)
        guard var name = parts.last else { return false }
        if matchesExactly(parts, patterns: patterns) { return true }
        // Strip backup suffixes one at a time (db.yml.bak.orig), and vim's leading '.' of a swap file.
        while let suffix = backupSuffixes.first(where: { name.hasSuffix($0) && name.count > $0.count }) {
            name = String(name.dropLast(suffix.count))
            if suffix == ".swp" || suffix == ".swo", name.hasPrefix("."), name.count > 1 { name.removeFirst() }
            parts[parts.count - 1] = name
            if matchesExactly(parts, patterns: patterns) { return true }
        }
        return false
    }

    static func matchesExactly(_ parts: [String], patterns: [String]) -> Bool {
        guard let name = parts.last else { return false }
        for p in patterns {
            if !p.contains("/") {
                if fnmatch(p, name, 0) == 0 { return true }
                continue
            }
            // The whole path or any tail of it that starts at a component.
            for k in 0..<parts.count {
                if fnmatch(p, parts[k...].joined(separator: "/"), FNM_PATHNAME) == 0 { return true }
            }
        }
        return false
    }
}
