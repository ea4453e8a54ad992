import CLibgit2

/// A git object id (SHA-1, 20 bytes). A plain value: Sendable, Hashable, cheap to copy.
public struct ObjectID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    // Stored inline (no heap allocation): a tree of 100k entries holds 100k of these.
    private var a: UInt64 = 0
    private var b: UInt64 = 0
    private var c: UInt32 = 0

    /// The all-zero id git uses for "no object" (a created or deleted file's missing side).
    public static let zero = ObjectID(bytes: [UInt8](repeating: 0, count: 20))

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 20, "an object id has 20 bytes")
        withUnsafeMutableBytes(of: &self) { dst in
            for i in 0..<20 { dst[i] = bytes[i] }
        }
    }

    /// From 20 raw bytes (e.g. a slice of a cache file), without copying them into an array.
    public init(raw: UnsafeRawBufferPointer) {
        precondition(raw.count == 20, "an object id has 20 bytes")
        withUnsafeMutableBytes(of: &self) { dst in
            dst.copyMemory(from: raw)
        }
    }

    init(_ oid: git_oid) {
        var copy = oid
        withUnsafeBytes(of: &copy.id) { src in
            withUnsafeMutableBytes(of: &self) { dst in
                for i in 0..<20 { dst[i] = src[i] }
            }
        }
    }

    /// The 20 bytes, in order.
    public var bytes: [UInt8] {
        var copy = self
        return withUnsafeBytes(of: &copy) { Array($0.prefix(20)) }
    }

    /// Parses 40 hex digits; nil for anything else.
    public init?(hex: String) {
        var hex = hex
        guard let id = hex.withUTF8({ Self(hexDigits: $0) }) else { return nil }
        self = id
    }

    /// Parses 40 hex digits given as ASCII bytes (a line of a cache file); nil for anything else.
    public init?(hexDigits utf8: UnsafeBufferPointer<UInt8>) {
        guard utf8.count == 40 else { return nil }
        var raw: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let ok = withUnsafeMutableBytes(of: &raw) { out -> Bool in
            for i in 0..<20 {
                guard let hi = Self.nibble(utf8[2 * i]), let lo = Self.nibble(utf8[2 * i + 1]) else { return false }
                out[i] = hi << 4 | lo
            }
            return true
        }
        guard ok else { return nil }
        self = withUnsafeBytes(of: &raw) { ObjectID(raw: UnsafeRawBufferPointer(rebasing: $0[0..<20])) }
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(40)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var short: String { String(hex.prefix(7)) }
    public var isZero: Bool { self == .zero }
    public var description: String { hex }

    /// Byte order, as git sorts ids (no array built: a sort of 1,000 ids compared them 10,000 times).
    public static func < (a: ObjectID, b: ObjectID) -> Bool {
        var a = a, b = b
        return withUnsafeBytes(of: &a) { x in
            withUnsafeBytes(of: &b) { y in
                for i in 0..<20 where x[i] != y[i] { return x[i] < y[i] }
                return false
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let id = ObjectID(hex: s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a 40-hex object id: \(s)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }

    var raw: git_oid {
        var oid = git_oid()
        withUnsafeMutableBytes(of: &oid.id) { dst in
            for (i, b) in bytes.enumerated() { dst[i] = b }
        }
        return oid
    }

    /// The blob id git would give these bytes (`git hash-object`), without any repository.
    public static func hashBlob(_ data: [UInt8]) throws -> ObjectID {
        Libgit2.ensure()
        var oid = git_oid()
        _ = try data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) throws in
            try check(git_odb_hash(&oid, buf.baseAddress, buf.count, GIT_OBJECT_BLOB), "hash blob")
        }
        return ObjectID(oid)
    }

    /// `hashBlob` of bytes in place (a scan's reused read buffer): no array is made.
    public static func hashBlob(raw: UnsafeRawBufferPointer) throws -> ObjectID {
        Libgit2.ensure()
        var oid = git_oid()
        try check(git_odb_hash(&oid, raw.baseAddress, raw.count, GIT_OBJECT_BLOB), "hash blob")
        return ObjectID(oid)
    }

    /// The blob id of a file's bytes, read in a stream (no filters applied).
    /// The blob id of the regular file open on `fd` (read from its start through a fresh open
    /// of `/dev/fd/N`, the same file: no path is resolved again, so nothing swapped in behind the
    /// descriptor's back is read).
    public static func hashFile(descriptor fd: Int32) throws -> ObjectID {
        try hashFile(atPath: "/dev/fd/\(fd)")
    }

    public static func hashFile(atPath path: String) throws -> ObjectID {
        Libgit2.ensure()
        var oid = git_oid()
        try check(git_odb_hashfile(&oid, path, GIT_OBJECT_BLOB), "hash \(path)")
        return ObjectID(oid)
    }
}
