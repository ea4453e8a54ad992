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

struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        _superCommandName: "patchkeeper",
        abstract: "Before a deploy: what would deploying REV do to each patch and to unregistered changes?",
        usage: "patchkeeper gate --target REV [--policy strict|reapply] [<options>]",
        discussion: """
        gate is reapply's dry run against REV: the same code decides both. Each active patch is \
        rebuilt from the registry alone (its pre- and postimages are kept there; no live file is \
        read) and 3-way merged onto REV's file (patches on one file in registry order, each onto the \
        result of the ones before). Verdicts:
          upstreamed          the merge is clean and changes nothing: REV already has the change \
        (or it conflicts, but a commit in Base..REV has the patch's patch-id or Commit: trailer and \
        no later commit reverts it: upstream took the fix, then changed those lines again)
          reapplies           the merge is clean and changes REV's file: 'reapply' will restore it
          reapplies-renamed   the same, at the file's new path (only where git's own rename \
        detection, 50% similar, agrees)
          conflicts           the merge conflicts (regions shown, with the commits that changed \
        those lines), a binary or link changed on both sides, or REV has a directory there
          removed             the file no longer exists in REV (the most similar new file is named)
        and every unregistered change in the live tree as 'lost' (including an edit on top of a \
        patched file): the deploy would overwrite it.

        Policy: strict (default) blocks on any patch that is not upstreamed and on any lost change; \
        reapply blocks only on conflicts, removed files and lost changes. Under either policy a patch \
        past its Expires: date that the deploy would carry on blocks, unless --allow-expired: renew \
        it ('patchkeeper edit ID --expires DATE') or retire it.

        Exit: 0 safe, 1 blocked, 2 trouble. The last line of text output is one a deploy log can show.

        Examples:
          patchkeeper gate --target v2.4.0
          patchkeeper gate --app obs-api --target origin/main --policy reapply
          patchkeeper gate --all-apps --format json
        """
    )

    @Option(name: .long, help: ArgumentHelp("The revision about to be deployed (a tag, branch or commit in the repository); default: the app's 'target' in the config.", valueName: "rev"), completion: Completions.refs)
    var target: String?

    @Flag(name: .long, help: "Gate every app of the config file in turn, each against --target or its own 'target' setting.")
    var allApps = false

    @Option(name: .long, help: ArgumentHelp("strict or reapply (see above).", valueName: "policy"))
    var policy: GateReport.Policy = .strict

    @Flag(name: .long, help: "Let patches past their Expires: date through (they block by default, under either policy).")
    var allowExpired = false

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    /// The JSON document (docs/JSON.md, docs/schema/gate.json).
    struct GateDTO: Encodable {
        struct PatchDTO: Encodable {
            var id: String
            var title: String
            /// The live state the scan before the decision saw (as in scan).
            var state: String?
            var verdict: String
            var rule: String?
            var commit: String?
            var blocks: Bool
            var expired: Bool
            var expires: String?
            var files: [FileVerdictDTO]
        }
        struct LostDTO: Encodable { var path: String; var change: String }
        struct ProblemDTO: Encodable { var path: String; var message: String }
        var app: String
        var deployedRevision: String
        var target: String
        var targetRevision: String
        var policy: String
        var blocked: Bool
        var patches: [PatchDTO]
        var lost: [LostDTO]
        var problems: [ProblemDTO]
        var summary: String

        init(_ report: GateReport, scan: ScanReport) {
            let states = Dictionary(scan.patches.map { ($0.id, $0.state.rawValue) }, uniquingKeysWith: { a, _ in a })
            app = report.app
            deployedRevision = report.deployedRevision.hex
            target = report.target
            targetRevision = report.targetRevision.hex
            policy = report.policy.rawValue
            blocked = report.isBlocked
            patches = report.patches.map { p in
                PatchDTO(id: p.id, title: p.title, state: states[p.id], verdict: p.result.rawValue, rule: p.rule,
                         commit: p.commit?.hex, blocks: report.blocks(p), expired: p.expired, expires: p.expires,
                         files: p.files.map(FileVerdictDTO.init))
            }
            lost = report.lost.map { LostDTO(path: $0.path, change: $0.kind.rawValue) }
            problems = report.problems.map { ProblemDTO(path: $0.path, message: $0.message) }
            summary = GateCommand.summary(report)
        }
    }

    func run() throws {
        try global.forEachApp(allApps) { try runOne($0) }
    }

    func runOne(_ global: GlobalOptions) throws {
        let deployment = try global.deployment()
        guard let target = self.target ?? deployment.app.target else {
            throw PatchKeeperError("no target revision for app '\(deployment.app.name)'",
                                   hint: "pass --target REV, or set target = \"REV\" under [apps.\(deployment.app.name)]")
        }
        let registry = try Registry(deployment: deployment)
        let scan = try runScan(deployment: deployment, registry: registry, useCache: true)
        let report = try DeployGate(deployment: deployment, registry: registry).run(target: target, policy: policy, scan: scan,
                                                                                   allowExpired: allowExpired)
        global.publishToFleet(registry: registry, gate: FleetSummary.Gate(report: report, now: Date()))
        AuditLog.log(app: report.app, event: "gate \(report.isBlocked ? "BLOCKED" : "safe")",
                     details: "target=\(report.targetRevision.hex) policy=\(report.policy.rawValue) "
                         + report.patches.map { "\($0.id):\($0.result.rawValue)\($0.expired ? ":expired" : "")" }.joined(separator: ",")
                         + (report.lost.isEmpty ? "" : " lost=\(report.lost.count)"))
        if global.format == .json {
            try global.output.json(GateDTO(report, scan: scan))
        } else {
            GateView(report: report).text(global.output)
        }
        if report.isBlocked { throw ExitCode(1) }
    }

    /// "gate: BLOCKED — 1 conflict, 1 unregistered change would be lost" / "gate: safe — ..."
    static func summary(_ r: GateReport) -> String {
        func count(_ n: Int, _ word: String, _ plural: String? = nil) -> String { "\(n) \(n == 1 ? word : plural ?? word + "s")" }
        var parts: [String] = []
        let by = Dictionary(grouping: r.patches, by: \.result)
        if let c = by[.conflicts]?.count { parts.append(count(c, "conflict")) }
        if let c = by[.removed]?.count { parts.append(count(c, "patch", "patches") + " on removed files") }
        let re = (by[.reapplies]?.count ?? 0) + (by[.reappliesRenamed]?.count ?? 0)
        if re > 0 { parts.append(count(re, "patch", "patches") + " to reapply") }
        if let c = by[.upstreamed]?.count { parts.append("\(c) upstreamed") }
        let expired = r.patches.filter { $0.expired && $0.result != .upstreamed }.count
        if expired > 0 { parts.append("\(expired) expired" + (r.allowExpired ? " (allowed)" : "")) }
        if !r.lost.isEmpty { parts.append(count(r.lost.count, "unregistered change") + " would be lost") }
        if !r.problems.isEmpty { parts.append(count(r.problems.count, "problem")) }
        if parts.isEmpty { parts.append("no active patches, no unregistered changes") }
        return "gate: " + (r.isBlocked ? "BLOCKED" : "safe") + " — " + parts.joined(separator: ", ")
    }
}

/// gate's text report: a header, one row a patch with its files' verdicts, the lost changes,
/// problems, and the summary line a deploy log shows.
struct GateView {
    let report: GateReport

    func text(_ out: Output) {
        let r = report
        out.line("gate \(Text.terminalLine(r.app)): deployed \(r.deployedRevision.short) -> \(Text.terminalLine(r.target)) "
                 + "(\(r.targetRevision.short)), policy \(r.policy.rawValue)")
        if !r.patches.isEmpty {
            out.line(out.bold(cell("ID", 6) + " " + cell("VERDICT", 19) + " TITLE"))
            for p in r.patches { patchLines(p, out) }
        }
        if !r.lost.isEmpty {
            out.line(out.bold("LOST") + " (unregistered changes the deploy would overwrite; record them first)")
            for d in r.lost { out.line("  " + cell(d.kind.rawValue, 9) + " " + Text.terminalLine(d.path)) }
        }
        for p in r.problems { out.line("  " + out.red("problem") + "   " + Text.terminalLine("\(p.path): \(p.message)")) }
        let summary = GateCommand.summary(r)
        out.line(r.isBlocked ? out.red(summary) : summary)
    }

    func patchLines(_ p: GateReport.PatchResult, _ out: Output) {
        let verdict = report.blocks(p) ? out.red(cell(p.result.rawValue, 19)) : cell(p.result.rawValue, 19)
        var line = cell(p.id, 6) + " " + verdict + " " + fitTitle(p.title, after: 27)
        if let rule = p.rule {
            line += "  (" + Text.terminalLine(p.commit.map { "\(rule) matches \($0.short)" } ?? "\(rule) already in target") + ")"
        }
        if p.expired && p.result != .upstreamed {
            let e = "EXPIRED \(p.expires ?? "")"
            line += "  " + (report.allowExpired ? e : out.red(e))
        }
        out.line(line)
        for f in p.files where f.result != .upstreamed || p.result != .upstreamed {
            guard f.result != .reapplies || p.result != .reapplies else { continue }
            fileVerdictLines(f, out)
        }
    }
}
