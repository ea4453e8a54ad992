#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import PatchKeeper

/// Writes findings to stdout (text or JSON) and diagnostics to stderr. Text that came from patches
/// is made terminal-safe; colour is used only when stdout is a terminal and NO_COLOR is unset.
struct Output {
    let format: OutputFormat
    var color: ColorChoice = .auto

    /// The JSON contract's version (docs/JSON.md): 2 since one name for the per-patch state
    /// (`state`), `verdict` in gate, objects in every `files`, and errors as JSON.
    static let schemaVersion = 2

    /// `--quiet`: findings and errors only (no progress, no notes, no hints on stderr).
    nonisolated(unsafe) static var quiet = false
    /// `--verbose`: say on stderr what is being done (app, root, revision, timings).
    nonisolated(unsafe) static var verbose = false

    /// Inside `--all-apps --format json`: the documents written so far to the one JSON array
    /// (nil otherwise). One process, one thread: commands run one app after another.
    nonisolated(unsafe) static var arrayDocuments: Int?

    var useColor: Bool {
        switch color {
        case .always: return true
        case .never: return false
        case .auto:
            return isatty(STDOUT_FILENO) == 1 && Environment.value("NO_COLOR") == nil
                && Environment.value("TERM") != "dumb"
        }
    }

    /// Text on stdout (nothing with `--quiet`).
    func line(_ s: String = "") {
        raw(s + "\n")
    }

    func raw(_ s: String) {
        if Output.quiet && format == .text { return }
        StandardStream.out(s)
    }

    /// One JSON object: sorted snake_case keys, `schema_version` added.
    func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, enc in
            var c = enc.singleValueContainer()
            try c.encode(Text.isoTimestamp(date))
        }
        let data = try encoder.encode(Versioned(value: value))
        if let n = Output.arrayDocuments {
            if n > 0 { StandardStream.out(",\n") }
            Output.arrayDocuments = n + 1
        }
        StandardStream.out(data)
        StandardStream.out("\n")
    }

    func red(_ s: String) -> String { useColor ? "\u{1B}[1;31m\(s)\u{1B}[0m" : s }
    func bold(_ s: String) -> String { useColor ? "\u{1B}[1m\(s)\u{1B}[0m" : s }
    func dim(_ s: String) -> String { useColor ? "\u{1B}[2m\(s)\u{1B}[0m" : s }

    /// Tells on stderr what the registry lock finished for a crashed writer.
    static func recoveryNotes(_ registry: Registry) {
        for note in registry.recovered { diagnostic("note: \(note)") }
    }

    /// A line on stderr only with `--verbose`.
    /// (an autoclosure: the line is not even formatted without --verbose)
    static func info(_ s: @autoclosure () -> String) {
        if verbose { diagnostic(s()) }
    }

    /// The columns a table may use: the terminal's width when stdout is one, else $COLUMNS;
    /// nil (no limit: nothing is cut for a script or a pager) when neither says. Read once: a
    /// table asks per row, and each look at $COLUMNS copied the whole environment (6% of a scan
    /// of 1,000 patches).
    static let width: Int? = {
        var ws = winsize()
        if isatty(STDOUT_FILENO) == 1, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 {
            return Int(ws.ws_col)
        }
        if let c = Environment.value("COLUMNS").flatMap(Int.init), c > 0 { return c }
        return nil
    }()

    /// A public summary that could not be updated (the write or scan itself stands).
    static func summaryNote(_ registry: Registry) {
        if let problem = registry.summaryProblem { diagnostic("warning: " + problem) }
    }

    /// One line on stderr, always: a newline in a file name or a patch's text shows as `\n`.
    static func diagnostic(_ s: String) {
        let line = terminalSafe(s).replacing("\n", with: "\\n")
        StandardStream.err("patchkeeper: " + line + "\n")
    }

    /// Raw bytes (a diff) go out unchanged into a pipe or file, made safe only for a terminal.
    func verbatim(_ s: String) {
        raw(isatty(STDOUT_FILENO) == 1 ? Output.terminalSafe(s) : s)
    }

    /// A diff: as `verbatim`, coloured like git's when colour is on (headers bold, hunk lines
    /// cyan, removed lines red, added lines green).
    func diff(_ s: String) {
        let safe = isatty(STDOUT_FILENO) == 1 ? Output.terminalSafe(s) : s
        guard useColor else { return raw(safe) }
        var out = ""
        var inHeader = false
        for line in safe.split(separator: "\n", omittingEmptySubsequences: false) {
            let l = String(line)
            if l.hasPrefix("diff --git ") { inHeader = true }
            if l.hasPrefix("@@") { inHeader = false }
            let colour: String?
            if inHeader { colour = l.isEmpty ? nil : "1" }
            else if l.hasPrefix("@@") { colour = "36" }
            else if l.hasPrefix("+") { colour = "32" }
            else if l.hasPrefix("-") { colour = "31" }
            else { colour = nil }
            out += (colour.map { "\u{1B}[\($0)m\(l)\u{1B}[0m" } ?? l) + "\n"
        }
        raw(String(out.dropLast()))
    }

    /// Replaces control characters (ANSI escapes included) with `?`; keeps newlines and tabs.
    static func terminalSafe(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in Text.withoutEscapeSequences(s).unicodeScalars {
            if scalar == "\n" || scalar == "\t" { out.append(scalar); continue }
            if scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) { out.append("?"); continue }
            out.append(scalar)
        }
        return String(out)
    }
}

/// Wraps a JSON payload with `schema_version` at the top level.
struct Versioned<T: Encodable>: Encodable {
    let value: T

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(Output.schemaVersion, forKey: .schemaVersion)
    }

    enum Key: String, CodingKey { case schemaVersion }
}

/// Short human ages: 45s, 12m, 3h, 5d, 2y.
enum Age {
    static func short(from date: Date?, now: Date) -> String { Text.shortAge(since: date, now: now) }
}

/// Pads or cuts a cell to a display width: terminal columns, two for a CJK character; cut with "…".
func cell(_ s: String, _ width: Int) -> String { Text.padded(s, columns: width) }

/// A title at the end of a table row that starts `after` columns in: cut to the terminal's
/// width when there is one (at least 10 columns of it shown).
func fitTitle(_ title: String, after: Int) -> String {
    let t = Text.terminalLine(title)
    guard let w = Output.width else { return t }
    return Text.fitting(t, columns: max(10, w - after))
}

/// What a failed command prints on stdout in JSON mode (docs/schema/error.json), besides the
/// one line on stderr and the exit code.
struct ErrorDTO: Encodable {
    struct Detail: Encodable {
        /// usage (64), trouble (2), locked (2) or conflict (1).
        var kind: String
        var message: String
        var hint: String?
        var exitCode: Int32
    }
    var error: Detail

    init(kind: String, message: String, hint: String? = nil, exitCode: Int32) {
        error = Detail(kind: kind, message: message, hint: hint, exitCode: exitCode)
    }

    init(_ e: PatchKeeperError) {
        let kind: String
        switch e.kind {
        case .trouble: kind = "trouble"
        case .locked: kind = "locked"
        case .conflict: kind = "conflict"
        case .usage: kind = "usage"
        }
        self.init(kind: kind, message: e.message, hint: e.hint, exitCode: e.exitCode)
    }
}
