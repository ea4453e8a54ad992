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

struct EditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        _superCommandName: "patchkeeper",
        abstract: "Change a patch's expiry, ticket, reason, owner or title (one registry commit).",
        usage: "patchkeeper edit ID [--expires DATE | --no-expires] [<options>]",
        discussion: """
        The diff, the id and the history are kept; the commit message says what changed, and \
        Edited-By / Edited-At are added. 'patchkeeper log ID' shows every edit. An expiry in the \
        past is refused (a patch that is no longer wanted is retired).

        Examples:
          patchkeeper edit 0003 --expires 2027-01-31
          patchkeeper edit 0003 --ticket OPS-1234 \\
            --owner 'Jane Admin <jane@example.org>'
        """
    )

    @Argument(help: ArgumentHelp("The patch id or file name.", valueName: "id"), completion: Completions.patches)
    var id: String

    @Option(name: .long, help: ArgumentHelp("New expiry date (YYYY-MM-DD, valid through that day, UTC).", valueName: "date"))
    var expires: String?

    @Flag(name: .long, help: "Remove the expiry date.")
    var noExpires = false

    @Option(name: .long, help: ArgumentHelp("New ticket (URL or id).", valueName: "ticket"))
    var ticket: String?

    @Option(name: .long, help: ArgumentHelp("New reason.", valueName: "text"))
    var reason: String?

    @Option(name: .long, help: ArgumentHelp("New owner, 'Name <email>'.", valueName: "person"))
    var owner: String?

    @Option(name: .long, help: ArgumentHelp("New title.", valueName: "text"))
    var title: String?

    @Option(name: .long, help: ArgumentHelp("Who edits it, 'Name <email>' (default: $SUDO_USER or the login user).", valueName: "person"))
    var author: String?

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if expires != nil && noExpires { throw ValidationError("give --expires or --no-expires, not both") }
        if let e = expires, Text.parseDay(e) == nil { throw ValidationError("--expires '\(e)' is not a date (YYYY-MM-DD)") }
    }

    func run() throws {
        var change = Editor.Change()
        change.expires = expires
        change.removeExpiry = noExpires
        change.ticket = ticket
        change.reason = reason
        change.title = title
        change.owner = try parsePerson(owner, option: "--owner")
        let who = try parsePerson(author, option: "--author")
        let registry = try global.openRegistry()
        let patch = try Editor.edit(id: id, change: change, by: who, lockWait: global.wait, registry: registry)
        try report(action: "edited", patch: patch, registry: registry, output: global.output)
    }
}
