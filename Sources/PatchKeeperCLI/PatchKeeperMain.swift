import ArgumentParser
import Foundation
import PatchKeeper

/// The executable's entry point: parses, runs, and maps errors to exit codes
/// (0 nothing to report, 1 findings, 2 trouble, 64 usage).
public enum PatchKeeperMain {
    public static func main(arguments: [String]? = nil) -> Never {
        // `--version` alone answers before the argument parser builds every command's metadata
        // (its first parse is most of the process's own start-up work).
        if (arguments ?? Array(CommandLine.arguments.dropFirst())) == ["--version"] {
            print(PatchKeeperCommand.version)
            exit(0)
        }
        do {
            var command = try PatchKeeperCommand.parseAsRoot(arguments)
            // A writer publishes to the fleet remote whatever its outcome (a conflict still wrote).
            let outcome = Result { try command.run() }
            if let writer = command as? PublishesToFleet { writer.global.publishToFleet() }
            try outcome.get()
            exit(0)
        } catch let error as PatchKeeperError {
            Output.diagnostic("error: \(error.description)")
            exit(error.kind == .conflict ? 1 : 2)
        } catch let error as PatchFile.ParseError {
            Output.diagnostic("error: \(error.description)")
            exit(2)
        } catch {
            PatchKeeperCommand.exit(withError: error)
        }
    }
}

struct PatchKeeperCommand: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "patchkeeper",
        abstract: "Keep track of hot patches on a deployed app, so a deploy never silently wipes them out.",
        discussion: """
        A hot patch is a change made by hand to a deployed app's files. patchkeeper records each one \
        (who, why, ticket, expiry) as a git-format patch in a registry that is itself a git repository.

        Start with 'patchkeeper init', then 'patchkeeper record FILE --title ... --reason ...' after \
        editing a file by hand, and 'patchkeeper list' to see what is active. 'patchkeeper scan' \
        finds changes nobody recorded; before a deploy, 'patchkeeper gate --target REV' says what \
        the deploy would do to each patch; after it, 'patchkeeper reapply' puts them back; \
        'patchkeeper motd' keeps a login banner listing them. With a [fleet] table in the config, \
        every host publishes its registries to one git remote and 'patchkeeper fleet' shows them all.

        The app is chosen by --app from the config file (--config, $PATCHKEEPER_CONFIG, \
        /etc/patchkeeper/config.toml), or given directly with --root, --repo and --registry.

        Exit codes: 0 nothing to report, 1 findings (drift, a patch not applied, a blocked deploy, \
        conflicts), 2 trouble (bad input, missing repository or revision, lock held), 64 usage.
        """,
        version: version,
        subcommands: [
            InitCommand.self, RecordCommand.self, ApplyCommand.self, ListCommand.self,
            ShowCommand.self, EditCommand.self, RetireCommand.self, ResolveCommand.self, ProposeCommand.self, LogCommand.self, StatusCommand.self, ScanCommand.self, DiffCommand.self, GateCommand.self, ReapplyCommand.self, MotdCommand.self, FleetCommand.self,
        ]
    )
}
