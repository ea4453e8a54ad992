#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// Paths stored back to back in one byte buffer, each addressed by its index: no `String`, and no
/// heap object, per path. A scan holds every walked path and every deployed path at once; as one
/// `String` each they were a third of a 100k-file scan's heap (a native string is a 32-byte
/// header plus its bytes, rounded up by malloc).
struct PathList: Sendable {
    private(set) var bytes = ByteBuffer()
    /// `ends[i]`: the offset just past path i (path i starts at `ends[i - 1]`, or 0).
    private(set) var ends: [Int] = []

    var count: Int { ends.count }
    var isEmpty: Bool { ends.isEmpty }

    init() {}

    mutating func reserve(paths: Int, bytes n: Int) {
        ends.reserveCapacity(paths)
        bytes.reserve(n)
    }

    private func range(_ i: Int) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] }

    /// Path i's bytes, valid inside `body` only.
    func withPath<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let r = range(i)
        return try bytes.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[r])) }
    }

    /// Every path's bytes, in order, inside one buffer access.
    func forEachPath(_ body: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { raw in
            var start = 0
            for (i, end) in ends.enumerated() {
                try body(i, UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                start = end
            }
        }
    }

    /// Path i as a `String` (made now: for the few paths a report or a lookup by name needs).
    subscript(i: Int) -> String { withPath(i) { String(decoding: $0, as: UTF8.self) } }

    func byteCount(_ i: Int) -> Int { range(i).count }

    /// Whether path i is `other`, byte for byte (not `String` equality: see `LazyIndex`).
    func equals(_ i: Int, _ other: UnsafeRawBufferPointer) -> Bool {
        withPath(i) { p in p.count == other.count && (p.isEmpty || memcmp(p.baseAddress!, other.baseAddress!, p.count) == 0) }
    }

    mutating func append(_ path: UnsafeRawBufferPointer) {
        bytes.append(path)
        ends.append(bytes.count)
    }

    mutating func append(_ path: String) {
        var path = path
        path.withUTF8 { bytes.append(UnsafeRawBufferPointer($0)) }
        ends.append(bytes.count)
    }

    /// `base/name` (just `name` when `base` is empty).
    mutating func append(base: [UInt8], name: UnsafeRawBufferPointer) {
        base.withUnsafeBytes { bytes.append($0, separator: UInt8(ascii: "/"), name) }
        ends.append(bytes.count)
    }

    mutating func removeLast() {
        ends.removeLast()
        bytes.truncate(to: ends.last ?? 0)
    }

    mutating func append(contentsOf other: PathList) {
        append(contentsOf: other, range: 0..<other.count)
    }

    /// Paths `range` of `other`, in order.
    mutating func append(contentsOf other: PathList, range: Range<Int>) {
        guard !range.isEmpty else { return }
        let start = range.lowerBound == 0 ? 0 : other.ends[range.lowerBound - 1]
        let shift = bytes.count - start
        other.bytes.withUnsafeBytes { bytes.append(UnsafeRawBufferPointer(rebasing: $0[start..<other.ends[range.upperBound - 1]])) }
        ends.append(contentsOf: other.ends[range].lazy.map { $0 + shift })
    }
}

/// A hash index from byte strings to their index in an owner's storage (a `PathList`, the stat
/// cache's rows), as an open-addressing table of indexes: 4 bytes a slot instead of a `[UInt8]`
/// key (a heap object) and a dictionary entry per path. The keys stay in the owner; every call
/// is given `key(i)`, valid for the call. Hashed with the standard library's seeded hasher: the
/// paths come from the live tree and the app repository, both hostile input, and a fixed hash
/// would let them be chosen to collide.
struct BytesIndex: Sendable {
    private var slots: [Int32]
    private let mask: Int

    /// Indexes keys 0..<count; a key that repeats maps to its last index (as a dictionary
    /// assignment would); `include` false leaves a key out.
    init(count: Int, key: (Int) -> UnsafeRawBufferPointer, include: (Int) -> Bool = { _ in true }) {
        precondition(count < Int(Int32.max))
        var size = 16
        while size < count * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for i in 0..<count where include(i) {
            let k = key(i)
            var s = Self.hash(k) & mask
            while slots[s] >= 0 {
                if Self.same(key(Int(slots[s])), k) { break }
                s = (s + 1) & mask
            }
            slots[s] = Int32(i)
        }
    }

    func find(_ wanted: UnsafeRawBufferPointer, key: (Int) -> UnsafeRawBufferPointer) -> Int? {
        var s = Self.hash(wanted) & mask
        while slots[s] >= 0 {
            let i = Int(slots[s])
            if Self.same(key(i), wanted) { return i }
            s = (s + 1) & mask
        }
        return nil
    }

    private static func hash(_ k: UnsafeRawBufferPointer) -> Int {
        var h = Hasher()
        h.combine(bytes: k)
        return h.finalize()
    }

    private static func same(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }
}

extension PathList {
    /// An index of these paths (those `include` keeps).
    func index(include: (Int) -> Bool = { _ in true }) -> BytesIndex {
        bytes.withUnsafeBytes { raw in
            BytesIndex(count: count, key: { UnsafeRawBufferPointer(rebasing: raw[range($0)]) }, include: include)
        }
    }

    /// The index of `path` in these paths, by `index` (built by `index()` on this list).
    func find(_ path: UnsafeRawBufferPointer, in index: BytesIndex) -> Int? {
        bytes.withUnsafeBytes { raw in index.find(path, key: { UnsafeRawBufferPointer(rebasing: raw[range($0)]) }) }
    }
}

/// The deployed revision's files (`Repository.flatTree`) as parallel arrays and one path buffer.
struct DeployedFiles: Sendable {
    var paths = PathList()
    var ids: [ObjectID] = []
    var rawModes: [UInt32] = []

    var count: Int { ids.count }
    var indices: Range<Int> { 0..<count }

    init() {}

    init(_ files: [FlatEntry]) {
        paths.reserve(paths: files.count, bytes: files.reduce(0) { $0 + $1.path.utf8.count })
        ids.reserveCapacity(files.count)
        rawModes.reserveCapacity(files.count)
        for f in files { append(path: f.path, id: f.id, rawMode: f.rawMode) }
    }

    mutating func append(path: String, id: ObjectID, rawMode: UInt32) {
        paths.append(path)
        ids.append(id)
        rawModes.append(rawMode)
    }

    func mode(_ t: Int) -> FileMode? { FileMode(rawValue: rawModes[t]) }

    /// File t as a `FlatEntry` (its path made now).
    subscript(t: Int) -> FlatEntry { FlatEntry(path: paths[t], id: ids[t], rawMode: rawModes[t]) }

    /// The files whose path bytes `keep` accepts, as `FlatEntry` values (a few: .gitattributes,
    /// .gitignore files), without making a `String` for the others.
    func entries(where keep: (UnsafeRawBufferPointer) -> Bool) -> [FlatEntry] {
        var picked: [Int] = []
        paths.forEachPath { i, p in if keep(p) { picked.append(i) } }
        return picked.map { self[$0] }
    }
}

/// Byte-level path tests for `DeployedFiles.entries(where:)`.
enum PathBytes {
    static func equals(_ p: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        p.count == s.utf8CodeUnitCount && (p.isEmpty || memcmp(p.baseAddress!, s.utf8Start, p.count) == 0)
    }

    /// `p` is `name` or ends in `/name`.
    static func isFile(_ p: UnsafeRawBufferPointer, named name: StaticString) -> Bool {
        let n = name.utf8CodeUnitCount
        guard n > 0, p.count >= n, memcmp(p.baseAddress! + (p.count - n), name.utf8Start, n) == 0 else { return false }
        return p.count == n || p[p.count - n - 1] == UInt8(ascii: "/")
    }
}

/// Growable bytes in one allocation, copy-on-write like `Array`, appended with one `memcpy`:
/// `Array.append(contentsOf:)` spent some 200 instructions a path on its generic path (a tenth of
/// a 100k-file warm scan's instructions went to the walk's path appends). The count lives in the
/// struct and the store is immutable, so an append is a uniqueness test, a bounds test and a copy.
struct ByteBuffer: @unchecked Sendable {
    private final class Store {
        let base: UnsafeMutableRawPointer
        let capacity: Int

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            base = .allocate(byteCount: self.capacity, alignment: 8)
        }

        deinit { base.deallocate() }
    }

    // Written only when uniquely referenced (a store shared by copies is copied first).
    private var store = Store(capacity: 0)
    private(set) var count = 0

    /// Makes room for `n` bytes in a store of this buffer's own.
    @inline(__always)
    private mutating func reserveUnique(_ n: Int) {
        if _slowPath(n > store.capacity || !isKnownUniquelyReferenced(&store)) {
            let grown = Store(capacity: n > store.capacity ? max(n, store.capacity * 2) : store.capacity)
            grown.base.copyMemory(from: store.base, byteCount: count)
            store = grown
        }
    }

    mutating func reserve(_ n: Int) { reserveUnique(max(n, count)) }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0 else { return }
        reserveUnique(count + n)
        (store.base + count).copyMemory(from: bytes.baseAddress!, byteCount: n)
        count += n
    }

    /// `prefix`, then `separator` unless `prefix` is empty, then `name`: one path in one step.
    mutating func append(_ prefix: UnsafeRawBufferPointer, separator: UInt8, _ name: UnsafeRawBufferPointer) {
        let n = (prefix.isEmpty ? 0 : prefix.count + 1) + name.count
        reserveUnique(count + n)
        var at = store.base + count
        if !prefix.isEmpty {
            at.copyMemory(from: prefix.baseAddress!, byteCount: prefix.count)
            at.storeBytes(of: separator, toByteOffset: prefix.count, as: UInt8.self)
            at += prefix.count + 1
        }
        if !name.isEmpty { at.copyMemory(from: name.baseAddress!, byteCount: name.count) }
        count += n
    }

    mutating func truncate(to n: Int) {
        precondition(n >= 0 && n <= count)
        count = n
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(store) { try body(UnsafeRawBufferPointer(start: store.base, count: count)) }
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes as `UInt8` elements: `Array.append(contentsOf:)` copies those in one move, and a
    /// raw buffer a byte at a time (a fifth of a 100k-file listing's load).
    var typed: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: baseAddress?.assumingMemoryBound(to: UInt8.self), count: count) }
}

/// A path as a dictionary key compared by its bytes. `String` keys compare by Unicode canonical
/// equivalence: a patch on `café` made drift on `cafe\u{301}` (another file to git and the file
/// system) look explained, and hid it.
struct PathKey: Hashable, Sendable {
    let path: String

    init(_ path: String) { self.path = path }

    static func == (a: PathKey, b: PathKey) -> Bool { a.path.utf8.elementsEqual(b.path.utf8) }

    func hash(into h: inout Hasher) {
        var s = path
        s.withUTF8 { h.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
