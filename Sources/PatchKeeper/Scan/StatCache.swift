import Foundation
import Git

/// Remembers the blob id of each live file by its stat data (size, mtime, ctime, inode, kind), so a
/// rescan of an unchanged tree hashes nothing. An entry is never trusted when any of those differ,
/// nor when its mtime lies within two seconds of the cache being written (racy timestamps).
/// A cache that does not read back cleanly is dropped, never fatal.
struct StatCache {
    struct Entry: Sendable, Equatable {
        var size: Int64
        var mtime: Int64
        var ctime: Int64
        var inode: UInt64
        var kind: UInt8
        var id: ObjectID
    }

    static let magic = Array("PKSTAT1\n".utf8)
    var root: String
    var writtenAt: Int64 = 0   // ns
    var entries: [String: Entry] = [:]

    init(root: String) { self.root = root }

    /// Loads the cache at `path`; returns an empty cache (and whether one was discarded) otherwise.
    static func load(path: String, root: String) -> (cache: StatCache, discarded: Bool) {
        var cache = StatCache(root: root)
        guard let data = FileManager.default.contents(atPath: path) else { return (cache, false) }
        var reader = Reader(bytes: [UInt8](data))
        guard reader.take(magic.count) == magic,
              let rootLen = reader.u32(), let rootBytes = reader.take(Int(rootLen)),
              String(decoding: rootBytes, as: UTF8.self) == root,
              let written = reader.i64(), let count = reader.u32() else {
            return (cache, true)
        }
        cache.writtenAt = written
        cache.entries.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let len = reader.u16(), let p = reader.take(Int(len)),
                  let size = reader.i64(), let mtime = reader.i64(), let ctime = reader.i64(),
                  let inode = reader.u64(), let kind = reader.take(1), let id = reader.take(20) else {
                return (StatCache(root: root), true)
            }
            cache.entries[String(decoding: p, as: UTF8.self)] =
                Entry(size: size, mtime: mtime, ctime: ctime, inode: inode, kind: kind[0], id: ObjectID(bytes: id))
        }
        guard reader.atEnd else { return (StatCache(root: root), true) }
        return (cache, false)
    }

    /// The cached id for `entry`, if its stat data match and it was not racy when cached.
    func lookup(_ entry: LiveEntry) -> ObjectID? {
        guard let e = entries[entry.path], e.size == entry.size, e.mtime == entry.mtime, e.ctime == entry.ctime,
              e.inode == entry.inode, e.kind == entry.kind.rawValue else { return nil }
        if e.mtime >= writtenAt - 2_000_000_000 { return nil }  // racy: changed too close to the write (git checks mtime too)
        return e.id
    }

    func serialized(now: Int64) -> [UInt8] {
        var out = Self.magic
        let rootBytes = Array(root.utf8)
        out.append(u32: UInt32(rootBytes.count))
        out += rootBytes
        out.append(i64: now)
        out.append(u32: UInt32(entries.count))
        for (path, e) in entries.sorted(by: { $0.key < $1.key }) {
            let p = Array(path.utf8)
            guard p.count < Int(UInt16.max) else { continue }
            out.append(u16: UInt16(p.count))
            out += p
            out.append(i64: e.size)
            out.append(i64: e.mtime)
            out.append(i64: e.ctime)
            out.append(u64: e.inode)
            out.append(e.kind)
            out += e.id.bytes
        }
        return out
    }

    struct Reader {
        var bytes: [UInt8]
        var offset = 0
        var atEnd: Bool { offset == bytes.count }

        mutating func take(_ n: Int) -> [UInt8]? {
            guard n >= 0, offset + n <= bytes.count else { return nil }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }
        mutating func uint(_ n: Int) -> UInt64? {
            guard offset + n <= bytes.count else { return nil }
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
            offset += n
            return v
        }
        mutating func u16() -> UInt16? { uint(2).map { UInt16($0) } }
        mutating func u32() -> UInt32? { uint(4).map { UInt32($0) } }
        mutating func u64() -> UInt64? { uint(8) }
        mutating func i64() -> Int64? { uint(8).map { Int64(bitPattern: $0) } }
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
