/// How a command names its app: config file and `--app`, and/or explicit paths.
/// Flags override the config file's values.
public struct AppOptions: Sendable, Equatable {
    public var app: String?
    public var configPath: String?
    public var root: String?
    public var repo: String?
    public var registry: String?
    public var subdir: String?
    public var deployed: String?
    public var trustRepo = false

    public init() {}

    /// The config file to read, first hit wins: `--config`, `$PATCHKEEPER_CONFIG`, the default path
    /// (only when it exists). `explicit` is true when the user named it.
    public func configLocation(environment: [String: String]) -> (path: String, explicit: Bool)? {
        if let configPath { return (configPath, true) }
        if let env = environment["PATCHKEEPER_CONFIG"], !env.isEmpty { return (env, true) }
        if POSIX.exists(ConfigFile.defaultPath) { return (ConfigFile.defaultPath, false) }
        return nil
    }

    /// Merges the config file's entry (if any) with flags. Errors name the config file and the
    /// apps it knows.
    /// `needsRoot: false` for commands that only read or write the registry (list, show, log,
    /// retire): then `--registry` alone names the app.
    public func resolve(environment: [String: String], needsRoot: Bool = true) throws -> (app: AppConfig, config: ConfigFile?) {
        var config: ConfigFile?
        if let loc = configLocation(environment: environment) {
            if POSIX.exists(loc.path) {
                config = try ConfigFile.load(path: loc.path)
            } else if root == nil && (needsRoot || registry == nil) {
                throw PatchKeeperError("config file \(loc.path) does not exist", hint: "create it with 'patchkeeper init --config \(loc.path) --app NAME --root DIR', or pass --root")
            }
        }
        var app: AppConfig
        if let config, !config.apps.isEmpty {
            if let name = self.app {
                if let found = config.apps[name] {
                    app = found
                } else if root != nil {
                    app = AppConfig(name: name)
                } else {
                    throw PatchKeeperError("unknown app '\(name)' in \(config.path)",
                                           hint: "known apps: \(config.appNames.joined(separator: ", "))")
                }
            } else if config.apps.count == 1, let only = config.appNames.first, let found = config.apps[only] {
                app = found
            } else if root != nil {
                app = AppConfig(name: Self.defaultName(root: root!))
            } else if let here = Self.appContaining(POSIX.currentDirectory(), in: config) {
                app = here  // run from inside exactly one app's root
            } else {
                throw PatchKeeperError("\(config.path) has several apps (\(config.appNames.joined(separator: ", ")))",
                                       hint: "choose one with --app NAME (or run it from inside one app's root)")
            }
        } else {
            guard let root else {
                if !needsRoot, let registry {
                    var app = AppConfig(name: self.app ?? Self.defaultName(root: registry))
                    app.registry = registry
                    app.trusted = trustRepo
                    app.nameFromRegistryPath = self.app == nil
                    if !app.nameFromRegistryPath { try AppConfig.validate(name: app.name, source: "--app") }
                    return (app, config)
                }
                if let name = self.app {
                    throw PatchKeeperError("unknown app '\(name)': no config file has it (tried --config, $PATCHKEEPER_CONFIG, \(ConfigFile.defaultPath))",
                                           hint: "pass --root DIR, or add it with 'patchkeeper init'")
                }
                throw PatchKeeperError("no app given: no config file found (tried --config, $PATCHKEEPER_CONFIG, \(ConfigFile.defaultPath)) and no --root",
                                       hint: needsRoot ? "pass --root DIR (and --repo, --registry), or run 'patchkeeper init'" : "pass --registry DIR or --root DIR, or run 'patchkeeper init'")
            }
            app = AppConfig(name: self.app ?? Self.defaultName(root: root))
        }
        if let root { app.root = root }
        if let repo { app.repo = repo }
        if let registry { app.registry = registry }
        if let subdir { app.subdir = subdir }
        if let deployed { app.deployed = deployed }
        if trustRepo { app.trusted = true }
        try AppConfig.validate(name: app.name, source: self.app != nil ? "--app" : config?.apps[app.name] != nil ? "in \(config?.path ?? "the config")" : "from the root's directory name; pass --app NAME")
        return (app, config)
    }

    /// The app name a root gives when none is named: its directory's name — but never
    /// Capistrano's `current` (every app has one): then the directory above it.
    static func defaultName(root: String) -> String {
        var trimmed = Deployment.absolute(root)
        var base = POSIX.baseName(trimmed)
        if base == "current" {
            trimmed = POSIX.parentDirectory(trimmed)
            base = POSIX.baseName(trimmed)
        }
        return base.isEmpty || base == "/" ? "app" : base
    }

    /// The one app whose root contains `dir` (by path, and by the root's resolved path: a
    /// Capistrano `current` link), nil when none or several do.
    static func appContaining(_ dir: String, in config: ConfigFile) -> AppConfig? {
        let here = [Deployment.absolute(dir), POSIX.realPath(dir)].compactMap { $0 }
        let matches = config.appNames.compactMap { config.apps[$0] }.filter { app in
            guard let root = app.root else { return false }
            let roots = [Deployment.absolute(root), POSIX.realPath(root)].compactMap { $0 }
            return roots.contains { r in here.contains { $0 == r || $0.hasPrefix(r == "/" ? r : r + "/") } }
        }
        return matches.count == 1 ? matches[0] : nil
    }
}
