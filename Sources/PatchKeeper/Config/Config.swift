#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TOMLKit

/// One app's settings, from a config file's `[apps.NAME]` table and/or command-line flags.
public struct AppConfig: Sendable, Equatable {
    public var name: String
    public var root: String?
    public var repo: String?
    public var subdir: String?
    public var registry: String?
    public var deployed: String?
    public var ignore: [String] = []
    public var motd: String?
    public var trusted: Bool = false
    /// The revision `gate` checks when no `--target` is given (e.g. "origin/main").
    public var target: String?
    /// Publish the metadata-only `PublicSummary` beside the registry for non-root readers.
    public var publicSummary = true
    /// The config file that defines the app (for messages).
    public var source: String?
    /// The name was only guessed from the registry's directory name (a registry-only command
    /// without `--app`): it is not checked against the registry's recorded app.
    public var nameFromRegistryPath = false

    public init(name: String) { self.name = name }

    /// Equal settings; where they were read from does not count.
    public static func == (a: AppConfig, b: AppConfig) -> Bool {
        a.name == b.name && a.root == b.root && a.repo == b.repo && a.subdir == b.subdir && a.registry == b.registry
            && a.deployed == b.deployed && a.target == b.target && a.ignore == b.ignore && a.motd == b.motd && a.trusted == b.trusted
            && a.publicSummary == b.publicSummary
            && a.nameFromRegistryPath == b.nameFromRegistryPath
    }

    /// App names become directory names (the default registry) and motd markers: a letter or
    /// digit, then letters, digits, `.`, `_`, `-`; at most 64 characters.
    public static func validate(name: String, source: String) throws {
        let bytes = Array(name.utf8)
        func ok(_ b: UInt8, first: Bool) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (!first && (b == 0x2e || b == 0x5f || b == 0x2d))
        }
        guard let head = bytes.first, bytes.count <= 64, ok(head, first: true), bytes.dropFirst().allSatisfy({ ok($0, first: false) }) else {
            throw PatchKeeperError("app name \(SafePath.quoted(name)) (\(source)) is not valid",
                                   hint: "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (--app NAME)")
        }
    }

    static let knownKeys: Set<String> = ["root", "repo", "subdir", "registry", "deployed", "ignore", "motd", "trusted", "target", "public_summary"]
    static let defaultableKeys: Set<String> = ["ignore", "motd", "trusted", "public_summary"]
}

/// The TOML configuration file (DESIGN §3): `[apps.NAME]` tables.
public struct ConfigFile: Sendable, Equatable {
    public var path: String
    public var apps: [String: AppConfig]
    /// App names in file order.
    public var appNames: [String]
    /// This file's `[defaults]` (with the main file's, for a conf.d file).
    public var defaults = Defaults()
    /// The `[fleet]` table (main file only): where the registries are published.
    public var fleet: FleetConfig?

    public static let defaultPath = "/etc/patchkeeper/config.toml"

    /// Reads and validates a config file, then merges the `*.toml` files of the `conf.d`
    /// directory beside it (in name order; an app defined twice is an error naming both files).
    /// Errors name the file, line and key.
    /// The main file's `[defaults]` apply to the apps of conf.d files too (a conf.d file's own
    /// `[defaults]` add to them for its apps). Root acts on what these files say, so each of them,
    /// and the conf.d directory, must be owned by root or the user running patchkeeper and not
    /// writable by group or others.
    public static func load(path: String) throws -> ConfigFile {
        var config = try loadOne(path: path)
        let dir = POSIX.parentDirectory(Deployment.absolute(path)) + "/conf.d"
        if POSIX.isDirectory(dir) {
            var st = stat()
            guard stat(dir, &st) == 0 else { throw PatchKeeperError("cannot read config directory \(dir): \(POSIX.errorText())") }
            try checkTrusted(st, path: dir, what: "config directory")
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }.sorted()
            for name in names {
                let part = try loadOne(path: dir + "/" + name, inherited: config.defaults)
                if part.fleet != nil {
                    throw PatchKeeperError("\(dir)/\(name): [fleet] belongs in the main config file \(path)",
                                           hint: "one host publishes under one name: move the [fleet] table to \(path)")
                }
                for appName in part.appNames {
                    if let existing = config.apps[appName] {
                        throw PatchKeeperError("app '\(appName)' is defined twice: in \(existing.source ?? config.path) and in \(dir)/\(name)",
                                               hint: "keep one [apps.\(appName)] section")
                    }
                    config.apps[appName] = part.apps[appName]
                    config.appNames.append(appName)
                }
            }
        }
        return config
    }

    static func loadOne(path: String, inherited: Defaults? = nil) throws -> ConfigFile {
        let bytes: [UInt8]
        let st: stat
        do {
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
            guard fd >= 0 else {
                let code = errno
                throw PatchKeeperError("cannot read config \(path): \(code == ELOOP ? "it is a symlink" : POSIX.errorText(code))")
            }
            defer { close(fd) }
            (bytes, st) = try POSIX.readDescriptor(fd, path: "config " + path, limit: POSIX.defaultReadLimit)
        } catch var e as PatchKeeperError {
            e.hint = "pass --config FILE or create it with 'patchkeeper init'"
            throw e
        }
        try checkTrusted(st, path: path, what: "config file")
        return try parse(String(decoding: bytes, as: UTF8.self), path: path, inherited: inherited)
    }

    static func checkTrusted(_ st: stat, path: String, what: String) throws {
        if st.st_uid != 0 && st.st_uid != geteuid() {
            throw PatchKeeperError("\(what) \(path) is owned by uid \(st.st_uid), not by root or the user running patchkeeper",
                                   hint: "whoever can write it steers what patchkeeper does: chown it to root")
        }
        if st.st_mode & 0o022 != 0 {
            throw PatchKeeperError("\(what) \(path) is writable by group or others (mode \(String(st.st_mode & 0o7777, radix: 8)))",
                                   hint: "whoever can write it steers what patchkeeper does: chmod go-w \(path)")
        }
    }

    /// `[defaults]` values and which keys were set.
    public struct Defaults: Sendable, Equatable {
        var app = AppConfig(name: "defaults")
        var keys = Set<String>()
    }

    public static func parse(_ text: String, path: String, inherited: Defaults? = nil) throws -> ConfigFile {
        try refuseWhatTOMLKitAbortsOn(text, path: path)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw PatchKeeperError("\(path):\(e.source.begin.line):\(e.source.begin.column): invalid TOML: \(e.description)",
                                   hint: "fix the file and run again")
        }
        var config = ConfigFile(path: path, apps: [:], appNames: [], defaults: Defaults())
        for key in table.keys where key != "apps" && key != "defaults" && key != "fleet" {
            throw PatchKeeperError("\(path): unknown top-level key '\(key)'", hint: "settings go under [apps.NAME] (or [defaults], [fleet])")
        }
        if let f = table["fleet"] {
            guard let t = f.table else { throw PatchKeeperError("\(path): [fleet] must be a table") }
            config.fleet = try FleetConfig.parse(t, path: path)
        }
        // [defaults]: ignore (added to every app's own), motd, trusted (when an app leaves them out).
        var defaults = AppConfig(name: "defaults")
        var defaultKeys = Set<String>()
        if let d = table["defaults"] {
            guard let t = d.table else { throw PatchKeeperError("\(path): [defaults] must be a table") }
            for key in t.keys {
                guard AppConfig.defaultableKeys.contains(key) else {
                    throw PatchKeeperError("\(path): unknown key '\(key)' in [defaults]",
                                           hint: "[defaults] takes: \(AppConfig.defaultableKeys.sorted().joined(separator: ", "))")
                }
            }
            defaults = try appConfig(name: "defaults", table: t, path: path, section: "[defaults]")
            defaultKeys = Set(t.keys)
        }
        if let inherited {
            // The main file's defaults, under this file's own.
            if inherited.keys.contains("ignore") { defaults.ignore = inherited.app.ignore + (defaultKeys.contains("ignore") ? defaults.ignore : []) }
            if inherited.keys.contains("motd"), !defaultKeys.contains("motd") { defaults.motd = inherited.app.motd }
            if inherited.keys.contains("trusted"), !defaultKeys.contains("trusted") { defaults.trusted = inherited.app.trusted }
            if inherited.keys.contains("public_summary"), !defaultKeys.contains("public_summary") { defaults.publicSummary = inherited.app.publicSummary }
            defaultKeys.formUnion(inherited.keys)
        }
        config.defaults = Defaults(app: defaults, keys: defaultKeys)
        guard let apps = table["apps"] else { return config }
        guard let appsTable = apps.table else {
            throw PatchKeeperError("\(path): 'apps' must be a table of [apps.NAME] sections")
        }
        for name in appsTable.keys {
            guard let t = appsTable[name]?.table else {
                throw PatchKeeperError("\(path): [apps.\(name)] must be a table")
            }
            for key in t.keys {
                guard AppConfig.knownKeys.contains(key) else {
                    throw PatchKeeperError("\(path): unknown key '\(key)' in [apps.\(name)]",
                                           hint: "known keys: \(AppConfig.knownKeys.sorted().joined(separator: ", "))")
                }
            }
            var app = try appConfig(name: name, table: t, path: path, section: "[apps.\(name)]")
            app.source = path
            if defaultKeys.contains("ignore") { app.ignore = defaults.ignore + app.ignore }
            if defaultKeys.contains("motd"), t["motd"] == nil { app.motd = defaults.motd }
            if defaultKeys.contains("trusted"), t["trusted"] == nil { app.trusted = defaults.trusted }
            if defaultKeys.contains("public_summary"), t["public_summary"] == nil { app.publicSummary = defaults.publicSummary }
            config.apps[name] = app
            config.appNames.append(name)
        }
        // TOMLKit's key order is not the file's; keep a stable order.
        config.appNames.sort()
        return config
    }

    /// One app's (or [defaults]') keys; relative paths are taken from the config file's directory.
    static func appConfig(name: String, table t: TOMLTable, path: String, section: String) throws -> AppConfig {
        var app = AppConfig(name: name)
        let base = POSIX.parentDirectory(Deployment.absolute(path))
        func string(_ key: String) throws -> String? {
            guard let v = t[key] else { return nil }
            guard let s = v.string else { throw PatchKeeperError("\(path): \(section) \(key) must be a string") }
            return s
        }
        func pathValue(_ key: String) throws -> String? {
            guard let s = try string(key) else { return nil }
            return s.hasPrefix("/") || s.isEmpty ? s : Deployment.absolute(base + "/" + s)
        }
        app.root = try pathValue("root")
        app.repo = try pathValue("repo")
        app.subdir = try string("subdir")
        app.registry = try pathValue("registry")
        app.deployed = try string("deployed")
        app.target = try string("target")
        app.motd = try pathValue("motd")
        if app.motd?.isEmpty == true {
            throw PatchKeeperError("\(path): \(section) motd is empty",
                                   hint: "give the banner file's path, or leave 'motd' out for /run/motd.d/50-patchkeeper-APP")
        }
        if let v = t["trusted"] {
            guard let b = v.bool else { throw PatchKeeperError("\(path): \(section) trusted must be true or false") }
            app.trusted = b
        }
        if let v = t["public_summary"] {
            guard let b = v.bool else { throw PatchKeeperError("\(path): \(section) public_summary must be true or false") }
            app.publicSummary = b
        }
        if let v = t["ignore"] {
            guard let arr = v.array else { throw PatchKeeperError("\(path): \(section) ignore must be an array of strings") }
            app.ignore = try arr.map { item in
                guard let s = item.string else { throw PatchKeeperError("\(path): \(section) ignore must be an array of strings") }
                return s
            }
        }
        return app
    }

    /// toml++ 3.4 (inside TOMLKit 0.6) aborts on an assertion, in release builds too, on some
    /// malformed documents: a table header whose first key starts with anything but a bare-key
    /// character or a quote (`[äpps.web]`, `[;x]`, a lone `[`), a `}` where an array value goes
    /// (`ignore = ["tmp/", }`), number-like junk (`x = 0----x----`). A typo in the config crashed
    /// every command. This scan names the line instead, and lets through to toml++ only values this
    /// config can hold: strings, true/false, whole numbers, and arrays and inline tables of them.
    /// Found by the FuzzConfig target; see docs/FUZZING.md.
    static func refuseWhatTOMLKitAbortsOn(_ text: String, path: String) throws {
        let s = Array(text.unicodeScalars)
        var i = 0, line = 1, lineStart = 0
        var nesting: [Unicode.Scalar] = []   // open '[' (arrays) and '{' (inline tables) of a value
        var afterEquals = false, expectValue = false, startOfLine = true
        func fail(_ what: String, at k: Int) -> PatchKeeperError {
            let saw = k < s.count && s[k] != "\n" ? "'\(Text.singleLine(String(Character(s[k]))))'" : "the end of the line"
            return PatchKeeperError("\(path):\(line):\(k - lineStart + 1): invalid TOML: \(what), saw \(saw)", hint: "fix the file and run again")
        }
        func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\r" || c == "\u{FEFF}" }
        while i < s.count {
            let c = s[i]
            if c == "\n" { line += 1; i += 1; lineStart = i; startOfLine = true; continue }
            if isBlank(c) { i += 1; continue }
            if c == "#" { while i < s.count, s[i] != "\n" { i += 1 }; continue }
            if startOfLine, nesting.isEmpty, c == "[" {
                // A table header: check its first key, then skip the rest of the line.
                var k = i + 1
                if k < s.count, s[k] == "[" { k += 1 }
                while k < s.count, s[k] == " " || s[k] == "\t" { k += 1 }
                if k >= s.count || !(s[k].isASCII && (s[k].properties.isAlphabetic || ("0"..."9").contains(s[k]) || "-_\"']".unicodeScalars.contains(s[k]))) {
                    throw fail("a table name must start with a letter, digit, '-', '_' or a quote", at: k)
                }
                while i < s.count, s[i] != "\n" { i += 1 }
                continue
            }
            startOfLine = false
            let wasAfterEquals = afterEquals
            afterEquals = false
            let inArray = expectValue && nesting.last == "["
            expectValue = false
            if wasAfterEquals || (inArray && c != "]") {
                // A value. Strings, arrays and inline tables are walked below; anything else must be
                // true, false or a plain whole number (all this config ever holds): toml++'s number
                // and date scanner is where the other assertions fire ('0----x----').
                if !"\"'[{".unicodeScalars.contains(c) {
                    var k = i
                    while k < s.count, !" \t\r\n,]}#".unicodeScalars.contains(s[k]) { k += 1 }
                    let word = String(String.UnicodeScalarView(s[i..<k]))
                    guard word == "true" || word == "false" || word.wholeMatch(of: /[+-]?[0-9]+/) != nil else {
                        throw fail("expected a value: a \"string\", true, false, a whole number or a [list] of them", at: i)
                    }
                    i = k
                    continue
                }
            }
            switch c {
            case "\"", "'":
                // A string (basic, literal, or either multi-line form): skip it whole.
                let triple = i + 2 < s.count && s[i + 1] == c && s[i + 2] == c
                i += triple ? 3 : 1
                while i < s.count {
                    if s[i] == "\\", c == "\"" {
                        if i + 1 < s.count, s[i + 1] == "\n" { line += 1; lineStart = i + 2 }
                        i += 2
                        continue
                    }
                    if s[i] == "\n" { if !triple { break }; line += 1; lineStart = i + 1 }
                    if s[i] == c, !triple || (i + 2 < s.count && s[i + 1] == c && s[i + 2] == c) {
                        i += triple ? 3 : 1
                        // Up to two more quotes right before the closing three belong to the string.
                        if triple { for _ in 0..<2 where i < s.count && s[i] == c { i += 1 } }
                        break
                    }
                    i += 1
                }
                continue
            case "=": afterEquals = true
            case "[": if wasAfterEquals || nesting.last == "[" { nesting.append("["); expectValue = true }
            case "{": nesting.append("{")
            case "]", "}": if !nesting.isEmpty { nesting.removeLast() }
            case ",": if nesting.last == "[" { expectValue = true }
            default: break
            }
            i += 1
        }
    }

    /// The TOML text of a new `[apps.NAME]` section, appended by `init`.
    public static func section(for app: AppConfig) -> String {
        var lines = ["[apps.\(tomlKey(app.name))]"]
        func add(_ key: String, _ value: String?) {
            if let value { lines.append("\(key) = \(tomlString(value))") }
        }
        add("root", app.root)
        add("repo", app.repo)
        add("subdir", app.subdir)
        add("registry", app.registry)
        add("deployed", app.deployed)
        add("motd", app.motd)
        add("target", app.target)
        if !app.ignore.isEmpty { lines.append("ignore = [\(app.ignore.map(tomlString).joined(separator: ", "))]") }
        if app.trusted { lines.append("trusted = true") }
        // Every setting `==` compares: the fuzz target checks the section reads back the same.
        if !app.publicSummary { lines.append("public_summary = false") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func tomlKey(_ s: String) -> String {
        let bare = s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
        return bare && !s.isEmpty ? s : tomlString(s)
    }

    static func tomlString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
