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
        let ok: Bool = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Bool in
            var r = Reader(bytes: raw)
            guard r.bytes(magic.count).map({ Array($0) }) == magic,
                  let rootLen = r.uint(4), let rootBytes = r.bytes(Int(rootLen)),
                  String(decoding: rootBytes, as: UTF8.self) == root,
                  let written = r.uint(8), let count = r.uint(4) else { return false }
            cache.writtenAt = Int64(bitPattern: written)
            cache.entries.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let len = r.uint(2), let p = r.bytes(Int(len)),
                      let size = r.uint(8), let mtime = r.uint(8), let ctime = r.uint(8),
                      let inode = r.uint(8), let kind = r.bytes(1), let id = r.bytes(20) else { return false }
                cache.entries[String(decoding: p, as: UTF8.self)] =
                    Entry(size: Int64(bitPattern: size), mtime: Int64(bitPattern: mtime), ctime: Int64(bitPattern: ctime),
                          inode: inode, kind: kind[0], id: ObjectID(raw: id))
            }
            return r.atEnd
        }
        return ok ? (cache, false) : (StatCache(root: root), true)
    }

    /// The cached id for `entry`, if its stat data match and it was not racy when cached.
    func lookup(_ entry: LiveEntry) -> ObjectID? {
        guard let e = entries[entry.path], e.size == entry.size, e.mtime == entry.mtime, e.ctime == entry.ctime,
              e.inode == entry.inode, e.kind == entry.kind.rawValue else { return nil }
        if e.mtime >= writtenAt - 2_000_000_000 { return nil }  // racy: changed too close to the write (git checks mtime too)
        return e.id
    }

    /// The cache file's bytes for `entries` (walk order; paths of 64 KiB or more are left out).
    static func serialized(root: String, now: Int64, entries: [(path: String, entry: Entry)]) -> [UInt8] {
        var out = Self.magic
        let rootBytes = Array(root.utf8)
        out.append(u32: UInt32(rootBytes.count))
        out += rootBytes
        out.append(i64: now)
        let kept = entries.filter { $0.path.utf8.count < Int(UInt16.max) }
        out.reserveCapacity(out.count + 4 + kept.count * 100)
        out.append(u32: UInt32(kept.count))
        for (path, e) in kept {
            out.append(u16: UInt16(path.utf8.count))
            out += path.utf8
            out.append(i64: e.size)
            out.append(i64: e.mtime)
            out.append(i64: e.ctime)
            out.append(u64: e.inode)
            out.append(e.kind)
            out += e.id.bytes
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
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(raw[offset + i]) << (8 * UInt64(i)) }
            offset += n
            return v
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
