import Foundation
import Git
import Testing

/// The patch-id cache is derived and written without fsync: after a crash it may be cut short or
/// end in NULs. Whatever is left, every answer read back is the whole answer or none.
@Suite("patch-id cache: damaged files")
struct PatchIDCacheDamageTests {
    static func id(_ n: Int) -> ObjectID { ObjectID(hex: String(repeating: String(format: "%02x", n % 256), count: 20))! }

    static func sample() -> PatchIDCache {
        let c = PatchIDCache()
        c.store(id(1), id(2))
        c.store(id(3), nil)
        c.storeRange("\(id(10).hex) \(id(11).hex) all", [id(2): id(1), id(4): id(5), id(6): id(7)])
        c.storeRange("\(id(12).hex) \(id(11).hex) all", [:])
        c.storeCommitList("\(id(10).hex) \(id(11).hex) \(id(13).hex)", [id(1), id(5), id(7)])
        c.storeFileChanges("\(id(10).hex) \(id(11).hex) \(id(14).hex)", [(id(1), nil, id(20)), (id(5), id(20), id(21)), (id(7), id(21), nil)])
        return c
    }

    func check(_ damaged: String, against whole: PatchIDCache, _ what: String) {
        let c = PatchIDCache(text: damaged)
        for (k, v) in c.ranges { #expect(whole.ranges[k] == v, "\(what): range \(k)") }
        for (k, v) in c.commitLists { #expect(whole.commitLists[k] == v, "\(what): list \(k)") }
        for (k, v) in c.files {
            let w = whole.files[k]
            #expect(w?.count == v.count && zip(w ?? [], v).allSatisfy { $0.commit == $1.commit && $0.old == $1.old && $0.new == $1.new },
                    "\(what): file \(k)")
        }
        for (k, v) in c.entries { #expect(whole.entries[k] == v, "\(what): commit \(k.hex)") }
    }

    @Test("cut at every byte, or the rest NULs: no range, commit list or file history reads back shorter")
    func everyCut() {
        let whole = Self.sample()
        let text = Array(whole.text.utf8)
        let again = PatchIDCache(text: whole.text)
        #expect(again.ranges.count == 2 && again.commitLists.count == 1 && again.files.count == 1 && again.entries.count == 2)
        for n in 0...text.count {
            check(String(decoding: text[..<n], as: UTF8.self), against: whole, "cut at \(n)")
            check(String(decoding: text[..<n] + [UInt8](repeating: 0, count: 64), as: UTF8.self), against: whole, "NULs from \(n)")
        }
    }
}
