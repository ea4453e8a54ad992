#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// The deployed revision's listing (`Repository.flatTree(commit:prefix:)`) kept in the state
/// directory, keyed by the commit id and subdirectory, so a warm scan does not read and inflate
/// every tree object again (that was 44% of a warm scan's instructions at 100k files). Read
/// without following a symlink and only from a regular file; anything that does not read back
/// whole under the same key is ignored and the listing read from the repository.
enum DeployedListing {
    /// v2: paths are the tree's raw bytes (v1 held them as `String`, invalid UTF-8 replaced by
    /// U+FFFD: read as bytes, such a path would be taken for another file); v3: written only for
    /// trees without `..`, `.git` or slashed entry names (`flatTree` refuses those now; a v2
    /// listing may hold one). Older files are ignored.
    static let magic = Array("PKTREE3\n".utf8)
    static let readLimit = 256 << 20

    static func load(path: String, key: [UInt8]) -> (files: DeployedFiles, directories: Set<String>)? {
        guard let data = try? POSIX.readFile(path, limit: readLimit) else { return nil }
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> (files: DeployedFiles, directories: Set<String>)? in
            var r = StatCache.Reader(bytes: raw)
            guard r.bytes(magic.count).map({ Array($0) }) == magic,
                  let keyLen = r.uint(2), let k = r.bytes(Int(keyLen)), Array(k) == key,
                  let count = r.uint(4), UInt64(raw.count - r.offset) >= count * 26 else { return nil }
            var files = DeployedFiles()
            // Paths are at most the file's size less the fixed part of each row.
            files.paths.reserve(paths: Int(count), bytes: raw.count - r.offset - Int(count) * 26)
            files.ids.reserveCapacity(Int(count))
            files.rawModes.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let len = r.uint(2), let p = r.bytes(Int(len)), let id = r.bytes(20), let mode = r.uint(4) else { return nil }
                files.paths.append(p)
                files.ids.append(ObjectID(raw: id))
                files.rawModes.append(UInt32(mode))
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
    static func serialized(key: [UInt8], files: DeployedFiles, directories: Set<String>) -> [UInt8]? {
        guard files.indices.allSatisfy({ files.paths.byteCount($0) < Int(UInt16.max) }), directories.allSatisfy({ $0.utf8.count < Int(UInt16.max) }) else { return nil }
        var out = magic
        out.append(u16: UInt16(key.count))
        out += key
        out.reserveCapacity(out.count + 4 + files.paths.bytes.count + files.count * 26)
        out.append(u32: UInt32(files.count))
        files.paths.forEachPath { t, p in
            out.append(u16: UInt16(p.count))
            out.append(contentsOf: p.typed)
            out += files.ids[t].bytes
            out.append(u32: files.rawModes[t])
        }
        out.append(u32: UInt32(directories.count))
        for d in directories {
            out.append(u16: UInt16(d.utf8.count))
            out += d.utf8
        }
        return out
    }
}
