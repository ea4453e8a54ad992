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

struct MotdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "motd",
        _superCommandName: "patchkeeper",
        abstract: "Write the login banner listing the active patches (/run/motd.d/50-patchkeeper-APP).",
        usage: "patchkeeper motd [--file PATH] [--remove] [--all-apps] [<options>]",
        discussion: """
        Scans the app, then writes its banner to the motd file: --file, else 'motd' in the config, \
        else /run/motd.d/50-patchkeeper-APP, a drop-in that pam_motd shows at login and that the \
        shipped systemd unit may write (it sees /etc read-only). A file in a motd.d directory that \
        holds nothing else is written whole, without marker lines, and removed with the banner. In \
        any other file (/etc/motd) the banner is a block between '# BEGIN patchkeeper APP' and \
        '# END patchkeeper APP' lines; everything outside them is kept byte for byte, and each app \
        keeps its own block. The banner goes when no patch is active and nothing unregistered \
        differs, or with --remove. The file is replaced atomically, keeping its mode and owner; text \
        from patches is stripped of control characters and escape sequences, lines fit 80 columns, \
        and the banner shows dates, not ages. It always contains the phrase MONKEY PATCHES, for \
        scripts that grep for it.

        Run it from a timer (see contrib/systemd) or after a deploy: 'patchkeeper scan --motd' \
        does both.

        Examples:
          patchkeeper motd
          patchkeeper motd --all-apps
          patchkeeper motd --remove --file /etc/motd
        """
    )

    @Option(name: .long, help: ArgumentHelp("The motd file (default: 'motd' in the config, else /run/motd.d/50-patchkeeper-APP).",
                                            valueName: "path"), completion: .file())
    var file: String?

    @Flag(name: .long, help: "Remove this app's block.")
    var remove = false

    @Flag(name: .long, help: "Refresh the block of every app of the config file in turn.")
    var allApps = false

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.forEachApp(allApps) { try runOne($0) }
    }

    func runOne(_ global: GlobalOptions) throws {
        let deployment = try global.deployment()
        let registry = try Registry(deployment: deployment)
        let path = file ?? deployment.app.motd ?? Motd.defaultFile(app: deployment.app.name)
        var report: ScanReport?
        if !remove { report = try runScan(deployment: deployment, registry: registry, useCache: true) }
        let result = try MotdUpdate.apply(report: report, app: deployment.app.name, file: path, registry: registry, wait: global.wait)
        try MotdUpdate.render(result, output: global.output)
    }
}

/// Writes the motd block for a scan (nil: remove it) under the registry lock.
enum MotdUpdate {
    struct Result: Encodable {
        var app: String
        var file: String
        /// written, removed, unchanged, no-banner, no-file (see `Motd.Change`).
        var action: String
        /// The scan's counts; left out with --remove, which does not scan.
        var activePatches: Int?
        var unregistered: Int?
    }

    static func apply(report: ScanReport?, app: String, file: String, registry: Registry, wait: Double) throws -> Result {
        let now = Date()
        var block: String?
        if let report {
            var summary = MotdSummary(
                app: app, deployedRevision: report.deployedRevision.hex, checkedAt: report.checkedAt,
                patches: report.patches.map {
                    .init(id: $0.id, title: $0.title, author: $0.author, recordedAt: $0.recordedAt, expires: $0.expires,
                          expired: $0.expired, state: $0.state.rawValue)
                },
                unregistered: report.unregistered.map(\.path))
            summary.unregisteredSince = LastScan.load(registry: registry)?.oldestDrift?.since
            block = Motd.block(for: summary, now: now)
        }
        let lock = try registry.lock(wait: wait)
        defer { withExtendedLifetime(lock) {} }
        let change = try Motd.update(file: file, app: app, block: block)
        Output.recoveryNotes(registry)
        return Result(app: app, file: file, action: change.rawValue,
                      activePatches: report?.patches.count, unregistered: report?.unregistered.count)
    }

    static func render(_ r: Result, output: Output) throws {
        if output.format == .json {
            try output.json(r)
        } else {
            output.line(text(r))
        }
    }

    /// `motd: written block in FILE (N active patches, M unregistered changes)`; the counts only
    /// when there was a scan (not with --remove).
    static func text(_ r: Result) -> String {
        var counts = ""
        if let n = r.activePatches, let u = r.unregistered {
            counts = " (\(n) active patch\(n == 1 ? "" : "es"), \(u) unregistered change\(u == 1 ? "" : "s"))"
        }
        switch Motd.Change(rawValue: r.action) {
        case .noBanner?: return "motd: no block for \(r.app) in \(r.file), nothing to remove\(counts)"
        case .noFile?: return "motd: no block for \(r.app): \(r.file) does not exist\(counts)"
        default: return "motd: \(r.action) block in \(r.file)\(counts)"
        }
    }
}
