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

struct FleetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "One view of every host's hot patches, from the central fleet remote.",
        usage: "patchkeeper fleet [report] [--remote URL] [--cache DIR] [<options>]\npatchkeeper fleet gate --target REV [--repo DIR] [<options>]",
        discussion: """
        Every host whose config has a [fleet] table publishes each app's registry (patch files, with \
        the bodies of secret paths redacted), the pre/post images and its latest scan and gate \
        summary to refs/patchkeeper/HOST/APP/ on one git remote (docs/FLEET.md). 'fleet' fetches \
        those refs into a local cache (incremental; nothing changed, nothing transferred) and \
        reports every distinct patch across hosts, grouped by content, and every host and app.

        'fleet gate --target REV --repo DIR' gives the deploy verdict for every host.

        Nothing fetched is ever executed; everything shown is sanitised.

        Examples:
          patchkeeper fleet
          patchkeeper fleet --no-fetch --format json
          patchkeeper fleet gate --target v2.4.0 --repo /srv/obs-api.git
        """,
        subcommands: [FleetReportCommand.self, FleetGateCommand.self],
        defaultSubcommand: FleetReportCommand.self
    )
}

/// Options of both fleet commands: where the fleet is and how to print.
struct FleetOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Config file for [fleet] (default: $PATCHKEEPER_CONFIG, then /etc/patchkeeper/config.toml).", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The fleet remote (default: [fleet] remote).", valueName: "url"))
    var remote: String?

    @Option(name: .long, help: ArgumentHelp("The local cache repository (default: [fleet] cache, else \(FleetConfig.defaultCache)).", valueName: "dir"))
    var cache: String?

    @Option(name: .long, help: ArgumentHelp("ssh: the private key to log in with (default: [fleet] ssh_key, else ssh-agent).", valueName: "file"))
    var sshKey: String?

    @Option(name: .long, help: ArgumentHelp("ssh: the server's host key fingerprint, SHA256:... (default: [fleet] ssh_host_key; required for ssh).", valueName: "fingerprint"))
    var sshHostKey: String?

    @Flag(name: .long, help: "Do not fetch: report what the cache holds.")
    var noFetch = false

    @Option(name: .long, help: ArgumentHelp("Refuse to fetch from a remote advertising more refs than this for one host (3 per app).", valueName: "n"))
    var maxRefsPerHost: Int = FleetCache.defaultMaxRefsPerHost

    @Option(name: .long, help: ArgumentHelp("Refuse to fetch from a remote advertising more fleet refs than this in all.", valueName: "n"))
    var maxRefs: Int = FleetCache.defaultMaxRefs

    @Option(name: .long, help: ArgumentHelp("Stop reporting a host/app whose refs disappeared from the remote (a decommissioned host); repeatable.", valueName: "host/app"))
    var forget: [String] = []

    @Option(name: .long, help: ArgumentHelp("A host whose last published scan is older than this is stale (e.g. 90m, 2h, 1d).", valueName: "duration"))
    var staleAfter: String = "2h"

    @Option(name: .long, help: ArgumentHelp("Output format: text or json.", valueName: "format"))
    var format: OutputFormat = .text

    @Option(name: .long, help: ArgumentHelp("Colour in text output: auto, always or never.", valueName: "when"))
    var color: ColorChoice = .auto

    func validate() throws {
        if maxRefsPerHost < 3 || maxRefs < 3 { throw ValidationError("--max-refs-per-host and --max-refs take a number of at least 3") }
        if Self.seconds(staleAfter) == nil { throw ValidationError("--stale-after takes a duration such as 90m, 2h or 1d") }
    }

    static func seconds(_ s: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let u = s.last, let f = units[u], let n = Double(s.dropLast()), n > 0 { return n * f }
        if let n = Double(s), n > 0 { return n }
        return nil
    }

    var output: Output { Output(format: format, color: color) }

    /// Fetches (unless --no-fetch) and reads the cache.
    func load() throws -> (Fleet, FleetCache, FetchSummary?) {
        var fleet: FleetConfig?
        let env = Environment.forConfig
        var opts = AppOptions()
        opts.configPath = config
        if let loc = opts.configLocation(environment: env), config != nil || FileManager.default.fileExists(atPath: loc.path) {
            fleet = try ConfigFile.load(path: loc.path).fleet
        }
        let cachePath = Deployment.absolute(cache ?? fleet?.cache ?? FleetConfig.defaultCache)
        let store = try FleetCache(path: cachePath)
        var fetched: FetchSummary?
        if !noFetch {
            guard let url = remote ?? fleet?.remote else {
                throw PatchKeeperError("no fleet remote", hint: "pass --remote URL, or set [fleet] remote in the config (or --no-fetch to read the cache)")
            }
            try FleetConfig.validate(remote: url, source: "--remote")
            let start = Date()
            let stats = try store.update(remote: url, sshKey: sshKey ?? fleet?.sshKey, sshHostKey: sshHostKey ?? fleet?.sshHostKey,
                                         maxRefsPerHost: maxRefsPerHost, maxRefs: maxRefs)
            fetched = FetchSummary(remote: url, receivedObjects: stats.receivedObjects, receivedBytes: stats.receivedBytes,
                                   prunedRefs: stats.pruned, seconds: Date().timeIntervalSince(start))
        }
        return (try store.load(forget: Set(forget)), store, fetched)
    }
}

struct FetchSummary: Encodable {
    var remote: String
    var receivedObjects: Int
    var receivedBytes: Int
    var prunedRefs: Int
    var seconds: Double
}

struct FleetReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Every distinct hot patch and every host and app of the fleet (the default).",
        usage: "patchkeeper fleet [report] [--prometheus-file PATH] [<options>]",
        discussion: """
        PATCHES: one row per distinct change (grouped by patch-id across hosts): how many hosts carry \
        it and in which state their last scan found it (applied, overwritten, modified, partial, \
        unscanned), how many have it past its expiry, the oldest recording, and variants (patches \
        with the same title or ticket but different content).
        HOSTS: one row per host and app: deployed revision, age of the last published scan (STALE \
        past --stale-after), unregistered changes, conflicts found by its last gate.

        Exit: 0 nothing to report, 1 findings (a patch not applied, expired, drift, a stale host, a \
        conflict), 2 trouble.

        Examples:
          patchkeeper fleet
          patchkeeper fleet --stale-after 1d --format json
          patchkeeper fleet --no-fetch \\
            --prometheus-file /var/lib/node_exporter/patchkeeper-fleet.prom
        """
    )

    @Option(name: .long, help: ArgumentHelp("Also write Prometheus gauges with host and app labels to this file (replaced atomically).", valueName: "path"), completion: .file())
    var prometheusFile: String?

    /// The shared fleet options, last: `help fleet report` lists the command's own first.
    @OptionGroup var fleet: FleetOptions

    /// `fleet --format json` (docs/schema/fleet.json): names as in `status` where the concept is
    /// the same (`deployed_revision`, `last_scan`, `patches` counted per `state`, `expired` ids,
    /// `unregistered`, `findings`).
    struct ReportDTO: Encodable {
        struct PatchDTO: Encodable {
            var patchId: String
            var titles: [String]
            var tickets: [String]
            var ids: [String]
            var hosts: [String]
            var hostCount: Int
            /// state → hosts.
            var states: [String: Int]
            var expiredHosts: [String]
            var oldest: String?
            var variants: [String]
            var textVariants: [[String]]
            var redacted: Bool
        }
        struct HostDTO: Encodable {
            var host: String
            var app: String
            var deployedRevision: String?
            var lastScan: String?
            var stale: Bool
            /// state → patches, as status's per-app `patches`.
            var patches: [String: Int]
            var expired: [String]
            var unregistered: Int?
            var conflicts: Int?
            var gateTarget: String?
            /// What could not be read of what the host published (not scan problems: no path).
            var publishProblems: [String]
            var scanProblems: Int?
        }
        var fetch: FetchSummary?
        var staleAfterSeconds: Int
        var patches: [PatchDTO]
        var hosts: [HostDTO]
        var ignoredRefs: [String]
        var findings: Bool
    }

    func run() throws {
        let now = Date()
        let (loaded, _, fetched) = try fleet.load()
        let report = FleetReport(fleet: loaded, now: now, staleAfter: FleetOptions.seconds(fleet.staleAfter) ?? 7200)
        if let prometheusFile { try AtomicFile.write(report.prometheus(now: now), to: prometheusFile, mode: 0o644) }
        let out = fleet.output
        if fleet.format == .json {
            try out.json(ReportDTO(
                fetch: fetched, staleAfterSeconds: Int(report.staleAfter),
                patches: report.patches.map { p in
                    .init(patchId: p.key, titles: p.titles, tickets: p.tickets, ids: p.ids, hosts: p.hosts, hostCount: p.hosts.count,
                          states: p.states, expiredHosts: p.expiredHosts, oldest: p.oldest.map(Text.isoTimestamp), variants: p.variants, textVariants: p.textVariants, redacted: p.redacted)
                },
                hosts: report.hosts.map { h in
                    .init(host: h.host, app: h.app, deployedRevision: h.deployedRevision, lastScan: h.lastScan.map(Text.isoTimestamp), stale: h.stale,
                          patches: h.states, expired: h.expiredIDs, unregistered: h.unregistered, conflicts: h.conflicts,
                          gateTarget: h.gateTarget, publishProblems: h.problems, scanProblems: h.scanProblems)
                },
                ignoredRefs: report.ignoredRefs, findings: report.hasFindings))
        } else {
            render(report, fetched: fetched, now: now, out: out)
        }
        if report.hasFindings { throw ExitCode(1) }
    }

    func render(_ r: FleetReport, fetched: FetchSummary?, now: Date, out: Output) {
        if let f = fetched {
            out.line("fleet: fetched \(Text.terminalLine(f.remote)): \(f.receivedObjects) objects, \(f.receivedBytes) bytes"
                     + (f.prunedRefs > 0 ? ", \(f.prunedRefs) refs pruned" : "") + " (\(Text.fixed(f.seconds, 2)) s)")
        }
        let members = r.hosts.count
        out.line("fleet: \(r.patches.count) distinct patch\(r.patches.count == 1 ? "" : "es") on \(members) host/app\(members == 1 ? "" : "s")")
        if !r.patches.isEmpty {
            out.line("")
            out.line(out.bold(cell("PATCH-ID", 9) + " " + cell("HOSTS", 5) + " " + cell("APPLIED", 7) + " " + cell("OVERWR", 6) + " " + cell("MODIF", 5) + " "
                              + cell("PARTIAL", 7) + " " + cell("EXPIRED", 7) + " " + cell("OLDEST", 6) + " TITLE"))
            for p in r.patches {
                let s = p.states
                var line = cell(String(p.key.prefix(8)), 9) + " " + cell("\(p.hosts.count)", 5) + " " + cell("\(s["applied"] ?? 0)", 7) + " "
                    + cell("\(s["overwritten"] ?? 0)", 6) + " " + cell("\(s["modified"] ?? 0)", 5) + " " + cell("\(s["partial"] ?? 0)", 7) + " "
                    + cell("\(p.expired)", 7) + " "
                    + cell(Text.shortAge(since: p.oldest, now: now), 6) + " " + Text.terminalLine(p.titles.first ?? "")
                if p.titles.count > 1 { line += " (+\(p.titles.count - 1) other title\(p.titles.count == 2 ? "" : "s"))" }
                if p.redacted { line += " [redacted]" }
                out.line(line)
                let unscanned = s["unscanned"] ?? 0
                if unscanned > 0 { out.line("          \(unscanned) host\(unscanned == 1 ? "" : "s") not scanned since it was recorded") }
                out.line("          on: " + Self.list(p.hosts.map(Text.terminalLine), max: 8) + " (ids " + Self.list(p.ids.map(Text.terminalLine), max: 5) + ")")
                if !p.variants.isEmpty {
                    out.line("          " + out.red("variants") + " (same title or ticket, different content): " + Self.list(p.variants.map { String($0.prefix(8)) }, max: 5))
                }
                if !p.textVariants.isEmpty {
                    out.line("          " + out.red("variants") + " (same patch-id, different whitespace): "
                             + p.textVariants.prefix(4).map { Self.list($0.map(Text.terminalLine), max: 4) }.joined(separator: " | "))
                }
            }
        }
        if !r.hosts.isEmpty {
            out.line("")
            out.line(out.bold(cell("HOST", 16) + " " + cell("APP", 14) + " " + cell("DEPLOYED", 8) + " " + cell("PATCHES", 7) + " " + cell("NOT APPL", 8) + " "
                              + cell("EXPIRED", 7) + " " + cell("UNREG", 5) + " " + cell("CONFL", 5) + " LAST SCAN"))
            for h in r.hosts {
                let notApplied = h.states.filter { $0.key != "applied" }.values.reduce(0, +)
                let scan = h.lastScan.map { Text.shortAge(since: $0, now: now) + " ago" } ?? "never"
                let line = cell(Text.terminalLine(h.host), 16) + " " + cell(Text.terminalLine(h.app), 14) + " " + cell(String((h.deployedRevision ?? "-").prefix(7)), 8) + " "
                    + cell("\(h.patches)", 7) + " " + cell("\(notApplied)", 8) + " " + cell("\(h.expired)", 7) + " "
                    + cell(h.unregistered.map(String.init) ?? "?", 5) + " " + cell(h.conflicts.map(String.init) ?? "-", 5) + " " + scan
                    + (h.stale ? " STALE" : "")
                let finding = h.stale || (h.unregistered ?? 0) > 0 || (h.conflicts ?? 0) > 0 || h.expired > 0 || notApplied > 0 || !h.problems.isEmpty || (h.scanProblems ?? 0) > 0
                out.line(finding ? out.red(line) : line)
                for p in h.problems.prefix(5) { out.line("  problem: " + Text.terminalLine(p)) }
                if let n = h.scanProblems, n > 0 { out.line("  problem: its last scan had \(n) problem\(n == 1 ? "" : "s") (see 'patchkeeper scan' on the host)") }
            }
        }
        if !r.ignoredRefs.isEmpty { out.line("\(r.ignoredRefs.count) ref\(r.ignoredRefs.count == 1 ? "" : "s") outside the layout ignored, e.g. \(Text.terminalLine(r.ignoredRefs[0]))") }
    }

    static func list(_ items: [String], max: Int) -> String {
        items.count <= max ? items.joined(separator: " ") : items.prefix(max).joined(separator: " ") + " … and \(items.count - max) more"
    }
}

struct FleetGateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "The deploy verdict of REV for every host, decided once per distinct patch and base.",
        usage: "patchkeeper fleet gate --target REV [--repo DIR] [--app APP] [<options>]",
        discussion: """
        Runs gate's decision procedure (the one 'gate' and 'reapply' use) for each distinct patch and \
        base in the fleet, against REV in the app repository given with --repo, using the images \
        the hosts published; then maps the verdicts to the hosts: "conflicts on 312 hosts, reapplies \
        on 5". A host is blocked by a blocking patch (per --policy, and expiry), by unregistered \
        changes in its last scan, and whenever the verdict would be a guess: a patch whose secret \
        paths were redacted, two patches on one file, no scan or a stale one ("decide on the host": \
        run 'patchkeeper gate' there).

        Exit: 0 every host is safe, 1 any host would lose something or must decide itself, 2 trouble.

        Examples:
          patchkeeper fleet gate --target v2.4.0 --repo /srv/obs-api.git
          patchkeeper fleet gate --target origin/main --app api \\
            --policy reapply --format json
        """
    )

    @Option(name: .long, help: ArgumentHelp("The revision about to be deployed.", valueName: "rev"))
    var target: String

    @Option(name: .long, help: ArgumentHelp("A clone of the app's repository holding REV (default: the current directory).", valueName: "dir"))
    var repo: String = "."

    @Option(name: .long, help: "Only this app's hosts (needed when the fleet holds several apps).")
    var app: String?

    @Option(name: .long, help: ArgumentHelp("strict (anything not upstreamed blocks) or reapply (only conflicts and removed files block).", valueName: "policy"))
    var policy: String = "strict"

    @Flag(name: .long, help: "An expired patch blocks only like any other.")
    var allowExpired = false

    @Flag(name: .long, help: "Accept a repository owned by another user.")
    var trustRepo = false

    /// The shared fleet options, last: `help fleet gate` lists the command's own first.
    @OptionGroup var fleet: FleetOptions

    func validate() throws {
        if GateReport.Policy(rawValue: policy) == nil { throw ValidationError("--policy is strict or reapply") }
    }

    /// `fleet gate --format json` (docs/schema/fleet-gate.json): `verdict` per host and patch as
    /// in `gate`, plus `decide-on-host`; per distinct patch, `verdicts` maps each to its hosts.
    struct GateDTO: Encodable {
        struct PatchDTO: Encodable { var patchId: String; var titles: [String]; var verdicts: [String: [String]]; var notes: [String] }
        struct HostPatchDTO: Encodable { var id: String; var title: String; var patchId: String; var verdict: String; var blocks: Bool; var expired: Bool; var detail: String? }
        struct HostDTO: Encodable { var host: String; var app: String; var blocked: Bool; var reasons: [String]; var scanAgeSeconds: Int?; var unregistered: Int?; var patches: [HostPatchDTO] }
        var app: String?
        var target: String
        var targetRevision: String
        var policy: String
        var decisions: Int
        var blocked: Bool
        var blockedHosts: Int
        var patches: [PatchDTO]
        var hosts: [HostDTO]
    }

    func run() throws {
        let now = Date()
        let (loaded, cache, _) = try fleet.load()
        let r = try FleetGate.run(fleet: loaded, cache: cache, repository: Deployment.absolute(repo), trusted: trustRepo, target: target,
                                  policy: GateReport.Policy(rawValue: policy) ?? .strict, app: app, allowExpired: allowExpired,
                                  staleAfter: FleetOptions.seconds(fleet.staleAfter) ?? 7200, now: now)
        let out = fleet.output
        let blockedHosts = r.hosts.filter(\.blocked).count
        if fleet.format == .json {
            try out.json(GateDTO(
                app: r.app, target: r.target, targetRevision: r.targetRevision.hex, policy: r.policy.rawValue, decisions: r.decisions, blocked: r.isBlocked,
                blockedHosts: blockedHosts,
                patches: r.patches.map { .init(patchId: $0.key, titles: $0.titles, verdicts: $0.verdicts, notes: $0.notes) },
                hosts: r.hosts.map { h in
                    .init(host: h.host, app: h.app, blocked: h.blocked, reasons: h.reasons, scanAgeSeconds: h.scanAge.map { Int($0) }, unregistered: h.unregistered,
                          patches: h.patches.map { .init(id: $0.id, title: $0.title, patchId: $0.key, verdict: $0.verdict, blocks: $0.blocks, expired: $0.expired, detail: $0.detail) })
                }))
        } else {
            out.line("fleet gate: \(Text.terminalLine(r.target)) (\(r.targetRevision.short)), policy \(r.policy.rawValue), \(r.hosts.count) host/app\(r.hosts.count == 1 ? "" : "s"), \(r.decisions) distinct decision\(r.decisions == 1 ? "" : "s")")
            if !r.patches.isEmpty {
                out.line(out.bold(cell("PATCH-ID", 9) + " " + cell("TITLE", 34) + " VERDICT"))
                for p in r.patches {
                    let order = ["conflicts", "removed", FleetGateReport.decideOnHost, "reapplies-renamed", "reapplies", "upstreamed"]
                    let parts = p.verdicts.sorted { (order.firstIndex(of: $0.key) ?? 99, $0.key) < (order.firstIndex(of: $1.key) ?? 99, $1.key) }
                        .map { "\($0.key == FleetGateReport.decideOnHost ? "decide on the host" : $0.key) on \($0.value.count) host\($0.value.count == 1 ? "" : "s")" }
                    out.line(cell(String(p.key.prefix(8)), 9) + " " + cell(Text.terminalLine(p.titles.first ?? ""), 34) + " " + parts.joined(separator: ", "))
                    for n in p.notes.prefix(3) { out.line("          " + Text.terminalLine(n)) }
                }
            }
            for h in r.hosts where h.blocked {
                out.line(out.red("BLOCKED") + " " + Text.terminalLine(h.host) + "/" + Text.terminalLine(h.app) + ": " + Text.terminalLine(h.reasons.joined(separator: "; ")) + " (\(h.asOf))")
            }
            // A verdict holds as of each host's last scan (fresh up to --stale-after).
            let oldest = r.hosts.compactMap(\.scanAge).max().map { " (oldest scan \(Text.shortAge(since: Date(timeIntervalSince1970: 0), now: Date(timeIntervalSince1970: max(0, $0)))) ago)" } ?? ""
            let summary = "fleet gate: " + (r.isBlocked ? "BLOCKED on \(blockedHosts) of \(r.hosts.count)" : "safe on all \(r.hosts.count)") + " host/app\(r.hosts.count == 1 ? "" : "s")" + oldest
            out.line(r.isBlocked ? out.red(summary) : summary)
        }
        if r.isBlocked { throw ExitCode(1) }
    }
}
