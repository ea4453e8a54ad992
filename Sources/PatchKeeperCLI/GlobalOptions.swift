import ArgumentParser
import Git
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import PatchKeeper

/// Output format for data commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// `--color`: auto (a terminal without NO_COLOR or TERM=dumb), always, never.
enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
}

/// The value lists argument-parser shows in help and completions, spelled out: its generic
/// default (`allCases.map(\.rawValue…)`) instantiates key paths and looks up conformances at
/// run time, 2% of a warm gate's instructions, on every parse. Raw values equal case names, so
/// there are no separate descriptions (what the default computes for them too).
protocol PlainArgumentEnum: ExpressibleByArgument, CaseIterable, RawRepresentable where RawValue == String {}
extension PlainArgumentEnum {
    public static var allValueStrings: [String] { allCases.map { $0.rawValue } }
    public static var allValueDescriptions: [String: String] { [:] }
    public static var defaultCompletionKind: CompletionKind { .list(allValueStrings) }
    public var defaultValueDescription: String { rawValue }
}
extension OutputFormat: PlainArgumentEnum {}
extension ColorChoice: PlainArgumentEnum {}
extension GateReport.Policy: PlainArgumentEnum {}

/// Options every command takes: which app, where its files are, how to print.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The app to act on (from the config file). Optional when the config has one app.",
            completion: Completions.apps)
    var app: String?

    @Option(name: .long, help: ArgumentHelp("Config file (default: $PATCHKEEPER_CONFIG, then /etc/patchkeeper/config.toml).", valueName: "file"), completion: .file())
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The live directory the app runs from (overrides the config).", valueName: "dir"), completion: .directory)
    var root: String?

    @Option(name: .long, help: ArgumentHelp("The app's git repository: a clone or bare mirror (default: the root's own .git).", valueName: "dir"), completion: .directory)
    var repo: String?

    @Option(name: .long, help: ArgumentHelp("The patch registry directory (default: /var/lib/patchkeeper/APP).", valueName: "dir"), completion: .directory)
    var registry: String?

    @Option(name: .long, help: ArgumentHelp("The repository path the root corresponds to, e.g. src/api.", valueName: "path"))
    var subdir: String?

    @Option(name: .long, help: ArgumentHelp("The deployed revision (default: config 'deployed', ROOT/REVISION, or the root's HEAD).", valueName: "rev"), completion: Completions.refs)
    var deployed: String?

    @Flag(name: .long, help: "Accept a repository owned by another user (libgit2's safe.directory check).")
    var trustRepo = false

    @Option(name: .long, help: ArgumentHelp("Output format: text or json.", valueName: "format"))
    var format: OutputFormat = .text

    @Option(name: .long, help: ArgumentHelp("Colour in text output: auto (on a terminal, unless NO_COLOR is set or TERM=dumb), always or never.", valueName: "when"))
    var color: ColorChoice = .auto

    @Option(name: .long, help: ArgumentHelp("Wait up to this many seconds for the registry lock held by another patchkeeper.", valueName: "seconds"))
    var wait: Double = 0

    @Flag(name: [.customShort("q"), .long], help: "Print nothing on stdout in text mode and no progress: the exit code says it (errors still go to stderr; JSON is unchanged).")
    var quiet = false

    @Flag(name: [.customShort("v"), .long], help: "Say on stderr what is used: app, root, repository, deployed revision and where it came from, registry, scan timings.")
    var verbose = false

    func validate() throws {
        if wait < 0 { throw ValidationError("--wait must be 0 or more seconds") }
        if quiet && verbose { throw ValidationError("give --quiet or --verbose, not both") }
        Output.quiet = quiet
        Output.verbose = verbose
    }

    var appOptions: AppOptions {
        var o = AppOptions()
        o.app = app
        o.configPath = config
        o.root = root
        o.repo = repo
        o.registry = registry
        o.subdir = subdir
        o.deployed = deployed
        o.trustRepo = trustRepo
        return o
    }

    var environment: [String: String] { Environment.forConfig }

    /// The app's settings (config + flags).
    func resolveApp() throws -> AppConfig {
        try appOptions.resolve(environment: environment).app
    }

    /// Root, repository and deployed revision, verified.
    func deployment() throws -> Deployment {
        let d = try Deployment(app: resolveApp())
        Output.info("app \(d.app.name): root \(d.root), repository \(d.repoPath)"
                    + "\(d.subdir.isEmpty ? "" : " (subdir \(d.subdir))"), deployed \(d.revision.hex) (from \(d.revisionSource)), "
                    + "registry \(d.registryPath)")
        // The last app's repository, registry and caches go away with the process: freeing them
        // one by one before `exit` is work nobody needs (5% of a gate over a long history).
        lastDeployment = d
        return d
    }

    /// The registry, without needing the app's root or repository.
    func openRegistry() throws -> Registry {
        let app = try appOptions.resolve(environment: environment, needsRoot: false).app
        return try Registry(path: Self.registryPath(app), trusted: app.trusted,
                            app: app.nameFromRegistryPath ? nil : app.name, publishesSummary: app.publicSummary)
    }

    static func registryPath(_ app: AppConfig) -> String {
        Deployment.absolute(app.registry ?? "\(Deployment.defaultRegistryDirectory)/\(app.name)")
    }

    /// For the commands that only read (list, show, log, status): the registry, or — for a user
    /// who may not read the private registry — its public summary (DESIGN §9, "Readers who are not root").
    func readRegistry() throws -> RegistrySource {
        let app = try appOptions.resolve(environment: environment, needsRoot: false).app
        let source = try RegistrySource.open(app)
        Output.info("app \(app.name): registry \(source.registryPath)"
                    + (source.sourceName.map { " (read from the \($0))" } ?? "") + (app.source.map { ", config \($0)" } ?? ""))
        return source
    }

    var output: Output { Output(format: format, color: color) }

    /// Runs `body` for this app, or with `all` for every app of the config file in turn (each
    /// with `--app` set to it): one app's trouble is reported on stderr and the others still run.
    /// The exit code summarises: 2 if any app had trouble, else 1 if any had findings.
    func forEachApp(_ all: Bool, _ body: (GlobalOptions) throws -> Void) throws {
        guard all else { return try body(self) }
        let perApp = [("--app", app), ("--root", root), ("--repo", repo), ("--registry", registry), ("--subdir", subdir), ("--deployed", deployed)]
            .filter { $0.1 != nil }.map(\.0)
        if !perApp.isEmpty {
            throw ValidationError("--all-apps takes the apps from the config file: drop \(perApp.joined(separator: ", ")) (one value would apply to every app)")
        }
        guard let loc = appOptions.configLocation(environment: environment) else {
            throw PatchKeeperError("--all-apps needs a config file (tried --config, $PATCHKEEPER_CONFIG, \(ConfigFile.defaultPath))")
        }
        let config = try ConfigFile.load(path: loc.path)
        if config.appNames.isEmpty { throw PatchKeeperError("\(loc.path) defines no apps", hint: "add one with 'patchkeeper init'") }
        var worst: Int32 = 0
        // JSON: one array of every app's document; an app that failed is {app, error} in it.
        struct AppError: Encodable { var app: String; var error: ErrorDTO.Detail }
        let json = format == .json
        if json {
            Output.arrayDocuments = 0
            StandardStream.out("[\n")
        }
        defer {
            if json {
                StandardStream.out("]\n")
                Output.arrayDocuments = nil
            }
        }
        for name in config.appNames {
            var one = self
            one.app = name
            do {
                try body(one)
            } catch let e as ExitCode {
                worst = max(worst, e.rawValue)
            } catch let e as PatchKeeperError {
                Output.diagnostic("error: app \(name): \(e.description)")
                if json { try? output.json(AppError(app: name, error: ErrorDTO(e).error)) }
                worst = 2
            }
        }
        if worst != 0 { throw ExitCode(worst) }
    }
}

/// See `GlobalOptions.deployment()`.
nonisolated(unsafe) private var lastDeployment: Deployment?
