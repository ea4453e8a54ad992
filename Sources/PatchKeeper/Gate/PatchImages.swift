#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// One side of a file as a patch sees it: blob id and mode. Contents come from a `BlobSource`.
struct Image: Hashable, Sendable {
    var id: ObjectID
    var mode: FileMode
}

/// Blob contents for decisions, looked up by id: the registry's own object database first (where
/// record, apply, reapply and resolve keep every patch's pre- and postimages), then the app
/// repository's, then what this run computed (merge results, images rebuilt from hunks).
/// Never a live file: a verdict must not depend on what the live tree holds.
final class BlobSource {
    private let stores: [Repository]
    private var computed: [ObjectID: [UInt8]] = [:]

    init(_ stores: [Repository]) { self.stores = stores }

    func content(_ id: ObjectID) -> [UInt8]? {
        if id == ObjectID.emptyBlob { return [] }
        if let c = computed[id] { return c }
        for s in stores(having: id) {
            if let bytes = try? s.blob(id) { return bytes }
        }
        return nil
    }

    func has(_ id: ObjectID) -> Bool {
        id == ObjectID.emptyBlob || computed[id] != nil || !stores(having: id).isEmpty
    }

    /// The stores that have `id`: asked first without re-reading their pack directories (an
    /// object missing from the registry is usually in the app repository, and the other way
    /// round), then, when none has it, again with (a pack written since they were opened).
    private func stores(having id: ObjectID) -> [Repository] {
        let found = stores.filter { $0.contains(id, refresh: false) }
        return found.isEmpty ? stores.filter { $0.contains(id) } : found
    }

    /// Remembers computed content and returns its id.
    @discardableResult
    func add(_ bytes: [UInt8]) throws -> ObjectID {
        let id = try ObjectID.hashBlob(bytes)
        // Kept unless a store has it already (asked without a refresh: keeping it is harmless).
        if computed[id] == nil, !stores.contains(where: { $0.contains(id, refresh: false) }) { computed[id] = bytes }
        return id
    }

    /// The file `path` as `image` says (nil: absent), or an error naming the missing blob.
    func version(_ path: String, _ image: Image?) throws -> FileVersion? {
        guard let image else { return nil }
        guard let bytes = content(image.id) else {
            throw PatchKeeperError("blob \(image.id.short) of \(path) is missing from the registry and the app repository")
        }
        return FileVersion(path: path, mode: image.mode, content: bytes)
    }

    /// Content `add`ed this run (to be kept in the registry when a rebase writes them).
    func computedContent(_ id: ObjectID) -> [UInt8]? { computed[id] }
}

extension ObjectID {
    /// The id git gives the empty blob.
    static let emptyBlob = ObjectID(hex: "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")!
}

/// The exact pre- and postimage of every file of a patch, rebuilt from the registry alone: blob
/// ids from the index lines, contents from the registry's (or the app repository's) object
/// database, or from the hunks applied to a known side and checked against the recorded id.
struct PatchImages {
    struct File {
        var file: ParsedFilePatch
        /// nil: the patch creates the file.
        var pre: Image?
        /// nil: the patch deletes the file.
        var post: Image?
    }

    /// The files of a patch as one entry per path: a type change (symlink ↔ file), which git
    /// writes as a deletion and a creation of the same path, becomes one entry.
    static func logicalFiles(_ files: [ParsedFilePatch]) -> [ParsedFilePatch] {
        var out: [ParsedFilePatch] = []
        for f in files {
            if f.status == .added, let i = out.lastIndex(where: { $0.status == .deleted && $0.oldPath.utf8.elementsEqual(f.newPath.utf8) }) {
                var merged = out[i]
                merged.status = .typechange
                merged.newPath = f.newPath
                merged.newMode = f.newMode
                merged.newID = f.newID
                merged.isBinary = true  // whole-content replacement: never merged line by line
                merged.hunks = []
                out[i] = merged
                continue
            }
            out.append(f)
        }
        return out
    }

    /// Pre/post images of every file of `patch`; nil entries for a file whose content cannot be
    /// rebuilt. `recorded` holds the postimages of earlier patches (registry order) by path, for
    /// index lines without ids (mode-only changes); `base` is the patch's Base tree.
    static func images(of patch: PatchFile, source: BlobSource, recorded: inout [PathKey: Image], base: Tree?)
        throws -> [(ParsedFilePatch, File?)] {
        var out: [(ParsedFilePatch, File?)] = []
        for f in logicalFiles(try patch.files()) {
            let file = images(of: f, source: source, recorded: recorded, base: base)
            if let file {
                if f.status == .renamed || f.status == .deleted { recorded[PathKey(f.oldPath)] = nil }
                if let post = file.post { recorded[PathKey(f.newPath)] = post }
            }
            out.append((f, file))
        }
        return out
    }

    static func images(of f: ParsedFilePatch, source: BlobSource, recorded: [PathKey: Image], base: Tree?) -> File? {
        var pre: Image?
        if f.status != .added {
            var id = f.oldID
            var mode = f.oldMode
            if id.isZero {
                // A mode-only change has no index ids: its preimage is the earlier patch's
                // postimage, or the Base file.
                if let r = recorded[PathKey(f.oldPath)] { id = r.id; mode = mode ?? r.mode }
                else if let e = try? base?.entry(f.oldPath), let m = e.mode, m != .tree { id = e.id; mode = mode ?? m }
                else { return nil }
            }
            pre = Image(id: id, mode: mode ?? .regular)
        }
        var post: Image?
        if f.status != .deleted {
            var id = f.newID
            if id.isZero {
                guard let pre, f.hunks.isEmpty, !f.isBinary else { return nil }
                id = pre.id  // a mode change only
            }
            post = Image(id: id, mode: f.newMode ?? pre?.mode ?? .regular)
        }
        // Contents: rebuild a missing side from the other with the hunks, checked by id.
        let preKnown = pre.map { source.has($0.id) } ?? true
        let postKnown = post.map { source.has($0.id) } ?? true
        if preKnown && postKnown { return File(file: f, pre: pre, post: post) }
        guard !f.isBinary else { return nil }
        if preKnown, let post, !postKnown {
            guard let made = HunkApplier.apply(f, to: pre.flatMap { source.content($0.id) } ?? []),
                  (try? source.add(made)) == post.id else { return nil }
            return File(file: f, pre: pre, post: post)
        }
        if postKnown, let pre, !preKnown {
            guard let made = HunkApplier.apply(f, to: post.flatMap { source.content($0.id) } ?? [], reverse: true),
                  (try? source.add(made)) == pre.id else { return nil }
            return File(file: f, pre: pre, post: post)
        }
        return nil
    }
}

/// git's own rename score (diffcore-delta): the bytes of one file found again in the other,
/// chunked at newlines or 64 bytes, over the larger size; 0–100. libgit2's scores differ, and a
/// weak match must never be where reapply writes, so renames are confirmed with this.
enum Similarity {
    static func score(_ a: [UInt8], _ b: [UInt8]) -> Int {
        let maxSize = max(a.count, b.count)
        if maxSize == 0 { return 100 }
        let minSize = min(a.count, b.count)
        // git skips pairs whose sizes differ too much to reach its minimum score (50%).
        if (maxSize - minSize) * 2 > maxSize { return 0 }
        return overlap(a, b)
    }

    /// Like `score` without git's size cut-off: for "most similar file" hints.
    static func overlap(_ a: [UInt8], _ b: [UInt8]) -> Int { overlap(Chunks(a), Chunks(b)) }

    /// A file's chunk counts and size, to compare one file with many.
    struct Chunks {
        let counts: [UInt64: Int]
        let size: Int
        init(_ data: [UInt8]) {
            counts = Similarity.chunks(data)
            size = data.count
        }
    }

    static func overlap(_ a: Chunks, _ b: Chunks) -> Int {
        let maxSize = max(a.size, b.size)
        if maxSize == 0 { return 100 }
        var copied = 0
        for (h, n) in a.counts { if let m = b.counts[h] { copied += min(n, m) } }
        return copied * 100 / maxSize
    }

    private static func chunks(_ data: [UInt8]) -> [UInt64: Int] {
        var out: [UInt64: Int] = [:]
        var hash: UInt64 = 0x811c_9dc5
        var n = 0
        var i = 0
        while i < data.count {
            let c = data[i]
            i += 1
            // git ignores the CR of a CRLF pair in text.
            if c == 13, i < data.count, data[i] == 10 { continue }
            hash = (hash ^ UInt64(c)) &* 0x100_0000_01b3
            n += 1
            if c == 10 || n == 64 {
                out[hash, default: 0] += n
                hash = 0x811c_9dc5
                n = 0
            }
        }
        if n > 0 { out[hash, default: 0] += n }
        return out
    }
}

/// Patch base trees by commit, each read once (1,000 patches usually share a few bases).
final class BaseTrees {
    private let repository: Repository
    private var trees: [ObjectID: Tree?] = [:]

    init(_ repository: Repository) { self.repository = repository }

    func tree(_ id: ObjectID) -> Tree? {
        if let known = trees[id] { return known }
        let t = repository.contains(id) ? try? repository.tree(of: id) : nil
        trees[id] = .some(t)
        return t
    }
}
