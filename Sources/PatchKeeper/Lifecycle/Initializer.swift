#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// `init`: verifies root, repository and deployed revision, creates the registry, and adds the app's
/// entry to the config file when one is named and lacks it.
public enum Initializer {
    public struct Result: Sendable {
        public var app: String
        public var root: String
        public var repo: String
        public var subdir: String
        public var revision: ObjectID
        public var revisionSource: String
        public var registry: String
        public var registryCreated: Bool
        public var configPath: String?
        public var configWritten: Bool
        /// What went wrong that does not undo the init (the public summary could not be written).
        public var warnings: [String] = []
    }

    public static func run(options: AppOptions, environment: [String: String], now: Date = Date()) throws -> Result {
        let (app, config) = try options.resolve(environment: environment)
        let deployment = try Deployment(app: app)
        let created: Bool
        try Registry.refuseOverlap(registry: deployment.registryPath, deployment: deployment)
        if POSIX.exists(deployment.registryPath) && Repository.exists(atPath: deployment.registryPath),
           let repo = try? Repository.open(atPath: deployment.registryPath), !repo.isEmpty {
            let registry = try Registry(deployment: deployment)
            let lock = try registry.lock(wait: 0)  // finishes an interrupted init or write
            withExtendedLifetime(lock) {}
            _ = try registry.load()  // verify every patch file parses
            created = false
        } else {
            created = try Registry.create(path: deployment.registryPath, app: app.name, committer: Person.current(), now: now)
        }
        var warnings: [String] = []
        if app.publicSummary && (created || !POSIX.exists(PublicSummary.path(registry: deployment.registryPath))) {
            // Non-root users read the patches' metadata from the first day (DESIGN §9, "Readers
            // who are not root"). Never a reason for init to fail: the next scan writes it too.
            do {
                let registry = try Registry(deployment: deployment)
                let lock = try registry.lock(wait: 0, recover: false)
                defer { withExtendedLifetime(lock) {} }
                try PublicSummary.refresh(registry, now: now)
            } catch {
                let why = (error as? PatchKeeperError)?.message ?? "\(error)"
                warnings.append("the public summary was not written now (the next scan writes it): \(why)")
            }
        }

        // Config entry: only into a file the user named (--config or $PATCHKEEPER_CONFIG), or the
        // default file when it already exists; never invent /etc files from a flags-only run.
        var configPath: String?
        var written = false
        if let loc = options.configLocation(environment: environment) {
            configPath = loc.path
            if config?.apps[app.name] == nil {
                var entry = AppConfig(name: app.name)
                entry.root = deployment.root
                entry.repo = deployment.repoPath == deployment.root ? nil : deployment.repoPath
                entry.subdir = deployment.subdir.isEmpty ? nil : deployment.subdir
                entry.registry = deployment.registryPath
                entry.deployed = options.deployed == nil ? nil : app.deployed
                entry.ignore = app.ignore
                entry.trusted = app.trusted
                let existing = POSIX.exists(loc.path) ? String(decoding: try POSIX.readFile(loc.path), as: UTF8.self) : ""
                var text = existing
                if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
                if !text.isEmpty { text += "\n" }
                text += ConfigFile.section(for: entry)
                _ = try ConfigFile.parse(text, path: loc.path)  // never write a file we could not read back
                try POSIX.makeDirectories(POSIX.parentDirectory(loc.path))
                try AtomicFile.write(text, to: loc.path, mode: 0o644)
                written = true
            }
        }
        return Result(app: app.name, root: deployment.root, repo: deployment.repoPath, subdir: deployment.subdir,
                      revision: deployment.revision, revisionSource: deployment.revisionSource.description,
                      registry: deployment.registryPath, registryCreated: created, configPath: configPath, configWritten: written, warnings: warnings)
    }
}
