import Foundation
import Git

/// The deployed revision's listing (`Repository.flatTree(commit:prefix:)`) kept in the state
/// directory, keyed by the commit id and subdirectory, so a warm scan does not read and inflate
/// every tree object again (that was 44% of a warm scan's instructions at 100k files). Read
/// without following a symlink and only from a regular file; anything that does not read back
/// whole under the same key is ignored and the listing read from the repository.
enum DeployedListing {
    static let magic = Array("PKTREE1\n".utf8)
    static let readLimit = 256 << 20

    static func load(path: String, key: [UInt8]) -> (files: [FlatEntry], directories: Set<String>)? {
        guard let data = try? POSIX.readFile(path, limit: readLimit) else { return nil }
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> (files: [FlatEntry], directories: Set<String>)? in
            var r = StatCache.Reader(bytes: raw)
            guard r.bytes(magic.count).map({ Array($0) }) == magic,
                  let keyLen = r.uint(2), let k = r.bytes(Int(keyLen)), Array(k) == key,
                  let count = r.uint(4), UInt64(raw.count - r.offset) >= count * 26 else { return nil }
            var files: [FlatEntry] = []
            files.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let len = r.uint(2), let p = r.bytes(Int(len)), let id = r.bytes(20), let mode = r.uint(4) else { return nil }
                files.append(FlatEntry(path: String(decoding: p, as: UTF8.self), id: ObjectID(raw: id), rawMode: UInt32(mode)))
            }
            guard let dirCount = r.uint(4), UInt64(raw.count - r.offset) >= dirCount * 2 else { return nil }
            var dirs = Set<String>(minimumCapacity: Int(dirCount))
            for _ in 0..<dirCount {
                guard let len = r.uint(2), let p = r.bytes(Int(len)) else { return nil }
                dirs.insert(String(decoding: p, as: UTF8.self))
            }
            return r.atEnd ? (files, dirs) : nil
        }
    }

    /// The file's bytes; nil when a path is too long to store (then nothing is kept).
    static func serialized(key: [UInt8], files: [FlatEntry], directories: Set<String>) -> [UInt8]? {
        guard files.allSatisfy({ $0.path.utf8.count < Int(UInt16.max) }), directories.allSatisfy({ $0.utf8.count < Int(UInt16.max) }) else { return nil }
        var out = magic
        out.append(u16: UInt16(key.count))
        out += key
        out.reserveCapacity(out.count + files.count * 80)
        out.append(u32: UInt32(files.count))
        for f in files {
            out.append(u16: UInt16(f.path.utf8.count))
            out += f.path.utf8
            out += f.id.bytes
            out.append(u32: f.rawMode)
        }
        out.append(u32: UInt32(directories.count))
        for d in directories {
            out.append(u16: UInt16(d.utf8.count))
            out += d.utf8
        }
        return out
    }
}
