import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import PatchKeeper

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        _superCommandName: "patchkeeper",
        abstract: "One line per configured app: deployed revision, patches by state, expired, unregistered changes, last scan.",
        usage: "patchkeeper status [--app NAME] [<options>]",
        discussion: """
        Reads what the last scan of each app saw (the hourly timer keeps it fresh); it scans nothing \
        and needs no root privileges on a readable registry. With a config file every app in it is \
        shown (--app picks one); with --root/--registry flags, that one app.

        Columns: APP, DEPLOYED (revision, and how long ago REVISION was written), PATCHES (count by \
        last state), EXPIRED, UNREGISTERED (with the age of the oldest), LAST SCAN (age and result). \
        An app published to a [fleet] remote gets a line saying when the last push worked, or that \
        it is PENDING since when and why.

        Exit: 0 nothing to report, 1 findings (a patch not applied, expired, unregistered changes, \
        no scan yet, a scan older than a day or older than the last deploy, a pending fleet push), \
        2 trouble (an app's registry cannot be read).

        Examples:
          patchkeeper status
          patchkeeper status --app obs-api --format json
        """
    )

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    struct AppDTO: Encodable {
        var app: String
        var registry: String
        /// "public-summary" when read by a user who may not read the registry itself.
        var source: String?
        var deployedRevision: String?
        var deployedAt: String?
        var patches: [String: Int]
        var expired: [String]
        var unregistered: Int
        var oldestUnregistered: String?
        var oldestUnregisteredSince: String?
        var lastScan: String?
        var lastScanProblems: Int?
        var handEdited: [String]
        /// The registry's status could not be read: hand edits are unknown (a finding).
        var handEditCheck: String?
        /// REVISION was written after the last scan: what the scan saw may be gone.
        var deployedSinceLastScan: Bool
        var findings: Bool
        var error: String?
        /// The last push to the fleet remote (absent when the app was never published).
        var fleetPush: FleetPushDTO?
    }

    struct FleetPushDTO: Encodable {
        var remote: String
        var host: String
        var ok: Bool
        var lastAttempt: String
        var lastSuccess: String?
        var pendingSince: String?
        var error: String?
    }

    struct StatusDTO: Encodable {
        var apps: [AppDTO]
    }

    func run() throws {
        let now = Date()
        var apps: [AppConfig] = []
        let opts = global.appOptions
        if global.app == nil, global.root == nil, global.registry == nil,
           let loc = opts.configLocation(environment: global.environment), FileManager.default.fileExists(atPath: loc.path) {
            let config = try ConfigFile.load(path: loc.path)
            apps = config.appNames.compactMap { config.apps[$0] }
        }
        if apps.isEmpty { apps = [try opts.resolve(environment: global.environment, needsRoot: false).app] }
        var rows: [AppDTO] = []
        for app in apps { rows.append(Self.status(app, now: now)) }
        if global.format == .json {
            try global.output.json(StatusDTO(apps: rows))
        } else {
            Self.text(rows, now: now, global.output)
        }
        if rows.contains(where: { $0.error != nil }) { throw ExitCode(2) }
        if rows.contains(where: \.findings) { throw ExitCode(1) }
    }

    /// The text table: one line per app, red when it has findings.
    static func text(_ rows: [AppDTO], now: Date, _ out: Output) {
        // Columns as wide as their widest cell (display width: a CJK app name counts two), the
        // last one cut to the terminal.
        struct Row { var cells: [String]; var last: String }
        let header = Row(cells: ["APP", "DEPLOYED", "PATCHES", "EXPIRED", "UNREGISTERED"], last: "LAST SCAN")
        let body: [Row?] = rows.map { r in
            guard r.error == nil else { return nil }
            let deployed = (r.deployedRevision.map { String($0.prefix(7)) } ?? "-")
                + (r.deployedAt.flatMap(Text.parseISO).map { " " + age(now.timeIntervalSince($0)) } ?? "")
            let patches = r.patches.isEmpty ? "none"
                : r.patches.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            var unreg = "\(r.unregistered)"
            if let since = r.oldestUnregisteredSince.flatMap(Text.parseISO) { unreg += " (oldest \(age(now.timeIntervalSince(since))))" }
            let scan = (r.lastScan.flatMap(Text.parseISO).map { age(now.timeIntervalSince($0)) + " ago" } ?? "never")
                + (r.deployedSinceLastScan ? " (deployed since: run 'patchkeeper scan')" : "")
            return Row(cells: [Output.terminalSafe(r.app), deployed, patches, r.expired.isEmpty ? "0" : "\(r.expired.count)", unreg], last: scan)
        }
        var widths = header.cells.map(Text.displayWidth)
        for row in body.compactMap({ $0 }) {
            for (i, c) in row.cells.enumerated() { widths[i] = max(widths[i], min(40, Text.displayWidth(c))) }
        }
        // An app whose line is an error keeps its whole name too.
        for r in rows where r.error != nil { widths[0] = max(widths[0], min(40, Text.displayWidth(Output.terminalSafe(r.app)))) }
        func render(_ row: Row) -> String {
            let lead = zip(row.cells, widths).map { cell($0, $1) }.joined(separator: " ") + " "
            return lead + fitTitle(row.last, after: Text.displayWidth(lead))
        }
        out.line(out.bold(render(header)))
        for (r, row) in zip(rows, body) {
            guard let row else {
                out.line(cell(Output.terminalSafe(r.app), widths[0]) + " " + out.red("error: " + Output.terminalSafe(r.error ?? "")))
                continue
            }
            let line = render(row)
            out.line(r.findings ? out.red(line) : line)
            for f in r.handEdited { out.line("  " + out.red("hand-edited registry file: ") + Text.terminalLine(f)) }
            if let e = r.handEditCheck { out.line("  " + out.red("hand edits unknown: ") + Text.terminalLine(e)) }
            if r.source != nil { out.line(out.dim("  (from the public summary: the registry is readable by its owner only)")) }
            if let p = r.fleetPush {
                if p.ok {
                    out.line("  fleet: pushed to " + Text.terminalLine(p.remote) + " as " + Text.terminalLine(p.host)
                             + (p.lastSuccess.flatMap(Text.parseISO).map { " " + age(now.timeIntervalSince($0)) + " ago" } ?? ""))
                } else {
                    out.line("  " + out.red("fleet push PENDING") + " to " + Text.terminalLine(p.remote)
                             + (p.pendingSince.flatMap(Text.parseISO).map { " since " + age(now.timeIntervalSince($0)) } ?? "")
                             + ": " + Text.terminalLine(p.error ?? "unknown error") + " (retried on the next write or scan)")
                }
            }
        }
    }

    static func status(_ app: AppConfig, now: Date) -> AppDTO {
        var dto = AppDTO(app: app.name, registry: app.registry ?? "\(Deployment.defaultRegistryDirectory)/\(app.name)", patches: [:],
                         expired: [], unregistered: 0, handEdited: [], deployedSinceLastScan: false, findings: false)
        do {
            let registry = try RegistrySource.open(app)
            dto.registry = registry.registryPath
            dto.source = registry.sourceName
            let active = try registry.patches().filter { $0.status == .active }
            let last = registry.lastScan
            for p in active { dto.patches[last?.states[p.id] ?? "unscanned", default: 0] += 1 }
            dto.expired = active.filter { $0.isExpired(now: now) }.map(\.id)
            var revisionWritten: Date?
            if let root = app.root {
                let revision = Deployment.absolute(root) + "/REVISION"
                if let attrs = try? FileManager.default.attributesOfItem(atPath: revision), let m = attrs[.modificationDate] as? Date {
                    dto.deployedAt = Text.isoTimestamp(m)
                    revisionWritten = m
                }
            }
            if let last {
                dto.deployedRevision = last.deployedRevision
                dto.unregistered = last.unregistered.count
                if let (path, since) = last.oldestDrift {
                    dto.oldestUnregistered = path
                    dto.oldestUnregisteredSince = Text.isoTimestamp(since)
                }
                dto.lastScan = Text.isoTimestamp(last.checkedAt)
                dto.lastScanProblems = last.problems
            }
            (dto.handEdited, dto.handEditCheck) = registry.handEdits
            if case .registry(let r) = registry, let p = FleetPushState.load(registry: r) {
                dto.fleetPush = FleetPushDTO(remote: p.remote, host: p.host, ok: p.ok, lastAttempt: Text.isoTimestamp(p.lastAttempt),
                                             lastSuccess: p.lastSuccess.map(Text.isoTimestamp), pendingSince: p.pendingSince.map(Text.isoTimestamp),
                                             error: p.error)
            }
            if let last, let at = revisionWritten, at > last.checkedAt { dto.deployedSinceLastScan = true }
            let stale = last.map { now.timeIntervalSince($0.checkedAt) > 86_400 } ?? true || dto.deployedSinceLastScan
            dto.findings = dto.patches.keys.contains { $0 != "applied" } || !dto.expired.isEmpty || dto.unregistered > 0
                || (last?.problems ?? 0) > 0 || stale || !dto.handEdited.isEmpty || dto.handEditCheck != nil || dto.fleetPush?.ok == false
        } catch let e as PatchKeeperError {
            dto.error = e.message
        } catch {
            dto.error = "\(error)"
        }
        return dto
    }

    static func age(_ seconds: TimeInterval) -> String {
        Text.shortAge(since: Date(timeIntervalSinceNow: -seconds), now: Date())
    }
}
