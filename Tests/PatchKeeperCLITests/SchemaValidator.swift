import Foundation

/// A JSON value decoded strictly: `true` is a Bool, never the number 1 (JSONDecoder refuses to
/// read one as the other, where JSONSerialization's NSNumber would not tell them apart).
enum JSONValue: Decodable, Equatable, CustomStringConvertible {
    case null, bool(Bool), int(Int), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    static func parse(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .int(let i): return "\(i)"
        case .double(let d): return "\(d)"
        case .string(let s): return "\"\(s)\""
        case .array(let a): return "[\(a.count) items]"
        case .object(let o): return "{\(o.keys.sorted().joined(separator: ", "))}"
        }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// The subset of JSON Schema (2020-12) that docs/schema/ uses: `type` (one or a list),
/// `properties`, `required`, `additionalProperties` (false or a schema), `items`, `enum`, `const`
/// and `$ref` to `#/$defs/NAME` in the same file or `FILE.json#/$defs/NAME` beside it.
/// Annotations (`$schema`, `$id`, `$defs`, `title`, `description`) are skipped; any other
/// keyword is an error, so a schema cannot lean on a rule this validator would silently ignore.
struct SchemaValidator {
    let directory: String
    private var files: [String: JSONValue] = [:]

    init(directory: String) {
        self.directory = directory
    }

    static let annotations: Set<String> = ["$schema", "$id", "$defs", "title", "description"]
    static let keywords: Set<String> = ["type", "properties", "required", "additionalProperties", "items", "enum", "const", "$ref"]

    mutating func schema(file: String) throws -> JSONValue {
        if let s = files[file] { return s }
        let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
        let s = try JSONValue.parse(text)
        files[file] = s
        return s
    }

    /// Every way `value` breaks the schema in `file`, as "path: problem" lines (empty: valid).
    mutating func errors(_ value: JSONValue, file: String) throws -> [String] {
        let root = try schema(file: file)
        var out: [String] = []
        try check(value, against: root, file: file, at: "$", into: &out)
        return out
    }

    /// As `errors(_:file:)`, against the definition `$defs/NAME` of `file`.
    mutating func errors(_ value: JSONValue, defined name: String, in file: String) throws -> [String] {
        guard let def = try schema(file: file)["$defs"]?[name] else { throw Failure("\(file) defines no \(name)") }
        var out: [String] = []
        try check(value, against: def, file: file, at: "$", into: &out)
        return out
    }

    private mutating func check(_ v: JSONValue, against s: JSONValue, file: String, at path: String, into out: inout [String]) throws {
        guard case .object(let schema) = s else { throw Failure("\(file): a schema at \(path) is not an object") }
        for key in schema.keys where !Self.annotations.contains(key) && !Self.keywords.contains(key) {
            throw Failure("\(file): unsupported keyword '\(key)' at \(path)")
        }
        if let ref = schema["$ref"]?.string {
            let (refFile, pointer) = split(ref, relativeTo: file)
            let target = try resolve(pointer, in: try self.schema(file: refFile), file: refFile)
            try check(v, against: target, file: refFile, at: path, into: &out)
        }
        if let t = schema["type"] {
            let types = t.array?.compactMap(\.string) ?? [t.string].compactMap { $0 }
            if !types.contains(where: { matches(v, type: $0) }) {
                out.append("\(path): expected \(types.joined(separator: " or ")), got \(v)")
                return
            }
        }
        if let e = schema["enum"]?.array, !e.contains(v) { out.append("\(path): \(v) is not one of \(e.map(\.description).joined(separator: ", "))") }
        if let c = schema["const"], c != v { out.append("\(path): \(v) is not \(c)") }
        if case .object(let o) = v {
            let props: [String: JSONValue]
            if case .object(let p)? = schema["properties"] { props = p } else { props = [:] }
            for r in schema["required"]?.array?.compactMap(\.string) ?? [] where o[r] == nil {
                out.append("\(path): required key '\(r)' is missing")
            }
            for (k, child) in o.sorted(by: { $0.key < $1.key }) {
                if let ps = props[k] {
                    try check(child, against: ps, file: file, at: "\(path).\(k)", into: &out)
                } else if let extra = schema["additionalProperties"] {
                    if extra == .bool(false) { out.append("\(path): key '\(k)' is not in the schema") }
                    else if extra != .bool(true) { try check(child, against: extra, file: file, at: "\(path).\(k)", into: &out) }
                }
            }
        }
        if case .array(let a) = v, let items = schema["items"] {
            for (i, child) in a.enumerated() { try check(child, against: items, file: file, at: "\(path)[\(i)]", into: &out) }
        }
    }

    private func matches(_ v: JSONValue, type: String) -> Bool {
        switch (type, v) {
        case ("null", .null), ("boolean", .bool), ("integer", .int), ("number", .int), ("number", .double),
             ("string", .string), ("array", .array), ("object", .object):
            return true
        default:
            return false
        }
    }

    private func split(_ ref: String, relativeTo file: String) -> (String, String) {
        guard let hash = ref.firstIndex(of: "#") else { return (ref, "") }
        let f = String(ref[..<hash])
        return (f.isEmpty ? file : f, String(ref[ref.index(after: hash)...]))
    }

    private func resolve(_ pointer: String, in root: JSONValue, file: String) throws -> JSONValue {
        var node = root
        for part in pointer.split(separator: "/") {
            guard let next = node[String(part)] else { throw Failure("\(file): $ref pointer \(pointer) does not resolve") }
            node = next
        }
        return node
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}
