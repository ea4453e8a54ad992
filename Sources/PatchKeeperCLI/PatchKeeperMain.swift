import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
#if canImport(Glibc)
import CMalloc
#endif
import PatchKeeper

/// The executable's entry point: parses, runs, and maps errors to exit codes
/// (0 nothing to report, 1 findings, 2 trouble, 64 usage).
public enum PatchKeeperMain {
    public static func main(arguments: [String]? = nil) -> Never {
        // Swift reads a program's arguments from /proc/self/cmdline: without /proc it sees none,
        // not even its own name, and a `gate` in a deploy hook would run as the bare root
        // command, print its help and exit 0 (review). Trouble, never success.
        if arguments == nil && CommandLine.arguments.isEmpty {
            StandardStream.err("error: patchkeeper cannot read its own arguments (is /proc mounted?)\n")
            exit(2)
        }
        let args = arguments ?? Array(CommandLine.arguments.dropFirst())
        // `--version` alone answers before the argument parser builds every command's metadata
        // (its first parse is most of the process's own start-up work).
        if args == ["--version"] {
            print(PatchKeeperCommand.version)
            exit(0)
        }
        limitHeapGrowth()
        let json = wantsJSON(args)
        if let script = CompletionScripts.script(arguments: args) {
            StandardStream.out(script)
            exit(0)
        }
        do {
            var command = try leafCommand(args) ?? PatchKeeperCommand.parseAsRoot(args)
            // A writer publishes to the fleet remote whatever its outcome (a conflict still wrote).
            let outcome = Result { try command.run() }
            if let writer = command as? PublishesToFleet { writer.global.publishToFleet() }
            try outcome.get()
            exit(0)
        } catch let error as PatchKeeperError {
            fail("error: \(error.description)", json: json ? ErrorDTO(error) : nil, code: error.exitCode)
        } catch let error as UsageError {
            if json { try? Output(format: .json).json(ErrorDTO(kind: "usage", message: error.message, exitCode: 64)) }
            StandardStream.err(error.fullMessage)
            exit(64)
        } catch let error as PatchFile.ParseError {
            fail("error: \(error.description)", json: json ? ErrorDTO(kind: "trouble", message: error.description, exitCode: 2) : nil,
                 code: 2)
        } catch let code as ExitCode {
            // Findings (1) or trouble already reported: the command said what it had to. Exits
            // here: argument-parser's exit(withError:) would build the root command's usage text
            // (reflection over every command) only to print nothing, 2% of a blocked gate's work.
            exit(code.rawValue)
        } catch {
            var code = PatchKeeperCommand.exitCode(for: error).rawValue
            // --help, --version: argument-parser prints them.
            if code == 0 { PatchKeeperCommand.exit(withError: error) }
            // Any other error is trouble: exit 1 means findings, and a gate must never read an
            // unexpected failure as "findings reported" (argument-parser maps unknown errors to 1).
            if code == 1 { code = 2 }
            var text = PatchKeeperCommand.fullMessage(for: error)
            if let hint = suggestion(for: args, message: text), let eol = text.firstRange(of: "\n") {
                text.replaceSubrange(eol, with: " (\(hint))\n")
            }
            if json {
                try? Output(format: .json).json(ErrorDTO(kind: code == 64 ? "usage" : "trouble",
                                                         message: PatchKeeperCommand.message(for: error), exitCode: code))
            }
            StandardStream.err(text.hasSuffix("\n") ? text : text + "\n")
            exit(code)
        }
    }

    /// `patchkeeper SUBCOMMAND ARGS` parsed as SUBCOMMAND alone, when that succeeds: the root's
    /// parse first builds the metadata of every command (reflection over all 17 of them and a
    /// completion-script check over the whole tree), 13% of a warm gate's CPU on a 2,000-file
    /// tree. Anything the leaf parse does not accept (help, a usage error, a command with
    /// subcommands of its own) returns nil and goes to the root's parse, which then says what it
    /// always said; a leaf command's arguments parse the same way on their own (the root has no
    /// options of its own that a subcommand inherits).
    /// Each leaf names `patchkeeper` as its `_superCommandName`: argument-parser then skips, for
    /// a leaf parsed alone, its two extra parses looking for `--generate-completion-script`
    /// (14% of a warm gate's instructions; `CompletionScripts` answers that request before any
    /// parse, and the root's parse still checks for it).
    static func leafCommand(_ args: [String]) -> ParsableCommand? {
        guard let name = args.first, !name.hasPrefix("-"),
              let type = PatchKeeperCommand.configuration.subcommands.first(where: { $0.configuration.commandName == name }),
              type.configuration.subcommands.isEmpty
        else { return nil }
        return try? type.parse(Array(args.dropFirst()))
    }

    /// glibc serves a large allocation with its own mapping, returned to the system when freed,
    /// until the first such free: from then on it raises that threshold to the freed size, and
    /// the scan's large arrays (a 100k-file walk, listing and stat cache are a few MB each) come
    /// from the heap, where what is freed stays resident. A fixed threshold keeps the peak RSS of
    /// a 100k-file scan at what its arrays hold (65 → 56 MB, same time; BENCHMARKS.md).
    static func limitHeapGrowth() {
        #if canImport(Glibc)
        _ = mallopt(M_MMAP_THRESHOLD, 128 * 1024)
        #endif
    }

    /// One line on stderr, the JSON object on stdout in JSON mode, and the exit code.
    static func fail(_ line: String, json: ErrorDTO?, code: Int32) -> Never {
        Output.diagnostic(line)
        if let json { try? Output(format: .json).json(json) }
        exit(code)
    }

    /// `--format json` (or `--format=json`) before any `--`: errors, usage errors included, are
    /// then a JSON object on stdout too.
    static func wantsJSON(_ args: [String]) -> Bool {
        for (i, a) in args.enumerated() {
            if a == "--" { return false }
            if a == "--format=json" { return true }
            if a == "--format", i + 1 < args.count, args[i + 1] == "json" { return true }
        }
        return false
    }

    /// "did you mean 'scan'?" for an unknown first word close to a command name.
    static func suggestion(for args: [String], message: String) -> String? {
        guard let word = args.first(where: { !$0.hasPrefix("-") }), message.contains("'\(word)'") else { return nil }
        let names = PatchKeeperCommand.configuration.subcommands.compactMap { $0.configuration.commandName } + ["help"]
        guard !names.contains(word) else { return nil }
        let best = names.map { ($0, editDistance(word.lowercased(), $0)) }.min { $0.1 < $1.1 }
        guard let (name, d) = best, d <= max(1, min(2, name.count / 3)) else { return nil }
        return "did you mean '\(name)'?"
    }

    /// Levenshtein distance, a transposition counting as one edit ("scna" → "scan").
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}

struct PatchKeeperCommand: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "patchkeeper",
        abstract: "Keep track of hot patches on a deployed app, so a deploy never silently wipes them out.",
        usage: "patchkeeper <command> [<options>]\npatchkeeper help <command>",
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

        Shell completion (file names, app names, patch ids, git refs):
          patchkeeper --generate-completion-script bash > patchkeeper.bash
        """,
        version: version,
        subcommands: [
            InitCommand.self, RecordCommand.self, ApplyCommand.self, ListCommand.self,
            ShowCommand.self, EditCommand.self, RetireCommand.self, ResolveCommand.self, ProposeCommand.self, LogCommand.self,
            StatusCommand.self, ScanCommand.self, DiffCommand.self, GateCommand.self, ReapplyCommand.self, MotdCommand.self,
            FleetCommand.self,
        ]
    )
}
