import ArgumentParser
import Foundation
import PatchKeeper

struct MotdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "motd",
        abstract: "Write the login banner: a managed block listing the active patches in /etc/motd.",
        usage: "patchkeeper motd [--file PATH] [--remove] [--all-apps] [<options>]",
        discussion: """
        Scans the app, then writes a block between '# BEGIN patchkeeper APP' and '# END patchkeeper APP' \
        markers in the motd file (--file, else 'motd' in the config, else /etc/motd; a /etc/motd.d/ \
        drop-in works too). Everything outside the markers is kept byte for byte, and each app keeps \
        its own block. The block is removed when no patch is active and nothing unregistered differs, \
        or with --remove. The file is replaced atomically, keeping its mode and owner; text from \
        patches is stripped of control characters and escape sequences, and lines fit 80 columns. \
        The block always contains the phrase MONKEY PATCHES, for scripts that grep for it.

        Run it from a timer (see contrib/systemd) or after a deploy: 'patchkeeper scan --motd' \
        does both.

        Examples:
          patchkeeper motd
          patchkeeper motd --all-apps
          patchkeeper motd --remove --file /etc/motd
        """
    )

    @Option(name: .long, help: ArgumentHelp("The motd file (default: 'motd' in the config, else /etc/motd).", valueName: "path"), completion: .file())
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
        let path = file ?? deployment.app.motd ?? "/etc/motd"
        var report: ScanReport?
        if !remove { report = try runScan(deployment: deployment, registry: registry, useCache: true) }
        let result = try MotdUpdate.apply(report: report, app: deployment.app.name, file: path, registry: registry, wait: global.wait)
        try MotdUpdate.render(result, output: global.output)
    }
}

/// Writes the motd block for a scan (nil: remove it) under the registry lock.
enum MotdUpdate {
    struct Result: Encodable {
        var file: String
        var action: String       // written, removed, unchanged
        var activePatches: Int
        var unregistered: Int
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
        let changed = try Motd.write(file: file, app: app, block: block)
        Output.recoveryNotes(registry)
        return Result(file: file, action: !changed ? "unchanged" : block == nil ? "removed" : "written",
                      activePatches: report?.patches.count ?? 0, unregistered: report?.unregistered.count ?? 0)
    }

    static func render(_ r: Result, output: Output) throws {
        if output.format == .json {
            try output.json(r)
        } else {
            output.line("motd: \(r.action) block in \(r.file) (\(r.activePatches) active patch\(r.activePatches == 1 ? "" : "es"), \(r.unregistered) unregistered change\(r.unregistered == 1 ? "" : "s"))")
        }
    }
}
