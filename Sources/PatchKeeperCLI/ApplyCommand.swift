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

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        _superCommandName: "patchkeeper",
        abstract: "Apply a patch file to the live root (all files or none) and register it.",
        usage: "patchkeeper apply FILE.patch [--title TEXT] [--reason TEXT] [<options>]\npatchkeeper apply --commit SHA [--pull-request URL] [<options>]",
        discussion: """
        Takes a 'git diff' or 'git format-patch' file, applies it to the files under the root as \
        'git apply' would (exact context, no fuzz), and records it in the registry. Paths in the patch \
        may be repository paths (with --subdir stripped) or root paths. If any hunk does not apply, \
        nothing is written and the exit status is 1. Title and reason default to the patch's \
        Subject and message.

        With --commit SHA instead of a file, the change is taken from that commit of the app's \
        repository (the usual case: a fix from a pull request put on production before its \
        release; only its files under --subdir are applied). The patch then records Commit: and, \
        with --pull-request, Pull-Request: trailers, so 'gate' sees it as upstreamed as soon as the \
        commit is in the revision being deployed.

        Examples:
          patchkeeper apply --dry-run fix-timeout.patch
          patchkeeper apply fix-timeout.patch \\
            --reason "Workers time out under load" --ticket OPS-7
          patchkeeper apply --commit 1a2b3c4 \\
            --pull-request https://git.example.org/app/pull/42
        """
    )

    @OptionGroup var meta: PatchMetadataOptions

    @Flag(name: .long, help: "Check that the patch applies and show what would be written; change nothing.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp("Take the change from this commit of the app's repository.", valueName: "sha"), completion: Completions.refs)
    var commit: String?

    @Option(name: .long, help: ArgumentHelp("The pull request the change comes from (recorded as Pull-Request:).", valueName: "url"))
    var pullRequest: String?

    @Argument(help: ArgumentHelp("The patch file (not with --commit).", valueName: "file.patch"), completion: .file())
    var patchFile: String?

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if (patchFile == nil) == (commit == nil) { throw ValidationError("give a patch file or --commit SHA (one of them)") }
    }

    func run() throws {
        let deployment = try global.deployment()
        let registry = try Registry(deployment: deployment)
        var request = Applier.Request(patchPath: patchFile ?? "", title: meta.title, reason: meta.reason, ticket: meta.ticket,
                                      expires: meta.expires, author: try meta.person(), lockWait: global.wait, dryRun: dryRun)
        request.commit = commit
        request.pullRequest = pullRequest
        let result = try Applier.apply(request, deployment: deployment, registry: registry)
        let action = result.alreadyApplied ? "already applied as" : dryRun ? "would apply" : "applied"
        try report(action: action, patch: result.patch, registry: registry, output: global.output,
                   written: result.written, deleted: result.deleted, dryRun: dryRun)
    }
}
