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

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        _superCommandName: "patchkeeper",
        abstract: "Set up an app: verify root, repository and deployed revision; create the registry.",
        usage: "patchkeeper init --app NAME --root DIR [--repo DIR] [--config FILE]",
        discussion: """
        Checks that the root exists, the repository opens and the deployed revision is a commit in it, \
        then creates the registry (a git repository of patch files). When a config file is named \
        (--config or $PATCHKEEPER_CONFIG) and has no entry for the app, the entry is appended; the rest \
        of the file is kept as it is. Running it again only verifies.

        Examples:
          patchkeeper init --config /etc/patchkeeper/config.toml --app obs-api \\
            --root /srv/www/obs/api --repo /srv/www/obs/repo.git --subdir src/api
        """
    )

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let r = try Initializer.run(options: global.appOptions, environment: global.environment)
        for w in r.warnings { Output.diagnostic("warning: " + Text.terminalLine(w)) }
        if global.format == .json { return try global.output.json(InitView.Document(r)) }
        InitView.text(r, global.output)
    }
}

/// init's output: the JSON document (docs/schema/init.json) and the text summary.
enum InitView {
    struct Document: Encodable {
        var app: String
        var root: String
        var repo: String
        var subdir: String
        var deployedRevision: String
        var revisionSource: String
        var registry: String
        var registryCreated: Bool
        var config: String?
        var configWritten: Bool

        init(_ r: Initializer.Result) {
            app = r.app
            root = r.root
            repo = r.repo
            subdir = r.subdir
            deployedRevision = r.revision.hex
            revisionSource = r.revisionSource
            registry = r.registry
            registryCreated = r.registryCreated
            config = r.configPath
            configWritten = r.configWritten
        }
    }

    static func text(_ r: Initializer.Result, _ out: Output) {
        out.line("app       \(r.app)")
        out.line("root      \(r.root)")
        out.line("repo      \(r.repo)\(r.subdir.isEmpty ? "" : " (subdir \(r.subdir))")")
        out.line("deployed  \(r.revision.hex) (from \(r.revisionSource))")
        out.line("registry  \(r.registry) (\(r.registryCreated ? "created" : "exists, verified"))")
        if let c = r.configPath {
            out.line("config    \(c) (\(r.configWritten ? "entry added" : "entry exists"))")
        } else {
            out.line("config    none written (name one with --config to keep these settings)")
        }
    }
}
