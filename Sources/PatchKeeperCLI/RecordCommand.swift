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

struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        _superCommandName: "patchkeeper",
        abstract: "Register a hot edit: the live files vs the deployed revision become a new patch.",
        usage: "patchkeeper record PATH... --title TEXT --reason TEXT [<options>]\npatchkeeper record --all --title TEXT --reason TEXT [<options>]",
        discussion: """
        After editing files under the app root by hand, record them so the next deploy cannot \
        silently wipe the change out. Each named file is compared with its content in the deployed \
        revision: modified, new and deleted files and mode changes (chmod +x) are captured. \
        Paths are relative to the current directory when it is inside the root, else to the root.

        With --all (or --from-drift), no paths: everything 'patchkeeper scan' reports as an \
        unregistered change becomes the new patch (check it first with 'patchkeeper diff').

        Examples:
          cd /srv/app/current
          patchkeeper record config/clock.rb \\
            --title "Disable the RSS cleanup job" \\
            --reason "It takes table locks during the migration" \\
            --ticket OPS-3364 --expires 2026-12-31
          patchkeeper diff && patchkeeper record --all \\
            --title "Tune the worker pool" --reason "OOM under load"
        """
    )

    @OptionGroup var meta: PatchMetadataOptions

    @Flag(name: [.customLong("all"), .customLong("from-drift")], help: "Record every unregistered change that scan finds.")
    var all = false

    @Argument(help: ArgumentHelp("The hot-patched files.", valueName: "path"), completion: .file())
    var paths: [String] = []

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if paths.isEmpty && !all { throw ValidationError("name at least one file to record, or pass --all") }
        if !paths.isEmpty && all { throw ValidationError("--all records every unregistered change: name no files with it") }
    }

    func run() throws {
        // Checked here, not in validate(): argument-parser validates before it reports an
        // unknown option, so '--titel t' said "--title is required" instead of naming the typo.
        if meta.title == nil { throw UsageError("--title is required: say in a few words what the patch does", command: Self.self) }
        if meta.reason == nil { throw UsageError("--reason is required: say why the hot patch is needed", command: Self.self) }
        let deployment = try global.deployment()
        let registry = try Registry(deployment: deployment)
        let request = Recorder.Request(paths: paths, title: meta.title ?? "", reason: meta.reason ?? "", ticket: meta.ticket,
                                       expires: meta.expires, author: try meta.person(), lockWait: global.wait)
        let patch: PatchFile
        if all {
            var report = try runScan(deployment: deployment, registry: registry, useCache: true)
            // A path no patch can carry (a newline in a file name) is refused on its own, named on
            // stderr; the rest of the drift is still recorded.
            report.unregistered = report.unregistered.filter { d in
                guard let rel = deployment.rootRelative(forRepoPath: d.path) else { return true }
                do {
                    _ = try SafePath.checked(rel, root: deployment.root, source: "path")
                    return true
                } catch {
                    Output.diagnostic("warning: not recorded: \(error); rename the file, then record it")
                    return false
                }
            }
            patch = try Recorder.recordDrift(request, deployment: deployment, registry: registry, report: report)
        } else {
            patch = try Recorder.record(request, deployment: deployment, registry: registry)
        }
        try report(action: "recorded", patch: patch, registry: registry, output: global.output)
    }
}

func report(action: String, patch: PatchFile, registry: Registry, output: Output,
            written: [String]? = nil, deleted: [String]? = nil, dryRun: Bool? = nil) throws {
    Output.recoveryNotes(registry)
    Output.summaryNote(registry)
    let path = registry.path + "/" + patch.fileName
    if output.format == .json {
        try output.json(ActionDTO(action: action, patch: try PatchDTO(patch, now: Date()), registryFile: path,
                                  written: written, deleted: deleted, dryRun: dryRun))
        return
    }
    output.line(Text.terminalLine("\(action) \(patch.id): \(patch.subject)"))
    for f in filesSummary(patch) { output.line("  " + Text.terminalLine(f)) }
    output.line("  \(dryRun == true ? "would write" : "registry file") \(path)")
}
