import ArgumentParser
import Foundation
import PatchKeeper

struct ReapplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reapply",
        abstract: "After a deploy: put the active patches back onto the new tree and rebase them.",
        discussion: """
        Run it once the root holds the new revision (and REVISION names it). For each active patch:
          reapplied    3-way merged onto the live files (all of the patch's files or none), then \
        rebased: new Base, diff regenerated against the new revision, committed in the registry
          rebased      the live files already carry it; only the registry copy is rebased
          upstreamed   the new revision contains it: marked Status: upstreamed (Upstreamed-In: REV)
          conflicts    the merge conflicts: nothing is written, the patch is left as it was, and the \
        conflicting regions are shown (fix the live file by hand, then 'patchkeeper resolve ID')
          removed      a file it changes is gone from the new revision: nothing is written
          refused      a live file it touches is neither at the deployed revision nor carries the \
        patch (a deploy not finished, a wrong REVISION, an unregistered edit): nothing is written
        The decision is the one 'gate --target' made before the deploy (same code). Patches on one \
        file are merged in registry order, each onto the result of the ones before it. A patch that \
        fails is reported and the others still proceed. Renamed files are followed where git's own \
        rename detection agrees. --dry-run writes nothing and prints each rebased diff.

        Exit: 0 all done, 1 some patches conflict or are removed, 2 a patch was refused, or trouble.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Write nothing; show what would be written.")
    var dryRun = false

    struct ReapplyDTO: Encodable {
        struct PatchDTO: Encodable {
            var id: String
            var title: String
            var action: String
            var rule: String?
            var written: [String]
            var conflicts: [ConflictDTO]
            var diff: String?
            var detail: String?
        }
        struct ConflictDTO: Encodable { var path: String; var newPath: String?; var result: String; var detail: String?; var conflicts: [String] }
        var app: String
        var deployedRevision: String
        var dryRun: Bool
        var patches: [PatchDTO]
    }

    func run() throws {
        let deployment = try global.deployment()
        let registry = try Registry(deployment: deployment)
        let outcomes = try Reapplier(deployment: deployment, registry: registry).run(dryRun: dryRun, lockWait: global.wait)
        Output.recoveryNotes(registry)
        Output.summaryNote(registry)
        let out = global.output
        if global.format == .json {
            try out.json(ReapplyDTO(
                app: deployment.app.name, deployedRevision: deployment.revision.hex, dryRun: dryRun,
                patches: outcomes.map { o in
                    .init(id: o.id, title: o.title, action: o.action.rawValue, rule: o.rule, written: o.written,
                          conflicts: o.conflicts.map { .init(path: $0.path, newPath: $0.newPath, result: $0.result.rawValue, detail: $0.detail, conflicts: $0.conflicts) },
                          diff: dryRun ? o.diff : nil, detail: o.detail)
                }))
        } else {
            out.line("reapply \(Text.terminalLine(deployment.app.name)): onto \(deployment.revision.short)\(dryRun ? " (dry run: nothing written)" : "")")
            for o in outcomes {
                let failed = o.action == .conflicts || o.action == .removed || o.action == .refused
                let action = failed ? out.red(cell(o.action.rawValue.uppercased(), 11)) : cell(o.action.rawValue, 11)
                var line = cell(o.id, 6) + " " + action + " " + Text.terminalLine(o.title)
                if let rule = o.rule { line += "  (\(Text.terminalLine(rule)))" }
                out.line(line)
                if let detail = o.detail { out.line("         " + Text.terminalLine(detail)) }
                for w in o.written { out.line("         \(dryRun ? "would write" : "wrote") " + Text.terminalLine(w)) }
                for c in o.conflicts {
                    out.line("         " + Text.terminalLine(c.path) + ": " + c.result.rawValue + (c.newPath.map { " → " + Text.terminalLine($0) } ?? "") + (c.detail.map { " (" + Text.terminalLine($0) + ")" } ?? ""))
                    for region in c.conflicts { for l in region.split(separator: "\n", omittingEmptySubsequences: false) { out.line("           " + Output.terminalSafe(String(l))) } }
                }
                if dryRun, let diff = o.diff, o.action == .reapplied || o.action == .rebased { out.verbatim(diff) }
            }
            let failed = outcomes.filter { $0.action == .conflicts || $0.action == .removed }.count
            let refused = outcomes.filter { $0.action == .refused }.count
            if refused > 0 {
                out.line(out.red("reapply: \(refused) patch\(refused == 1 ? "" : "es") refused (see why above); nothing written for \(refused == 1 ? "it" : "them")"))
            }
            if failed > 0 {
                out.line(out.red("reapply: \(failed) patch\(failed == 1 ? "" : "es") not applied (conflicts or removed files); fix the live file by hand, then 'patchkeeper resolve ID' (or retire it)"))
            }
            if failed + refused == 0 { out.line("reapply: done — \(outcomes.count) active patch\(outcomes.count == 1 ? "" : "es") handled") }
        }
        if outcomes.contains(where: { $0.action == .refused }) { throw ExitCode(2) }
        if outcomes.contains(where: { $0.action == .conflicts || $0.action == .removed }) { throw ExitCode(1) }
    }
}
