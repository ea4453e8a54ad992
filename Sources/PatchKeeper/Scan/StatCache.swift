#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// Remembers the blob id of each live file by its stat data (size, mtime, ctime, inode, kind), so a
/// rescan of an unchanged tree hashes nothing. An entry is never trusted when any of those differ,
/// nor when its mtime lies within two seconds of the cache being written (racy timestamps).
/// A cache that does not read back cleanly is dropped, never fatal.
///
/// The file holds one row per walked entry, in the walker's order, and is read into one byte
/// buffer with an array of row offsets: no `String` per path. A scan matches its walk against the
/// rows with a cursor (the walk of an unchanged tree meets them in the same order), comparing path
/// bytes; only when the walk and the rows part ways is a path → row dictionary built. Each row also
/// remembers its index in the deployed tree's listing (`Repository.flatTree`), trusted only when
/// the cache was written for the same deployed commit and subdirectory (`treeKey`).
struct StatCache {
    struct Entry: Sendable, Equatable {
        var size: Int64
        var mtime: Int64
        var ctime: Int64
        var inode: UInt64
        var kind: UInt8
        var id: ObjectID
    }

    /// v2: every walked entry, an id flag, the deployed-tree index; v1 files are discarded.
    static let magic = Array("PKSTAT2\n".utf8)
    /// Past this a cache file is not read (about 2 million files' worth).
    static let readLimit = 256 << 20
    static let fixedRowBytes = 1 + 8 * 4 + 1 + 20 + 4  // flags, stat data, kind, id, tree index

    var root: String
    var writtenAt: Int64 = 0   // ns
    /// The deployed commit and subdirectory the tree indexes belong to.
    var treeKey: [UInt8] = []
    private var bytes: [UInt8] = []
    /// Offset of each row's path length field in `bytes`.
    private var rows: [Int] = []
    private var cursor = 0
    /// By the path's bytes (not `String` equality, which is Unicode canonical equivalence).
    private var byPath: BytesIndex?
    /// Rows met in order by the cursor (an unchanged walk meets all of them).
    private(set) var inOrder = 0

    init(root: String) { self.root = root }

    var count: Int { rows.count }

    /// The key for `treeKey`: the deployed commit's id and the subdirectory.
    static func treeKey(revision: ObjectID, subdir: String) -> [UInt8] { revision.bytes + Array(subdir.utf8) }

    /// What the header of the cache at `path` says, without reading its rows: `usable` when it is
    /// this root's and holds rows (a `load` may still discard it), `discarded` when a file is
    /// there that is not a cache of this format and root. Read as `load` reads.
    static func probe(path: String, root: String) -> (usable: Bool, discarded: Bool) {
        let rootBytes = Array(root.utf8)
        // Room for the longest header this root can have (the tree key's length is 16 bits).
        let head = magic.count + 4 + rootBytes.count + 2 + Int(UInt16.max) + 8 + 4
        guard let data = try? POSIX.readFilePrefix(path, count: head) else { return (false, false) }
        let count = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> UInt64? in
            var r = Reader(bytes: raw)
            guard r.bytes(magic.count).map({ Array($0) }) == magic,
                  let rootLen = r.uint(4), let got = r.bytes(Int(rootLen)), got.elementsEqual(rootBytes),
                  let keyLen = r.uint(2), r.bytes(Int(keyLen)) != nil, r.uint(8) != nil else { return nil }
            return r.uint(4)
        }
        guard let count else { return (false, true) }
        return (count > 0, false)
    }

    /// Loads the cache at `path` (never through a symlink, only a regular file); returns an empty
    /// cache (and whether one was discarded) otherwise.
    static func load(path: String, root: String) -> (cache: StatCache, discarded: Bool) {
        var cache = StatCache(root: root)
        guard let data = try? POSIX.readFile(path, limit: readLimit) else { return (cache, false) }
        var rows: [Int] = []
        let ok: Bool = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Bool in
            var r = Reader(bytes: raw)
            guard r.bytes(magic.count).map({ Array($0) }) == magic,
                  let rootLen = r.uint(4), let rootBytes = r.bytes(Int(rootLen)),
                  rootBytes.elementsEqual(root.utf8),  // bytes, as `probe` compares
                  let keyLen = r.uint(2), let key = r.bytes(Int(keyLen)),
                  let written = r.uint(8), let count = r.uint(4),
                  UInt64(raw.count - r.offset) >= count * UInt64(2 + fixedRowBytes) else { return false }
            cache.writtenAt = Int64(bitPattern: written)
            cache.treeKey = Array(key)
            rows.reserveCapacity(Int(count))
            for _ in 0..<count {
                rows.append(r.offset)
                guard let len = r.uint(2), r.bytes(Int(len) + fixedRowBytes) != nil else { return false }
            }
            return r.atEnd
        }
        guard ok else { return (StatCache(root: root), true) }
        cache.bytes = data
        cache.rows = rows
        return (cache, false)
    }

    /// The row of `path`: the cursor's when its path is `path` (then the cursor moves on),
    /// else by a dictionary built on first need.
    mutating func row(for path: UnsafeRawBufferPointer) -> Int? {
        if cursor < rows.count, pathMatches(row: cursor, path) {
            cursor += 1
            inOrder += 1
            return cursor - 1
        }
        let rows = self.rows
        let found: Int? = bytes.withUnsafeBytes { raw in
            let key = { (k: Int) -> UnsafeRawBufferPointer in
                let o = rows[k]
                return UnsafeRawBufferPointer(rebasing: raw[o + 2..<o + 2 + (Int(raw[o]) | Int(raw[o + 1]) << 8)])
            }
            if byPath == nil { byPath = BytesIndex(count: rows.count, key: key) }
            return byPath!.find(path, key: key)
        }
        guard let k = found else { return nil }
        cursor = k + 1
        return k
    }

    private func pathMatches(row k: Int, _ path: UnsafeRawBufferPointer) -> Bool {
        let o = rows[k]
        return bytes.withUnsafeBytes { raw -> Bool in
            let len = Int(raw[o]) | Int(raw[o + 1]) << 8
            return path.count == len && (len == 0 || memcmp(path.baseAddress!, raw.baseAddress! + o + 2, len) == 0)
        }
    }

    /// A little-endian field of `n` (4 or 8) bytes at `at`, read as one unaligned load.
    @inline(__always)
    private func field(_ raw: UnsafeRawBufferPointer, _ at: Int, _ n: Int) -> UInt64 {
        precondition(at >= 0 && at + n <= raw.count)
        return n == 8 ? UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                      : UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
    }

    /// The row's entry, or nil when the row holds no id.
    func entry(row k: Int) -> Entry? {
        let o = rows[k]
        return bytes.withUnsafeBytes { raw -> Entry? in
            let b = o + 2 + (Int(raw[o]) | Int(raw[o + 1]) << 8)
            guard raw[b] & 1 != 0 else { return nil }
            return Entry(size: Int64(bitPattern: field(raw, b + 1, 8)), mtime: Int64(bitPattern: field(raw, b + 9, 8)),
                         ctime: Int64(bitPattern: field(raw, b + 17, 8)), inode: field(raw, b + 25, 8), kind: raw[b + 33],
                         id: ObjectID(raw: UnsafeRawBufferPointer(rebasing: raw[b + 34..<b + 54])))
        }
    }

    /// The row's index in the deployed tree's listing when it was written (-1: not in the tree).
    func treeIndex(row k: Int) -> Int {
        let o = rows[k]
        return bytes.withUnsafeBytes { raw -> Int in
            let b = o + 2 + (Int(raw[o]) | Int(raw[o + 1]) << 8)
            return Int(Int32(bitPattern: UInt32(truncatingIfNeeded: field(raw, b + 54, 4))))
        }
    }

    /// The cached id for `entry` in row `k`, if its stat data match and it was not racy when cached.
    func lookup(_ entry: LiveEntry, row k: Int) -> ObjectID? {
        guard let e = self.entry(row: k), e.size == entry.size, e.mtime == entry.mtime, e.ctime == entry.ctime,
              e.inode == entry.inode, e.kind == entry.kind.rawValue else { return nil }
        // Racy: changed too close to the write (git checks mtime too). The ctime counts as well:
        // the app's user can set the mtime back, not the ctime.
        if max(e.mtime, e.ctime) >= writtenAt - 2_000_000_000 { return nil }
        return e.id
    }

    /// The cache file's bytes: one row per walked entry (walk order; paths of 64 KiB or more are
    /// left out), `ids[i]` nil for an entry not hashed, `treeIndex[i]` -1 for one not deployed.
    static func serialized(root: String, treeKey: [UInt8], now: Int64, entries: [LiveEntry], paths: PathList, ids: [ObjectID?], treeIndex: [Int]) -> [UInt8] {
        var out = Self.magic
        let rootBytes = Array(root.utf8)
        out.append(u32: UInt32(rootBytes.count))
        out += rootBytes
        out.append(u16: UInt16(treeKey.count))
        out += treeKey
        out.append(i64: now)
        let kept = entries.indices.filter { paths.byteCount($0) < Int(UInt16.max) }
        out.reserveCapacity(out.count + 4 + paths.bytes.count + kept.count * (2 + fixedRowBytes))
        out.append(u32: UInt32(kept.count))
        for i in kept {
            let e = entries[i]
            paths.withPath(i) { p in
                out.append(u16: UInt16(p.count))
                out.append(contentsOf: p.typed)
            }
            out.append(ids[i] == nil ? 0 : 1)
            out.append(i64: e.size)
            out.append(i64: e.mtime)
            out.append(i64: e.ctime)
            out.append(u64: e.inode)
            out.append(e.kind.rawValue)
            out += (ids[i] ?? .zero).bytes
            out.append(u32: UInt32(bitPattern: Int32(truncatingIfNeeded: treeIndex[i])))
        }
        return out
    }

    /// Reads little-endian integers and byte runs without copying.
    struct Reader {
        let raw: UnsafeRawBufferPointer
        var offset = 0
        init(bytes: UnsafeRawBufferPointer) { raw = bytes }
        var atEnd: Bool { offset == raw.count }

        mutating func bytes(_ n: Int) -> UnsafeRawBufferPointer? {
            guard n >= 0, offset + n <= raw.count else { return nil }
            defer { offset += n }
            return UnsafeRawBufferPointer(rebasing: raw[offset..<offset + n])
        }

        mutating func uint(_ n: Int) -> UInt64? {
            guard offset + n <= raw.count else { return nil }
            defer { offset += n }
            switch n {
            case 2: return UInt64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
            case 4: return UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            case 8: return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            default:
                var v: UInt64 = 0
                for i in 0..<n { v |= UInt64(raw[offset + i]) << (8 * UInt64(i)) }
                return v
            }
        }
    }
}

extension Array where Element == UInt8 {
    mutating func append(uint v: UInt64, bytes n: Int) {
        for i in 0..<n { append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
    mutating func append(u16 v: UInt16) { append(uint: UInt64(v), bytes: 2) }
    mutating func append(u32 v: UInt32) { append(uint: UInt64(v), bytes: 4) }
    mutating func append(u64 v: UInt64) { append(uint: v, bytes: 8) }
    mutating func append(i64 v: Int64) { append(uint: UInt64(bitPattern: v), bytes: 8) }
}
