import Foundation
import Git
import Testing
import TestSupport
@testable import PatchKeeper

/// The scan's path storage (`PathList`, `BytesIndex`, `DeployedFiles`) and the stat cache's
/// header probe: what replaced a `String` per walked and deployed path.
@Suite("Scan path storage")
struct ScanPathStorageTests {

    /// Byte strings with shared prefixes, repeats, the empty one and bytes that are not UTF-8.
    static func keys(_ n: Int) -> [[UInt8]] {
        var mix = SplitMix64(seed: 7)
        var out: [[UInt8]] = [[]]
        for _ in 0..<n {
            let len = Int(mix.next() % 12)
            var k = Array("d\(mix.next() % 40)/".utf8)
            for _ in 0..<len { k.append(UInt8(truncatingIfNeeded: mix.next() % 7 == 0 ? 0xC3 : 0x61 + mix.next() % 5)) }
            out.append(k)
            if mix.next() % 10 == 0 { out.append(out[Int(mix.next() % UInt64(out.count))]) }
        }
        return out
    }

    @Test("a path list gives back every path byte for byte, after removals and concatenation")
    func pathList() {
        var a = PathList()
        Array("x.rb".utf8).withUnsafeBytes { a.append(base: Array("dir".utf8), name: $0) }
        a.append("top")
        a.append("gone")
        a.removeLast()
        [UInt8]([0x63, 0x61, 0x66, 0xC3]).withUnsafeBytes { a.append($0) }  // not UTF-8 on its own
        Array("n".utf8).withUnsafeBytes { a.append(base: [], name: $0) }
        var b = PathList()
        b.append("")
        b.append("sub/ü")
        a.append(contentsOf: b)
        #expect(a.count == 6)
        #expect(a[0] == "dir/x.rb" && a[1] == "top" && a[3] == "n" && a[4] == "" && a[5] == "sub/ü")
        #expect(a.withPath(2) { Array($0) } == [0x63, 0x61, 0x66, 0xC3])
        #expect(a.byteCount(5) == "sub/ü".utf8.count)
        #expect(Array("top".utf8).withUnsafeBytes { a.equals(1, $0) })
        #expect(!Array("to".utf8).withUnsafeBytes { a.equals(1, $0) })
        var seen: [[UInt8]] = []
        a.forEachPath { i, p in
            #expect(i == seen.count)
            seen.append(Array(p))
        }
        #expect(seen == (0..<6).map { i in a.withPath(i) { Array($0) } })
    }

    @Test("the byte index finds what a dictionary of byte arrays finds, the last of a repeated key, and nothing for near misses")
    func bytesIndex() {
        let keys = Self.keys(5000)
        var list = PathList()
        var reference: [[UInt8]: Int] = [:]
        for (i, k) in keys.enumerated() {
            k.withUnsafeBytes { list.append($0) }
            if i % 97 != 3 { reference[k] = i }
        }
        // Keys left out by `include` are absent unless an included repeat has them.
        let index = list.index(include: { $0 % 97 != 3 })
        for k in Set(keys) {
            let found = k.withUnsafeBytes { list.find($0, in: index) }
            #expect(found == reference[k], "\(k)")
        }
        for k in keys.prefix(500) {
            for miss in [k + [0x61], Array(k.dropLast()), k + [0]] where reference[miss] == nil {
                #expect(miss.withUnsafeBytes { list.find($0, in: index) } == nil)
            }
        }
    }

    @Test("deployed files keep paths, ids and modes in step, and pick entries by path bytes without the others")
    func deployedFiles() throws {
        let id = try #require(ObjectID(hex: String(repeating: "ab", count: 20)))
        let files = DeployedFiles([
            FlatEntry(path: ".gitattributes", id: id, rawMode: 0o100644),
            FlatEntry(path: "a/.gitattributes", id: .zero, rawMode: 0o100755),
            FlatEntry(path: "a/x.gitattributes", id: .zero, rawMode: 0o100644),
            FlatEntry(path: "mod", id: id, rawMode: 0o160000),
        ])
        #expect(files.count == 4 && files[1].path == "a/.gitattributes" && files.mode(1) == .executable && files.mode(3) == .gitlink)
        #expect(files[0] == FlatEntry(path: ".gitattributes", id: id, rawMode: 0o100644))
        #expect(files.entries(where: { PathBytes.isFile($0, named: ".gitattributes") }).map(\.path) == [".gitattributes", "a/.gitattributes"])
        #expect(files.entries(where: { PathBytes.equals($0, "mod") }).map(\.id) == [id])
    }

    /// A stat cache file for `root` with `rows` rows, as a scan writes it.
    static func cacheBytes(root: String, rows: Int) -> [UInt8] {
        var paths = PathList()
        var entries: [LiveEntry] = []
        for i in 0..<rows {
            paths.append("f\(i)")
            entries.append(LiveEntry(kind: .regular, size: Int64(i), mtime: 1, ctime: 1, inode: UInt64(i)))
        }
        return StatCache.serialized(root: root, treeKey: Array(repeating: 1, count: 20) + Array("src/api".utf8), now: 10_000_000_000,
                                    entries: entries, paths: paths, ids: Array(repeating: ObjectID.zero, count: rows),
                                    treeIndex: Array(repeating: -1, count: rows))
    }

    @Test("the stat cache's probe reads only the header: missing, garbage, another root, no rows, rows, a cut body, a symlink")
    func probe() throws {
        let scratch = Scratch()
        let path = scratch.file("statcache")
        let root = "/srv/app"
        func write(_ bytes: [UInt8]) throws {
            try? FileManager.default.removeItem(atPath: path)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        #expect(StatCache.probe(path: path, root: root) == (false, false))
        try write((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 73) })
        #expect(StatCache.probe(path: path, root: root) == (false, true))
        try write(Self.cacheBytes(root: "/srv/other", rows: 3))
        #expect(StatCache.probe(path: path, root: root) == (false, true))
        try write(Self.cacheBytes(root: root, rows: 0))
        #expect(StatCache.probe(path: path, root: root) == (false, false))
        let full = Self.cacheBytes(root: root, rows: 50)
        try write(full)
        #expect(StatCache.probe(path: path, root: root) == (true, false))
        #expect(StatCache.load(path: path, root: root).cache.count == 50)
        // The header says rows; the body is cut: the probe says usable, the load discards it.
        try write(Array(full.prefix(full.count / 2)))
        #expect(StatCache.probe(path: path, root: root) == (true, false))
        let cut = StatCache.load(path: path, root: root)
        #expect(cut.cache.count == 0 && cut.discarded)
        // Cut inside the header: discarded, as `load` would.
        try write(Array(full.prefix(12)))
        #expect(StatCache.probe(path: path, root: root) == (false, true))
        // Never through a symlink.
        try write(full)
        let link = scratch.file("link")
        symlink(path, link)
        #expect(StatCache.probe(path: link, root: root) == (false, false))
    }
}
