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

    public init(name: String) { self.name = name }

    static let knownKeys: Set<String> = ["root", "repo", "subdir", "registry", "deployed", "ignore", "motd", "trusted"]
}

/// The TOML configuration file (DESIGN §3): `[apps.NAME]` tables.
public struct ConfigFile: Sendable, Equatable {
    public var path: String
    public var apps: [String: AppConfig]
    /// App names in file order.
    public var appNames: [String]

    public static let defaultPath = "/etc/patchkeeper/config.toml"

    /// Reads and validates a config file; errors name the file, line and key.
    public static func load(path: String) throws -> ConfigFile {
        let bytes: [UInt8]
        do { bytes = try POSIX.readFile(path) } catch {
            throw PatchKeeperError("cannot read config \(path): \(POSIX.errorText())", hint: "pass --config FILE or create it with 'patchkeeper init'")
        }
        return try parse(String(decoding: bytes, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String) throws -> ConfigFile {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw PatchKeeperError("\(path):\(e.source.begin.line):\(e.source.begin.column): invalid TOML: \(e.description)",
                                   hint: "fix the file and run again")
        }
        var config = ConfigFile(path: path, apps: [:], appNames: [])
        for key in table.keys where key != "apps" {
            throw PatchKeeperError("\(path): unknown top-level key '\(key)'", hint: "settings go under [apps.NAME]")
        }
        guard let apps = table["apps"] else { return config }
        guard let appsTable = apps.table else {
            throw PatchKeeperError("\(path): 'apps' must be a table of [apps.NAME] sections")
        }
        for name in appsTable.keys {
            guard let t = appsTable[name]?.table else {
                throw PatchKeeperError("\(path): [apps.\(name)] must be a table")
            }
            var app = AppConfig(name: name)
            for key in t.keys {
                guard AppConfig.knownKeys.contains(key) else {
                    throw PatchKeeperError("\(path): unknown key '\(key)' in [apps.\(name)]",
                                           hint: "known keys: \(AppConfig.knownKeys.sorted().joined(separator: ", "))")
                }
            }
            func string(_ key: String) throws -> String? {
                guard let v = t[key] else { return nil }
                guard let s = v.string else { throw PatchKeeperError("\(path): [apps.\(name)] \(key) must be a string") }
                return s
            }
            app.root = try string("root")
            app.repo = try string("repo")
            app.subdir = try string("subdir")
            app.registry = try string("registry")
            app.deployed = try string("deployed")
            app.motd = try string("motd")
            if let v = t["trusted"] {
                guard let b = v.bool else { throw PatchKeeperError("\(path): [apps.\(name)] trusted must be true or false") }
                app.trusted = b
            }
            if let v = t["ignore"] {
                guard let arr = v.array else { throw PatchKeeperError("\(path): [apps.\(name)] ignore must be an array of strings") }
                app.ignore = try arr.map { item in
                    guard let s = item.string else { throw PatchKeeperError("\(path): [apps.\(name)] ignore must be an array of strings") }
                    return s
                }
            }
            config.apps[name] = app
            config.appNames.append(name)
        }
        // TOMLKit's key order is not the file's; keep a stable order.
        config.appNames.sort()
        return config
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
        if !app.ignore.isEmpty { lines.append("ignore = [\(app.ignore.map(tomlString).joined(separator: ", "))]") }
        if app.trusted { lines.append("trusted = true") }
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
