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

struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        _superCommandName: "patchkeeper",
        abstract: "Compare the live tree with the deployed revision: patch states and unregistered drift.",
        usage: "patchkeeper scan [--motd] [--metrics-file PATH] [--all-apps] [<options>]",
        discussion: """
        Hashes every file under the root as git does and compares it with the deployed revision's tree. \
        Each active patch is reported as:
          applied      every file carries the patch's changes
          overwritten  the changes are gone; the files are back at the deployed content (a deploy wiped it)
          modified     someone edited on top, or a file is missing
          partial      some files applied, others overwritten
        and every other difference as unregistered drift: added, modified, deleted, mode (exec bit), \
        type (file <-> symlink). Expired patches are findings too.

        Ignored: the root's own .git, the registry when it is inside the root, REVISION when it names \
        the deployed revision, the app's 'ignore' list and the deployed revision's .patchkeeperignore \
        (gitignore syntax), and files not in the deployed tree that the deployed revision's .gitignore \
        files ignore. Ignore files are read from the deployed revision, never from the live tree: a \
        live .patchkeeperignore or .gitignore that differs is drift like any other file. A .git below \
        the top is drift; a submodule is reported as not compared; directories nested more than 256 \
        levels deep are not entered (a problem names them).

        A stat cache in the registry's .patchkeeper/ makes a rescan of an unchanged tree cheap.

        With [fleet] remote in the config, the result is published to the fleet remote afterwards \
        (docs/FLEET.md); a failed push is a warning on stderr and does not change the exit code.

        Exit: 0 when every active patch is applied and nothing else differs, 1 on findings, 2 on trouble.

        Examples:
          patchkeeper scan
          patchkeeper scan --quiet || patchkeeper diff
          patchkeeper scan --all-apps --motd \\
            --metrics-file /var/lib/node_exporter/patchkeeper-{app}.prom
        """
    )

    @Flag(name: .long, help: "Hash every file; neither read nor write the stat cache.")
    var noCache = false

    @Flag(name: .long, help: "Also refresh the login banner block (see 'patchkeeper motd').")
    var motd = false

    @Option(name: .long, help: ArgumentHelp("The motd file for --motd (default: 'motd' in the config, else /run/motd.d/50-patchkeeper-APP).",
                                            valueName: "path"), completion: .file())
    var motdFile: String?

    @Option(name: .long, help: ArgumentHelp("Also write Prometheus metrics for node_exporter's textfile collector to this file (replaced atomically; one file per app: with --all-apps, put {app} in the name).", valueName: "path"), completion: .file())
    var metricsFile: String?

    @Flag(name: .long, help: "Scan every app of the config file in turn (JSON: one document per app, one per line).")
    var allApps = false

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if allApps, let metricsFile, !metricsFile.contains("{app}") {
            throw ValidationError("with --all-apps, --metrics-file needs {app} in its name (one file per app)")
        }
    }

    func run() throws {
        try global.forEachApp(allApps) { try runOne($0) }
    }

    func runOne(_ global: GlobalOptions) throws {
        // {app}: the app's name as the config or flags give it.
        let appName = (try? global.resolveApp().name) ?? global.app ?? "app"
        let metricsFile = self.metricsFile.map { $0.replacing("{app}", with: appName) }
        let deployment: Deployment
        let registry: Registry
        let report: ScanReport
        do {
            deployment = try global.deployment()
            registry = try Registry(deployment: deployment)
            report = try runScan(deployment: deployment, registry: registry, useCache: !noCache)
        } catch {
            // A failed scan still says so in the metrics file (success 0, last success kept).
            if let metricsFile {
                // Read without following a link or blocking on a FIFO, and only up to 1 MiB.
                let previous = Metrics.readPrevious(metricsFile)
                try? AtomicFile.write(Metrics.renderFailure(app: appName, previous: previous, now: Date()), to: metricsFile, mode: 0o644)
            }
            throw error
        }
        var renderer = ScanRenderer(output: global.output)
        // Only the unregistered changes' ages are shown (none: nothing to read).
        if !report.unregistered.isEmpty { renderer.firstSeen = LastScan.load(registry: registry)?.firstSeen ?? [:] }
        try renderer.render(report)
        global.publishToFleet(registry: registry)
        // No registry lock: the file is ours alone (one per app) and AtomicFile replaces it whole.
        if let metricsFile {
            let oldest = LastScan.load(registry: registry)?.oldestDrift?.since
            try AtomicFile.write(Metrics.render(report, now: Date(), oldestDriftSince: oldest, fleetPush: FleetPushState.load(registry: registry)), to: metricsFile, mode: 0o644)
        }
        if motd || motdFile != nil {
            let path = motdFile ?? deployment.app.motd ?? Motd.defaultFile(app: deployment.app.name)
            let result = try MotdUpdate.apply(report: report, app: deployment.app.name, file: path, registry: registry, wait: global.wait)
            if global.format == .text { try MotdUpdate.render(result, output: global.output) }
        }
        if !report.isClean { throw ExitCode(1) }
    }
}

/// Runs a scan with progress on stderr when it is a terminal.
func runScan(deployment: Deployment, registry: Registry, useCache: Bool) throws -> ScanReport {
    var options = TreeScanner.Options()
    options.useCache = useCache
    options.writeCache = useCache
    options.keepLargeStructures = true  // the process ends soon after: freeing them is wasted time
    var progress: TreeScanner.Progress?
    if isatty(STDERR_FILENO) == 1, !Output.quiet, Environment.value("TERM") != "dumb" {
        progress = { (phase: String, done: Int, total: Int) in
            let text = total > 0 ? "\(phase) \(done)/\(total)" : "\(phase) \(done) files"
            StandardStream.err("\r\u{1B}[K\(text)")
        }
    }
    let report = try TreeScanner(deployment: deployment, registry: registry, options: options, progress: progress).scan()
    if progress != nil { StandardStream.err("\r\u{1B}[K") }
    Output.info("scan: \(report.stats.files) files, \(report.stats.hashed) hashed, \(report.stats.cacheHits) from the stat cache, "
                + "\(Text.fixed(report.stats.seconds, 3)) s")
    _ = try? LastScan.save(report, registry: registry)
    Output.summaryNote(registry)
    return report
}

struct ScanRenderer {
    let output: Output
    /// When each unregistered change was first seen (drift age; from the last-scan state).
    var firstSeen: [String: Date] = [:]

    struct ScanDTO: Encodable {
        struct PatchDTO: Encodable {
            struct FileDTO: Encodable { var path: String; var state: String }
            var id: String
            var title: String
            var state: String
            var expired: Bool
            var expires: String?
            var files: [FileDTO]
        }
        struct DriftDTO: Encodable { var path: String; var change: String; var firstSeen: String?; var new: Bool }
        struct ProblemDTO: Encodable { var path: String; var message: String }
        struct StatsDTO: Encodable { var files: Int; var hashed: Int; var cacheHits: Int; var seconds: Double }
        var app: String
        var root: String
        var deployedRevision: String
        var revisionSource: String
        var clean: Bool
        var patches: [PatchDTO]
        var unregistered: [DriftDTO]
        var problems: [ProblemDTO]
        var stats: StatsDTO
    }

    /// First seen by this very scan (the state file keeps times as floating-point seconds).
    static func isNew(_ seen: Date, _ r: ScanReport) -> Bool { seen.timeIntervalSince(r.checkedAt) > -0.5 }

    func render(_ r: ScanReport) throws {
        if output.format == .json {
            try output.json(ScanDTO(
                app: r.app, root: r.root, deployedRevision: r.deployedRevision.hex, revisionSource: r.revisionSource,
                clean: r.isClean,
                patches: r.patches.map { p in
                    .init(id: p.id, title: p.title, state: p.state.rawValue, expired: p.expired, expires: p.expires,
                          files: p.files.map { .init(path: $0.path, state: $0.state.rawValue) })
                },
                unregistered: r.unregistered.map { d in
                    let seen = firstSeen["drift \(d.path)"]
                    return .init(path: d.path, change: d.kind.rawValue, firstSeen: seen.map(Text.isoTimestamp),
                                 new: seen.map { Self.isNew($0, r) } ?? true)
                },
                problems: r.problems.map { .init(path: $0.path, message: $0.message) },
                stats: .init(files: r.stats.files, hashed: r.stats.hashed, cacheHits: r.stats.cacheHits,
                             seconds: (r.stats.seconds * 1000).rounded() / 1000)))
            return
        }
        output.line("scan \(Text.terminalLine(r.app)): \(Text.terminalLine(r.root)) vs \(r.deployedRevision.short) "
                    + "(from \(Text.terminalLine(r.revisionSource)))")
        if !r.patches.isEmpty {
            output.line(output.bold(cell("ID", 6) + " " + cell("STATE", 12) + " TITLE"))
            for p in r.patches {
                let state = p.state == .applied ? cell("applied", 12) : output.red(cell(p.state.rawValue.uppercased(), 12))
                var line = cell(p.id, 6) + " " + state + " " + fitTitle(p.title, after: 20)
                if p.expired, let e = p.expires { line += "  " + output.red("EXPIRED \(e)") }
                output.line(line)
                if p.state != .applied {
                    for f in p.files where f.state != .applied {
                        output.line("         " + Text.terminalLine(f.path) + ": " + describe(f.state))
                    }
                }
            }
        }
        if !r.unregistered.isEmpty {
            output.line(output.bold("UNREGISTERED CHANGES") + " (record them with 'patchkeeper record', or see 'patchkeeper diff')")
            for d in r.unregistered {
                var line = "  " + cell(d.kind.rawValue, 9) + " " + Text.terminalLine(d.path)
                if let seen = firstSeen["drift \(d.path)"], !Self.isNew(seen, r) {
                    line += output.dim("  (unregistered for \(Text.shortAge(since: seen, now: r.checkedAt)))")
                } else {
                    line += "  " + output.red("(new)")
                }
                output.line(line)
            }
        }
        for p in r.problems { output.line("  " + output.red("problem") + "   " + Text.terminalLine("\(p.path): \(p.message)")) }
        output.line(summary(r))
    }

    func describe(_ s: ScanReport.FileState) -> String {
        switch s {
        case .applied: return "applied"
        case .overwritten: return "back at the deployed content (the patch is gone)"
        case .modified: return "changed, but not to what the patch made"
        case .missing: return "missing"
        }
    }

    func summary(_ r: ScanReport) -> String {
        var parts: [String] = []
        for state in ScanReport.PatchState.allCases where state != .applied {
            let n = r.patches.filter { $0.state == state }.count
            if n > 0 { parts.append("\(n) \(state.rawValue)") }
        }
        let expired = r.patches.filter(\.expired).count
        if expired > 0 { parts.append("\(expired) expired") }
        if !r.unregistered.isEmpty { parts.append("\(r.unregistered.count) unregistered change\(r.unregistered.count == 1 ? "" : "s")") }
        if !r.problems.isEmpty { parts.append("\(r.problems.count) problem\(r.problems.count == 1 ? "" : "s")") }
        let applied = r.patches.filter { $0.state == .applied }.count
        let head = parts.isEmpty ? "scan: clean — \(applied) active patch\(applied == 1 ? "" : "es") applied"
            : "scan: " + parts.joined(separator: ", ")
        return head + " (\(r.stats.files) files, \(r.stats.hashed) hashed, \(Text.fixed(r.stats.seconds, 2)) s)"
    }
}

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        _superCommandName: "patchkeeper",
        abstract: "Print the unregistered drift as a patch (deployed revision -> live tree).",
        usage: "patchkeeper diff [PATH...] [<options>]",
        discussion: """
        What an admin reads before 'patchkeeper record': every change under the root that no active \
        patch explains, as a git diff with repository paths. Limit it to some files or directories \
        with PATH arguments: relative to the current directory when it is inside the root, else to \
        the root. A path in neither the live tree nor the deployed revision is an error (exit 2). \
        Exit: 0 no drift, 1 drift shown, 2 trouble. On a terminal the diff is coloured.

        Examples:
          patchkeeper diff
          cd /srv/app/current/config && patchkeeper diff clock.rb
          patchkeeper diff --color never > /tmp/drift.patch
        """
    )

    @Argument(help: ArgumentHelp("Only these files or directories: relative to the current directory when it is inside the root, else to the root.", valueName: "path"), completion: .file())
    var paths: [String] = []

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    /// The JSON document (docs/JSON.md, docs/schema/diff.json).
    struct DiffDTO: Encodable {
        struct FileDTO: Encodable { var path: String; var change: String }
        var files: [FileDTO]
        var diff: String
    }

    func run() throws {
        let deployment = try global.deployment()
        let registry = try Registry(deployment: deployment)
        let rels = try paths.map { try SafePath.fromCommandLine($0, root: deployment.root) }
        // A typo must not read as "no drift": a path that is in neither tree is trouble.
        for (rel, given) in zip(rels, paths) {
            let live = (try? LiveTree.exists(root: deployment.root, relativePath: rel)) ?? false
            let repoPath = deployment.repoPath(forRootRelative: rel)
            let deployed = (try? deployment.repository.entry(atPath: repoPath, inCommit: deployment.revision)) != nil
            if !live && !deployed {
                throw PatchKeeperError("\(Text.terminalLine(given)) is neither in \(deployment.root) "
                                       + "nor in deployed revision \(deployment.revision.short)",
                                       hint: "paths are relative to the root (or to the current directory when you are inside it)")
            }
        }
        let report = try runScan(deployment: deployment, registry: registry, useCache: true)
        let diff = try Recorder.driftDiff(deployment: deployment, registry: registry, report: report, paths: rels)
        if global.format == .json {
            let prefixes = rels.map { rel in
                let p = deployment.repoPath(forRootRelative: rel)
                return p.hasSuffix("/") ? String(p.dropLast()) : p
            }
            let files = report.unregistered.filter { d in
                prefixes.isEmpty || prefixes.contains { d.path == $0 || $0.isEmpty || d.path.hasPrefix($0 + "/") }
            }.map { DiffDTO.FileDTO(path: $0.path, change: $0.kind.rawValue) }
            try global.output.json(DiffDTO(files: files, diff: diff))
        } else {
            global.output.diff(diff)
        }
        if !diff.isEmpty { throw ExitCode(1) }
    }
}
