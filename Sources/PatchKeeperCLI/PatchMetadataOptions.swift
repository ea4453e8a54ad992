import ArgumentParser
import PatchKeeper

/// What a person says about a hot patch when recording or applying it.
struct PatchMetadataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("What the patch does, in a few words (the registry file is named after it).", valueName: "text"))
    var title: String?

    @Option(name: .long, help: ArgumentHelp("Why it is needed: whoever deploys next reads this.", valueName: "text"))
    var reason: String?

    @Option(name: .long, help: ArgumentHelp("A ticket or pull-request URL.", valueName: "url"))
    var ticket: String?

    @Option(name: .long, help: ArgumentHelp("The day the patch should be gone, YYYY-MM-DD; after it, list marks it EXPIRED.", valueName: "date"))
    var expires: String?

    @Option(name: .long, help: ArgumentHelp("Who made the change, 'Name <email>' (default: $SUDO_USER or the login user).", valueName: "person"))
    var author: String?

    func person() throws -> Person? { try parsePerson(author, option: "--author") }

    func validate() throws {
        if let expires, Text.parseDay(expires) == nil {
            throw ValidationError("--expires '\(expires)' is not a date: use YYYY-MM-DD, e.g. 2026-12-31")
        }
        _ = try person()
    }
}

/// A `Name <email>` option's value, or a usage error naming the option. A bare word (`bob`)
/// is refused: the registry's history would otherwise name a made-up `bob@HOST`.
func parsePerson(_ text: String?, option: String) throws -> Person? {
    guard let text else { return nil }
    let t = text.trimmedSpaces()
    guard t.hasSuffix(">"), let lt = t.lastIndex(of: "<"), t[lt...].contains("@"), let p = Person.parse(t) else {
        throw ValidationError("\(option) '\(text)' is not 'Name <email>', e.g. 'Jane Admin <jane@example.org>'")
    }
    return p
}

/// Prints what a write command did, as text or JSON.
struct ActionDTO: Encodable {
    var action: String
    var patch: PatchDTO
    var registryFile: String
    var written: [String]?
    var deleted: [String]?
    var dryRun: Bool?
}

/// A usage error found in `run()` (exit 64, with the command's usage line), for checks that
/// must wait until argument-parser has reported unknown options.
struct UsageError: Error {
    var message: String
    var command: ParsableCommand.Type

    init(_ message: String, command: ParsableCommand.Type) {
        self.message = message
        self.command = command
    }

    /// What argument-parser prints for its own usage errors.
    var fullMessage: String {
        let name = command.configuration.commandName ?? ""
        return "Error: \(message)\nUsage: \(PatchKeeperCommand.usageString(for: command))\n"
            + "  See 'patchkeeper \(name) --help' for more information.\n"
    }
}
