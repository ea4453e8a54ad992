import Foundation
import PatchKeeper

/// Writes findings to stdout (text or JSON) and diagnostics to stderr. Text that came from patches
/// is made terminal-safe; colour is used only when stdout is a terminal and NO_COLOR is unset.
struct Output {
    let format: OutputFormat
    var color: ColorChoice = .auto

    static let schemaVersion = 1

    /// Inside `--all-apps --format json`: the documents written so far to the one JSON array
    /// (nil otherwise). One process, one thread: commands run one app after another.
    nonisolated(unsafe) static var arrayDocuments: Int?

    var useColor: Bool {
        switch color {
        case .always: return true
        case .never: return false
        case .auto:
            return isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
                && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        }
    }

    func line(_ s: String = "") {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }

    func raw(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
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
            if n > 0 { FileHandle.standardOutput.write(Data(",\n".utf8)) }
            Output.arrayDocuments = n + 1
        }
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    func red(_ s: String) -> String { useColor ? "\u{1B}[1;31m\(s)\u{1B}[0m" : s }
    func bold(_ s: String) -> String { useColor ? "\u{1B}[1m\(s)\u{1B}[0m" : s }
    func dim(_ s: String) -> String { useColor ? "\u{1B}[2m\(s)\u{1B}[0m" : s }

    /// Tells on stderr what the registry lock finished for a crashed writer.
    static func recoveryNotes(_ registry: Registry) {
        for note in registry.recovered { diagnostic("note: \(note)") }
    }

    /// A public summary that could not be updated (the write or scan itself stands).
    static func summaryNote(_ registry: Registry) {
        if let problem = registry.summaryProblem { diagnostic("warning: " + problem) }
    }

    /// One line on stderr, always: a newline in a file name or a patch's text shows as `\n`.
    static func diagnostic(_ s: String) {
        let line = terminalSafe(s).replacingOccurrences(of: "\n", with: "\\n")
        FileHandle.standardError.write(Data(("patchkeeper: " + line + "\n").utf8))
    }

    /// Raw bytes (a diff) go out unchanged into a pipe or file, made safe only for a terminal.
    func verbatim(_ s: String) {
        raw(isatty(STDOUT_FILENO) == 1 ? Output.terminalSafe(s) : s)
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

/// Pads or cuts a cell to a display width (one column a character; cut with "…").
func cell(_ s: String, _ width: Int) -> String {
    if s.count > width { return String(s.prefix(max(0, width - 1))) + "…" }
    return s + String(repeating: " ", count: width - s.count)
}
