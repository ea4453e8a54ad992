import ArgumentParser
import Foundation
import PatchKeeper

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply a patch file to the live root (all files or none) and register it.",
        discussion: """
        Takes a 'git diff' or 'git format-patch' file, applies it to the files under the root as \
        'git apply' would (exact context, no fuzz), and records it in the registry. Paths in the patch \
        may be repository paths (with --subdir stripped) or root paths. If any hunk does not apply, \
        nothing is written and the exit status is 1. Title and reason default to the patch's \
        Subject and message.

        Example:
          patchkeeper apply fix-timeout.patch --reason "Workers time out under load" --ticket https://...
        """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var meta: PatchMetadataOptions

    @Flag(name: .long, help: "Check that the patch applies and show what would be written; change nothing.")
    var dryRun = false

    @Argument(help: ArgumentHelp("The patch file.", valueName: "file.patch"))
    var patchFile: String

    func run() throws {
        let deployment = try global.deployment()
        let registry = try Registry(path: deployment.registryPath)
        let result = try Applier.apply(
            .init(patchPath: patchFile, title: meta.title, reason: meta.reason, ticket: meta.ticket, expires: meta.expires,
                  author: try meta.person(), lockWait: global.wait, dryRun: dryRun),
            deployment: deployment, registry: registry)
        try report(action: dryRun ? "would apply" : "applied", patch: result.patch, registry: registry, output: global.output,
                   written: result.written, deleted: result.deleted, dryRun: dryRun)
    }
}
