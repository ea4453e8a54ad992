import ArgumentParser
import Foundation
import PatchKeeper

extension GateReport.Policy: ExpressibleByArgument {}

struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Before a deploy: what would deploying REV do to each patch and to unregistered changes?",
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

        Example (Capistrano, before deploy:updating):
          patchkeeper gate --app obs-api --target origin/main --policy reapply
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("The revision about to be deployed (a tag, branch or commit in the repository); default: the app's 'target' in the config.", valueName: "rev"))
    var target: String?

    @Flag(name: .long, help: "Gate every app of the config file in turn, each against --target or its own 'target' setting.")
    var allApps = false

    @Option(name: .long, help: ArgumentHelp("strict or reapply (see above).", valueName: "policy"))
    var policy: GateReport.Policy = .strict

    @Flag(name: .long, help: "Let patches past their Expires: date through (they block by default, under either policy).")
    var allowExpired = false

    struct GateDTO: Encodable {
        struct FileDTO: Encodable {
            var path: String
            var newPath: String?
            var result: String
            var detail: String?
            var conflicts: [String]
        }
        struct PatchDTO: Encodable {
            var id: String
            var title: String
            var result: String
            var rule: String?
            var commit: String?
            var blocks: Bool
            var expired: Bool
            var expires: String?
            var files: [FileDTO]
        }
        struct LostDTO: Encodable { var path: String; var change: String }
        var app: String
        var deployedRevision: String
        var target: String
        var targetRevision: String
        var policy: String
        var blocked: Bool
        var patches: [PatchDTO]
        var lost: [LostDTO]
        var problems: [String]
        var summary: String
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
        let out = global.output
        let summary = Self.summary(report)
        AuditLog.log(app: report.app, event: "gate \(report.isBlocked ? "BLOCKED" : "safe")",
                     details: "target=\(report.targetRevision.hex) policy=\(report.policy.rawValue) "
                         + report.patches.map { "\($0.id):\($0.result.rawValue)\($0.expired ? ":expired" : "")" }.joined(separator: ",")
                         + (report.lost.isEmpty ? "" : " lost=\(report.lost.count)"))
        if global.format == .json {
            try out.json(GateDTO(
                app: report.app, deployedRevision: report.deployedRevision.hex, target: report.target,
                targetRevision: report.targetRevision.hex, policy: report.policy.rawValue, blocked: report.isBlocked,
                patches: report.patches.map { p in
                    .init(id: p.id, title: p.title, result: p.result.rawValue, rule: p.rule, commit: p.commit?.hex, blocks: report.blocks(p),
                          expired: p.expired, expires: p.expires,
                          files: p.files.map { .init(path: $0.path, newPath: $0.newPath, result: $0.result.rawValue, detail: $0.detail, conflicts: $0.conflicts) })
                },
                lost: report.lost.map { .init(path: $0.path, change: $0.kind.rawValue) },
                problems: report.problems.map { "\($0.path): \($0.message)" },
                summary: summary))
        } else {
            out.line("gate \(Text.terminalLine(report.app)): deployed \(report.deployedRevision.short) -> \(Text.terminalLine(report.target)) (\(report.targetRevision.short)), policy \(report.policy.rawValue)")
            if !report.patches.isEmpty {
                out.line(out.bold(cell("PATCH", 6) + " " + cell("RESULT", 19) + " TITLE"))
                for p in report.patches {
                    let result = report.blocks(p) ? out.red(cell(p.result.rawValue, 19)) : cell(p.result.rawValue, 19)
                    var line = cell(p.id, 6) + " " + result + " " + Text.terminalLine(p.title)
                    if let rule = p.rule {
                        line += "  (" + Text.terminalLine(p.commit.map { "\(rule) matches \($0.short)" } ?? "\(rule) already in target") + ")"
                    }
                    if p.expired && p.result != .upstreamed {
                        line += "  " + (report.allowExpired ? "EXPIRED \(p.expires ?? "")" : out.red("EXPIRED \(p.expires ?? "")"))
                    }
                    out.line(line)
                    for f in p.files where f.result != .upstreamed || p.result != .upstreamed {
                        guard f.result != .reapplies || p.result != .reapplies else { continue }
                        var fl = "         " + Text.terminalLine(f.path) + ": " + f.result.rawValue
                        if let n = f.newPath { fl += " → " + Text.terminalLine(n) }
                        if let d = f.detail { fl += " (" + Text.terminalLine(d) + ")" }
                        out.line(fl)
                        for c in f.conflicts { for l in c.split(separator: "\n", omittingEmptySubsequences: false) { out.line("           " + Output.terminalSafe(String(l))) } }
                    }
                }
            }
            if !report.lost.isEmpty {
                out.line(out.bold("LOST") + " (unregistered changes the deploy would overwrite; record them first)")
                for d in report.lost { out.line("  " + cell(d.kind.rawValue, 9) + " " + Text.terminalLine(d.path)) }
            }
            for p in report.problems { out.line("  " + out.red("problem") + "   " + Text.terminalLine("\(p.path): \(p.message)")) }
            out.line(report.isBlocked ? out.red(summary) : summary)
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
