#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// Registry file heads as `PatchFile.parse` read them, kept by each file's content id in
/// `.patchkeeper/headers` (issue 13: "parsed patch fingerprints"), so a registry load reads
/// 1,000 files but parses only the ones that changed. Parsing the heads was a quarter of a
/// `record`'s instructions at 1,000 patches.
///
/// A record is what parse gave for exactly those bytes, so it never goes stale; what it says is
/// believed only for a file whose id `validated` also holds (it parsed in full), from a cache
/// file and state directory the user running patchkeeper owns and nobody else may write, and
/// only from the build that wrote it (`magic` holds its identity: a parse made stricter, or
/// another Swift runtime's Unicode rules, never meets an older record). A file cut short keeps
/// the records before the cut; a record that does not decode whole is a miss (the file is
/// parsed). Each record: the tail's byte offset in the file, then the From line, author name and
/// e-mail, Date, Subject, body, the extra headers and the trailers, each a little-endian UInt32
/// length and the bytes.
struct HeaderCache: Sendable {
    static let format = "patchkeeper headers 1"
    /// The first line: the format and the binary's identity (another build's records are read as
    /// none: `BinaryIdentity`); nil when the identity is unknown (no cache then).
    static let magic: [UInt8]? = BinaryIdentity.current.map { Array("\(format) \($0)\n".utf8) }

    private(set) var records: [ObjectID: ArraySlice<UInt8>] = [:]

    init() {}

    /// Reads a cache file's bytes: its records as framed, up to the first that the file cuts
    /// short. A record is decoded (and one that does not decode whole ignored) when used.
    init(bytes: [UInt8]) {
        guard let magic = Self.magic, bytes.starts(with: magic) else { return }
        var at = magic.count
        while at < bytes.count {
            guard bytes.count - at >= 24 else { return }
            let id = bytes.withUnsafeBytes { ObjectID(raw: UnsafeRawBufferPointer(rebasing: $0[at..<at + 20])) }
            let n = Int(Self.u32(bytes, at + 20))
            guard n <= bytes.count - at - 24 else { return }
            records[id] = bytes[at + 24..<at + 24 + n]
            at += 24 + n
        }
    }

    /// The cache file, or an empty cache when it cannot be believed (`Registry.ownCacheFile`).
    static func load(_ path: String) -> HeaderCache {
        Registry.ownCacheFile(path).map(HeaderCache.init(bytes:)) ?? HeaderCache()
    }

    /// The file's bytes: `records` in id order.
    static func encode(_ records: [ObjectID: ArraySlice<UInt8>]) -> [UInt8]? {
        guard var out = magic else { return nil }
        for id in records.keys.sorted() {
            let r = records[id]!
            out += id.bytes
            appendU32(&out, r.count)
            out += r
        }
        return out
    }

    /// The record of `patch`, parsed from `text` (nil when it cannot be kept: its author came
    /// from this host's name, which may change, or its tail is not the end of the text).
    static func record(of patch: PatchFile, text: String) -> [UInt8]? {
        guard !patch.authorMayNameHost else { return nil }
        var text = text, tail = patch.tail
        let total = text.utf8.count, tailCount = tail.utf8.count
        // On the buffers (the views' `elementsEqual` was 35k instructions a file).
        let isSuffix = tailCount <= total && text.withUTF8 { t in
            tail.withUTF8 { u in u.isEmpty || memcmp(t.baseAddress! + (total - tailCount), u.baseAddress!, tailCount) == 0 }
        }
        guard isSuffix else { return nil }
        var out: [UInt8] = []
        appendU32(&out, total - tailCount)
        for s in [patch.fromLine, patch.author.name, patch.author.email, patch.dateText, patch.subject, patch.body] { append(&out, s) }
        appendU32(&out, patch.extraHeaders.count)
        for h in patch.extraHeaders { append(&out, h) }
        appendU32(&out, patch.trailers.count)
        for t in patch.trailers {
            append(&out, t.key)
            append(&out, t.value)
        }
        return out
    }

    /// The patch file this record describes, for a file named `fileName` holding `bytes`.
    static func patch(_ record: ArraySlice<UInt8>, bytes: [UInt8], fileName: String) -> PatchFile? {
        guard let f = fields(of: record), f.tailOffset <= bytes.count,
              let tail = bytes.withUnsafeBufferPointer({ String(validating: UnsafeBufferPointer(rebasing: $0[f.tailOffset...]), as: UTF8.self) })
        else { return nil }
        var patch = PatchFile(fileName: fileName, fromLine: f.strings[0], author: Person(name: f.strings[1], email: f.strings[2]),
                              dateText: f.strings[3], subject: f.strings[4], extraHeaders: f.extra, body: f.strings[5],
                              trailers: f.trailers, tail: tail)
        patch.lazy = LazyFiles(validatedTail: patch.tail)
        return patch
    }

    private static func fields(of record: ArraySlice<UInt8>) -> (tailOffset: Int, strings: [String], extra: [String], trailers: [PatchFile.Trailer])? {
        record.withUnsafeBufferPointer { r in
            var at = 0
            func count() -> Int? {
                guard r.count - at >= 4 else { return nil }
                defer { at += 4 }
                return Int(u32(r, at))
            }
            func string() -> String? {
                guard let n = count(), n <= r.count - at else { return nil }
                defer { at += n }
                return String(validating: UnsafeBufferPointer(rebasing: r[at..<at + n]), as: UTF8.self)
            }
            guard let tailOffset = count() else { return nil }
            var strings: [String] = []
            strings.reserveCapacity(6)
            for _ in 0..<6 {
                guard let s = string() else { return nil }
                strings.append(s)
            }
            guard let nExtra = count(), nExtra <= r.count else { return nil }
            var extra: [String] = []
            for _ in 0..<nExtra {
                guard let s = string() else { return nil }
                extra.append(s)
            }
            guard let nTrailers = count(), nTrailers <= r.count else { return nil }
            var trailers: [PatchFile.Trailer] = []
            trailers.reserveCapacity(nTrailers)
            for _ in 0..<nTrailers {
                guard let k = string(), let v = string() else { return nil }
                trailers.append(PatchFile.Trailer(k, v))
            }
            guard at == r.count else { return nil }
            return (tailOffset, strings, extra, trailers)
        }
    }

    private static func u32<C: RandomAccessCollection>(_ b: C, _ at: C.Index) -> UInt32 where C.Element == UInt8, C.Index == Int {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    private static func appendU32(_ out: inout [UInt8], _ n: Int) {
        let v = UInt32(truncatingIfNeeded: n)
        out += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
    }

    private static func append(_ out: inout [UInt8], _ s: String) {
        appendU32(&out, s.utf8.count)
        out += s.utf8
    }
}
