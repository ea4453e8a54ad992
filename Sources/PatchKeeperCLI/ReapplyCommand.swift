import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git
import PatchKeeper

struct ReapplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reapply",
        _superCommandName: "patchkeeper",
        abstract: "After a deploy: put the active patches back onto the new tree and rebase them.",
        usage: "patchkeeper reapply [--dry-run] [<options>]",
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

        Examples:
          patchkeeper reapply --dry-run
          patchkeeper reapply && patchkeeper motd
        """
    )

    @Flag(name: .long, help: "Write nothing; show what would be written.")
    var dryRun = false

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let deployment = try global.deployment()
        let registry = try Registry(deployment: deployment)
        let outcomes = try Reapplier(deployment: deployment, registry: registry).run(dryRun: dryRun, lockWait: global.wait)
        Output.recoveryNotes(registry)
        Output.summaryNote(registry)
        let view = ReapplyView(app: deployment.app.name, revision: deployment.revision, dryRun: dryRun, outcomes: outcomes)
        if global.format == .json { try global.output.json(view.document) } else { view.text(global.output) }
        if outcomes.contains(where: { $0.action == .refused || $0.trouble != nil }) { throw ExitCode(2) }
        if outcomes.contains(where: { $0.action == .conflicts || $0.action == .removed }) { throw ExitCode(1) }
    }
}

/// reapply's output: the JSON document (docs/schema/reapply.json) and the text report.
struct ReapplyView {
    struct Document: Encodable {
        struct PatchDTO: Encodable {
            var id: String
            var title: String
            var action: String
            var rule: String?
            var written: [String]
            /// The files that kept the patch from applying (conflicts, removed), as gate shows them.
            var files: [FileVerdictDTO]
            /// The rebased diff (--dry-run only).
            var diff: String?
            var detail: String?
            /// Done, but a step after the registry commit failed (exit 2).
            var trouble: String?
        }
        var app: String
        var deployedRevision: String
        var dryRun: Bool
        var patches: [PatchDTO]
    }

    let app: String
    let revision: ObjectID
    let dryRun: Bool
    let outcomes: [Reapplier.Outcome]

    var document: Document {
        Document(app: app, deployedRevision: revision.hex, dryRun: dryRun, patches: outcomes.map { o in
            .init(id: o.id, title: o.title, action: o.action.rawValue, rule: o.rule, written: o.written,
                  files: o.conflicts.map(FileVerdictDTO.init), diff: dryRun ? o.diff : nil, detail: o.detail, trouble: o.trouble)
        })
    }

    static func failed(_ o: Reapplier.Outcome) -> Bool { o.action == .conflicts || o.action == .removed || o.action == .refused }

    func text(_ out: Output) {
        out.line("reapply \(Text.terminalLine(app)): onto \(revision.short)\(dryRun ? " (dry run: nothing written)" : "")")
        for o in outcomes {
            let action = Self.failed(o) ? out.red(cell(o.action.rawValue.uppercased(), 11)) : cell(o.action.rawValue, 11)
            var line = cell(o.id, 6) + " " + action + " " + fitTitle(o.title, after: 19)
            if let rule = o.rule { line += "  (\(Text.terminalLine(rule)))" }
            out.line(line)
            if let detail = o.detail { out.line("         " + Text.terminalLine(detail)) }
            if let trouble = o.trouble { out.line("         " + out.red("but: ") + Text.terminalLine(trouble)) }
            for w in o.written { out.line("         \(dryRun ? "would write" : "wrote") " + Text.terminalLine(w)) }
            for c in o.conflicts { fileVerdictLines(c, out) }
            if dryRun, let diff = o.diff, o.action == .reapplied || o.action == .rebased { out.diff(diff) }
        }
        let failed = outcomes.filter { $0.action == .conflicts || $0.action == .removed }.count
        let refused = outcomes.filter { $0.action == .refused }.count
        func patches(_ n: Int) -> String { "\(n) patch\(n == 1 ? "" : "es")" }
        if refused > 0 {
            out.line(out.red("reapply: \(patches(refused)) refused (see why above); nothing written for \(refused == 1 ? "it" : "them")"))
        }
        if failed > 0 {
            out.line(out.red("reapply: \(patches(failed)) not applied (conflicts or removed files); "
                             + "fix the live file by hand, then 'patchkeeper resolve ID' (or retire it)"))
        }
        let troubled = outcomes.filter { $0.trouble != nil }.count
        if troubled > 0 {
            out.line(out.red("reapply: \(patches(troubled)) done, but a step after the registry commit failed (see above)"))
        }
        if failed + refused + troubled == 0 { out.line("reapply: done — \(outcomes.count) active patch\(outcomes.count == 1 ? "" : "es") handled") }
    }
}

/// One file's verdict under its patch row (gate, reapply): the file, the verdict, the new path
/// and why; then the conflicting regions, indented.
func fileVerdictLines(_ f: GateReport.FileResult, _ out: Output) {
    var line = "         " + Text.terminalLine(f.path) + ": " + f.result.rawValue
    if let n = f.newPath { line += " → " + Text.terminalLine(n) }
    if let d = f.detail { line += " (" + Text.terminalLine(d) + ")" }
    out.line(line)
    for region in f.conflicts {
        for l in region.split(separator: "\n", omittingEmptySubsequences: false) { out.line("           " + Output.terminalSafe(String(l))) }
    }
}
