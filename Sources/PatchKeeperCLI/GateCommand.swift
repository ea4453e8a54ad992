import ArgumentParser
import Foundation
import PatchKeeper

extension GateReport.Policy: ExpressibleByArgument {}

struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Before a deploy: what would deploying REV do to each patch and to unregistered changes?",
        discussion: """
        For each active patch, compares its base, its patched content and REV's tree (read straight \
        from the repository, no checkout):
          upstreamed          REV already has the change: a commit in Base..REV has the same patch-id \
        (as 'git cherry' finds it, even when later commits changed those lines again), the patch's \
        Commit: trailer is in REV's history, or REV's file carries the change
          reapplies           a 3-way merge onto REV's file is clean ('patchkeeper reapply' will restore it)
          reapplies-renamed   the same, at the file's new path in REV
          conflicts           the merge conflicts; the conflicting regions are shown
          removed             the file no longer exists in REV
        and every unregistered change in the live tree as 'lost': the deploy would overwrite it.

        Policy: strict (default) blocks on any patch that is not upstreamed and on any lost change; \
        reapply blocks only on conflicts, removed files and lost changes.

        Exit: 0 safe, 1 blocked, 2 trouble. The last line of text output is one a deploy log can show.

        Example (Capistrano, before deploy:updating):
          patchkeeper gate --app obs-api --target origin/main --policy reapply
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("The revision about to be deployed (a tag, branch or commit in the repository).", valueName: "rev"))
    var target: String

    @Option(name: .long, help: ArgumentHelp("strict or reapply (see above).", valueName: "policy"))
    var policy: GateReport.Policy = .strict

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
        let deployment = try global.deployment()
        let registry = try Registry(path: deployment.registryPath)
        let scan = try runScan(deployment: deployment, registry: registry, useCache: true)
        let report = try DeployGate(deployment: deployment, registry: registry).run(target: target, policy: policy, scan: scan)
        let out = global.output
        let summary = Self.summary(report)
        if global.format == .json {
            try out.json(GateDTO(
                app: report.app, deployedRevision: report.deployedRevision.hex, target: report.target,
                targetRevision: report.targetRevision.hex, policy: report.policy.rawValue, blocked: report.isBlocked,
                patches: report.patches.map { p in
                    .init(id: p.id, title: p.title, result: p.result.rawValue, rule: p.rule, commit: p.commit?.hex, blocks: report.blocks(p),
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
        if !r.lost.isEmpty { parts.append(count(r.lost.count, "unregistered change") + " would be lost") }
        if !r.problems.isEmpty { parts.append(count(r.problems.count, "problem")) }
        if parts.isEmpty { parts.append("no active patches, no unregistered changes") }
        return "gate: " + (r.isBlocked ? "BLOCKED" : "safe") + " — " + parts.joined(separator: ", ")
    }
}
