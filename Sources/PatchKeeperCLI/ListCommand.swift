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

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        _superCommandName: "patchkeeper",
        abstract: "List the active patches: id, title, files, author, age, expiry.",
        usage: "patchkeeper list [--all | --expiring DAYS] [<options>]",
        discussion: """
        Patches past their Expires date are marked EXPIRED. --all includes retired and upstreamed \
        patches; --expiring DAYS shows only the active patches that expire within that many days \
        (or have expired). Use --format json for scripts.

        Examples:
          patchkeeper list
          patchkeeper list --expiring 14
          patchkeeper list --all --format json
        """
    )

    @Flag(name: .long, help: "Include retired and upstreamed patches.")
    var all = false

    @Option(name: .long, help: ArgumentHelp("Only active patches that expire within DAYS days (expired ones included).", valueName: "days"))
    var expiring: Int?

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let expiring, expiring < 0 { throw ValidationError("--expiring takes a number of days (0 or more)") }
        if expiring != nil && all { throw ValidationError("--expiring lists active patches only: drop --all") }
    }

    func run() throws {
        let registry = try global.readRegistry()
        let now = Date()
        let horizon = expiring.map { now.addingTimeInterval(Double($0) * 86_400) }
        let patches = try registry.patches().filter { p in
            if let horizon { return p.status == .active && p.expires != nil && p.isExpired(now: horizon) }
            return all || p.status == .active
        }
        let view = ListView(registry: registry, patches: patches, last: registry.lastScan, all: all, now: now)
        let out = global.output
        if global.format == .json { return try out.json(view.document()) }
        view.text(out)
        let edits = registry.handEdits
        for f in edits.files {
            Output.diagnostic("warning: \(Text.terminalLine(registry.registryPath + "/" + f)) has uncommitted changes (edited by hand?); "
                              + "list shows the file as it is now, gate and scan report it")
        }
        if let error = edits.error { Output.diagnostic("warning: " + Text.terminalLine(error)) }
    }
}

/// list's output: the JSON document (docs/schema/list.json) and the text table, sized to the
/// terminal (the title column takes what the others leave).
struct ListView {
    struct Document: Encodable {
        var registry: String
        /// "public-summary" when read by a user who may not read the registry itself.
        var source: String?
        /// When the last scan ran (absent before the first); each patch's `state` is from it.
        var lastScan: String?
        var patches: [PatchDTO]
    }

    let registry: RegistrySource
    let patches: [PatchFile]
    let last: LastScan?
    let all: Bool
    let now: Date

    func document() throws -> Document {
        Document(registry: registry.registryPath, source: registry.sourceName, lastScan: last.map { Text.isoTimestamp($0.checkedAt) },
                 patches: try patches.map { p in
                     var dto = try registry.dto(p, now: now)
                     dto.state = p.status == .active ? last?.states[p.id] : nil
                     return dto
                 })
    }

    func text(_ out: Output) {
        defer { if let note = registry.note { out.line(out.dim(note)) } }
        if patches.isEmpty {
            out.line(all ? "no patches in \(registry.registryPath)" : "no active patches in \(registry.registryPath)")
            return
        }
        let expiries = patches.map(expiry)
        let titles = patches.map { Output.terminalSafe(Text.singleLine($0.subject)) }
        let expiryW = expiries.map { Text.displayWidth($0.text) }.max() ?? 0
        let fixed = 5 + 1 + 11 + 1 + 1 + 5 + 1 + 10 + 1 + 4 + 1 + expiryW
        let longest = max(5, titles.map(Text.displayWidth).max() ?? 0)
        let titleW = Output.width.map { max(10, min(longest, $0 - fixed)) } ?? longest
        out.line(out.bold(cell("ID", 5) + " " + cell("STATE", 11) + " " + cell("TITLE", titleW) + " " + cell("FILES", 5) + " "
                          + cell("AUTHOR", 10) + " " + cell("AGE", 4) + " EXPIRES"))
        for (i, p) in patches.enumerated() {
            let files = registry.fileCount(p).map(String.init) ?? "?"
            var state = p.status == .active ? (last?.states[p.id] ?? "-") : p.status.rawValue
            if p.status == .active && state != "applied" && state != "-" { state = state.uppercased() }
            let stateCell = state == state.uppercased() && state != "-" ? out.red(cell(state, 11)) : cell(state, 11)
            var row = cell(p.id, 5) + " " + stateCell + " " + cell(titles[i], titleW) + " "
            row += cell(files, 5) + " " + cell(Output.terminalSafe(Text.singleLine(p.author.name)), 10) + " "
            row += cell(Age.short(from: p.date, now: now), 4) + " "
            row += expiries[i].red ? out.red(expiries[i].text) : expiries[i].text
            out.line(row)
        }
        if let last {
            out.line(out.dim("states from the scan of \(Text.isoTimestamp(last.checkedAt)); 'patchkeeper scan' checks again"))
        } else {
            out.line(out.dim("no scan yet: 'patchkeeper scan' fills in STATE"))
        }
    }

    /// The EXPIRES cell: the day, with the time left or EXPIRED (red) for an active patch.
    func expiry(_ p: PatchFile) -> (text: String, red: Bool) {
        guard let e = p.expires else { return ("no expiry", false) }
        if p.status == .active && p.isExpired(now: now) { return (e + " EXPIRED", true) }
        if let end = Text.endOfDay(e), p.status == .active { return (e + " (" + Age.short(from: now, now: end) + " left)", false) }
        return (e, false)
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        _superCommandName: "patchkeeper",
        abstract: "Show one patch: metadata, files, history and the diff.",
        usage: "patchkeeper show ID [<options>]",
        discussion: """
        ID is the patch number (1 or 0001) or its file name. On a terminal the diff is coloured \
        (--color never, or NO_COLOR, turns that off).

        Examples:
          patchkeeper show 3
          patchkeeper show 0003-disable-the-rss-cleanup-job.patch --format json
        """
    )

    @Argument(help: ArgumentHelp("The patch id or file name.", valueName: "id"), completion: Completions.patches)
    var id: String

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let registry = try global.readRegistry()
        let patch = try registry.find(id, in: try registry.patches())
        let view = ShowView(registry: registry, patch: patch, history: try registry.history(fileName: patch.fileName), now: Date())
        if global.format == .json { return try global.output.json(view.document()) }
        view.text(global.output)
    }
}

/// show's output: the JSON document (docs/schema/show.json) and the text page.
struct ShowView {
    struct Document: Encodable {
        var patch: PatchDTO
        var registryFile: String
        /// "public-summary" (and no diff) for a user who may not read the registry itself.
        var source: String?
        var diff: String?
        var history: [HistoryDTO]
    }

    let registry: RegistrySource
    let patch: PatchFile
    let history: [Registry.Entry]
    let now: Date

    func document() throws -> Document {
        Document(patch: try registry.dto(patch, now: now), registryFile: registry.registryPath + "/" + patch.fileName,
                 source: registry.sourceName, diff: registry.sourceName != nil ? nil : patch.diffText,
                 history: history.map(HistoryDTO.init))
    }

    func text(_ out: Output) {
        func field(_ name: String, _ value: String) { out.line(cell(name + ":", 10) + Text.terminalLine(value)) }
        out.line(out.bold(Text.terminalLine("Patch \(patch.id): \(patch.subject)")))
        field("File", registry.registryPath + "/" + patch.fileName)
        field("Status", patch.status.rawValue)
        field("Author", patch.author.formatted)
        field("Date", (patch.date.map(Text.isoTimestamp) ?? patch.dateText) + " (\(Age.short(from: patch.date, now: now)) ago)")
        field("Base", patch.base?.hex ?? "?")
        if let t = patch.ticket { field("Ticket", t) }
        if let e = patch.expires {
            let expired = patch.status == .active && patch.isExpired(now: now)
            out.line(cell("Expires:", 10) + e + (expired ? " " + out.red("EXPIRED") : ""))
        }
        for key in ["Retired-By", "Retired-At", "Retired-Reason", "Upstreamed-In"] {
            if let v = patch.trailer(key) { field(key, v) }
        }
        for t in patch.trailers
        where !PatchDTO.knownTrailers.contains(t.key.lowercased()) && !t.key.hasPrefix("Retired-") && t.key != "Upstreamed-In" {
            field(t.key, t.value)
        }
        let files: [String]
        if case .summary(let s, _) = registry {
            files = s.patches.first { $0.fileName == patch.fileName }?.files ?? []
        } else {
            files = filesSummary(patch)
        }
        for (i, f) in files.enumerated() { out.line(cell(i == 0 ? "Files:" : "", 10) + Text.terminalLine(f)) }
        out.line()
        out.line("Reason:")
        for l in patch.reason.split(separator: "\n", omittingEmptySubsequences: false) { out.line("  " + Output.terminalSafe(String(l))) }
        out.line()
        out.line("History:")
        for e in history {
            out.line("  " + Text.terminalLine("\(Text.isoTimestamp(e.date))  \(e.commit.short)  \(e.subject)  (\(e.author.name))"))
        }
        out.line()
        if let note = registry.note {
            out.line(out.dim(note))
            out.line(out.dim("the diff: sudo patchkeeper show \(patch.id)"))
        } else {
            out.diff(patch.diffText)
        }
    }
}

struct RetireCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire",
        _superCommandName: "patchkeeper",
        abstract: "Mark a patch retired (it stays in the registry and its history).",
        usage: "patchkeeper retire ID --reason TEXT [--revert] [<options>]",
        discussion: """
        Use it when a hot patch is no longer wanted: reverted by hand, replaced, or made obsolete; \
        --revert takes the change out of the live files too, in the same step. \
        The file keeps its diff; Status becomes 'retired' with Retired-By, Retired-At and \
        Retired-Reason trailers, committed to the registry.

        Examples:
          patchkeeper retire 0001 --reason "Migration finished; job re-enabled"
          patchkeeper retire 0002 --revert --reason "Not needed after all"

        --revert puts back what the live file held without the patch: the deployed revision's \
        file (or the patch it is stacked on). When a deploy since has changed the file (say, it \
        carries the fix), that is refused: retire without --revert.
        """
    )

    @Argument(help: ArgumentHelp("The patch id or file name.", valueName: "id"), completion: Completions.patches)
    var id: String

    @Option(name: .long, help: ArgumentHelp("Why the patch is retired.", valueName: "text"))
    var reason: String

    @Flag(name: .long, help: "Also take the change out of the live tree (all files or none; refused when the live files are not exactly what the patch made).")
    var revert = false

    @Option(name: .long, help: ArgumentHelp("Who retires it, 'Name <email>' (default: $SUDO_USER or the login user).", valueName: "person"))
    var author: String?

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let who = try parsePerson(author, option: "--author")
        if revert {
            let deployment = try global.deployment()
            let registry = try Registry(deployment: deployment)
            let patch = try Retirer.retire(id: id, reason: reason, by: who, lockWait: global.wait, registry: registry, revert: deployment)
            try report(action: "retired and reverted", patch: patch, registry: registry, output: global.output)
            return
        }
        let registry = try global.openRegistry()
        let patch = try Retirer.retire(id: id, reason: reason, by: who, lockWait: global.wait, registry: registry)
        try report(action: "retired", patch: patch, registry: registry, output: global.output)
    }
}

struct ResolveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        _superCommandName: "patchkeeper",
        abstract: "Keep a patch whose reapply conflicted, from the live file you fixed by hand.",
        usage: "patchkeeper resolve ID [--author PERSON] [<options>]",
        discussion: """
        After 'reapply' reports CONFLICTS for a patch, edit the live file until it carries the fix on \
        top of the new revision (no conflict markers left), then run this. The patch is rebased onto \
        the deployed revision: its new diff goes from the deployed content (with the earlier active \
        patches on that file) to your live file. Id, owner, ticket and expiry are kept; Resolved-By \
        and Resolved-At are added; one registry commit.

        Examples:
          patchkeeper reapply            # 0003 CONFLICTS in config/clock.rb
          vi /srv/app/current/config/clock.rb
          patchkeeper resolve 0003
        """
    )

    @Argument(help: ArgumentHelp("The patch id or file name.", valueName: "id"), completion: Completions.patches)
    var id: String

    @Option(name: .long, help: ArgumentHelp("Who resolves it, 'Name <email>' (default: $SUDO_USER or the login user).", valueName: "person"))
    var author: String?

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let who = try parsePerson(author, option: "--author")
        let deployment = try global.deployment()
        let registry = try Registry(deployment: deployment)
        let patch = try Resolver.resolve(id: id, by: who, lockWait: global.wait, deployment: deployment, registry: registry)
        try report(action: "resolved", patch: patch, registry: registry, output: global.output)
    }
}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        _superCommandName: "patchkeeper",
        abstract: "Show the registry's history: every record, apply and retire, newest first.",
        usage: "patchkeeper log [ID] [<options>]",
        discussion: """
        With an ID, only the commits that touched that patch.

        Examples:
          patchkeeper log
          patchkeeper log 3
        """
    )

    @Argument(help: ArgumentHelp("Only this patch (id or file name).", valueName: "id"), completion: Completions.patches)
    var id: String?

    /// The shared options, last: `help COMMAND` lists the command's own first.
    @OptionGroup var global: GlobalOptions

    struct LogDTO: Encodable {
        var registry: String
        /// "public-summary" (the latest 200 commits) for a user who may not read the registry itself.
        var source: String?
        var entries: [HistoryDTO]
    }

    func run() throws {
        let registry = try global.readRegistry()
        var fileName: String?
        if let id { fileName = try registry.find(id, in: try registry.patches()).fileName }
        let entries = try registry.history(fileName: fileName)
        let out = global.output
        if global.format == .json {
            try out.json(LogDTO(registry: registry.registryPath, source: registry.sourceName, entries: entries.map(HistoryDTO.init)))
            return
        }
        defer { if let note = registry.note { out.line(out.dim(note)) } }
        for e in entries {
            let text = "\(Text.isoTimestamp(e.date))  \(cell(e.author.name, 10))  \(e.subject)"
            out.line(out.dim(e.commit.short) + "  " + Text.terminalLine(text))
        }
    }
}
