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

struct ProposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "propose",
        _superCommandName: "patchkeeper",
        abstract: "Turn a hot patch into a git format-patch mail for a pull request, based on a given revision.",
        usage: "patchkeeper propose ID --onto REV [--output FILE] [<options>]",
        discussion: """
        The patch is merged onto REV as gate would (refused when it conflicts or REV already has it), \
        and written as a 'git format-patch' mail whose message carries the reason, the ticket and a \
        Hot-Patch: line. The app's repository is not touched: apply the mail on a branch with \
        'git am FILE' and open the pull request from it. The registry records Proposed-In: (one \
        commit). Once merged and deployed, gate and reapply find the patch upstream by patch-id.

        Examples:
          patchkeeper propose 0003 --onto origin/main --output /tmp/0003.patch
          cd ~/src/app && git switch -c hotfix/0003 origin/main
          git am /tmp/0003.patch
        """
    )

    @Argument(help: ArgumentHelp("The patch id or file name.", valueName: "id"), completion: Completions.patches)
    var id: String

    @Option(name: .long, help: ArgumentHelp("The revision to base the change on (a branch, tag or commit).", valueName: "rev"), completion: Completions.refs)
    var onto: String

    @Option(name: .long, help: ArgumentHelp("Where to write the mail (default: NNNN-slug.proposed.patch here).", valueName: "file"), completion: .file())
    var output: String?

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let deployment = try global.deployment()
        let registry = try Registry(deployment: deployment)
        let r = try Proposer.propose(id: id, onto: onto, output: output, lockWait: global.wait, deployment: deployment, registry: registry)
        try report(action: "proposed onto \(r.onto.short) as \(r.mail)", patch: r.patch, registry: registry, output: global.output)
    }
}
