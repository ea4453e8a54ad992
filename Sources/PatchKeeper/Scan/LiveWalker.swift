import CDirent
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Git
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One file-like entry of the live tree, with the stat data the cache keys on. Its root-relative
/// path is kept beside it, in the walk's `PathList`.
struct LiveEntry: Sendable {
    enum Kind: UInt8, Sendable { case regular, executable, symlink, other }
    var kind: Kind
    var size: Int64
    var mtime: Int64          // ns
    var ctime: Int64          // ns
    var inode: UInt64

    /// The stat data the walk saw, as `BlobHasher` compares it (type, inode, size, times; the
    /// device is not kept, so compare with `checkDevice: false`).
    var seen: stat {
        var st = stat()
        switch kind {
        case .regular: st.st_mode = S_IFREG | 0o644
        case .executable: st.st_mode = S_IFREG | 0o755
        case .symlink: st.st_mode = S_IFLNK | 0o777
        case .other: st.st_mode = 0
        }
        st.st_ino = numericCast(inode)
        st.st_size = numericCast(size)
        st.st_mtim = timespec(tv_sec: Int(mtime / 1_000_000_000), tv_nsec: Int(mtime % 1_000_000_000))
        st.st_ctim = timespec(tv_sec: Int(ctime / 1_000_000_000), tv_nsec: Int(ctime % 1_000_000_000))
        return st
    }
}

/// Walks the live tree with `openat`/`fstatat`: no symlink is followed and no path re-resolved
/// through one. Subtrees are shared out to idle threads as the walk comes to them (`walk()`).
/// `descend` decides (under a lock) whether a directory is entered.
struct LiveWalker: Sendable {
    var root: String
    /// Root-relative paths never looked at (the registry inside root, REVISION, ...).
    /// By their bytes: a `Set<String>` matched another spelling of a skipped path (Unicode
    /// canonical equivalence), and the walk skipped a directory of the app's user's making whole.
    var skip: Set<[UInt8]> { didSet { skipLengths = Self.lengthBits(skip) } }
    /// The lengths of the `skip` paths as bits: most paths are not hashed to learn they are not in it.
    private var skipLengths: [UInt64]
    var threads: Int
    /// Directories deeper than this (path components below the root) are not entered; the first
    /// such directory on each branch is a problem. Keeps the walk's cost, open descriptors and
    /// the per-directory ignore look-ups (each proportional to the depth) bounded.
    var maxDepth: Int = 256
    var descend: @Sendable (String) -> Bool

    /// Hashing at the walk: the entries `wanted` names are hashed right after their `fstatat`,
    /// by name on the descriptor of the directory being listed (see `BlobHasher`), on the walk's
    /// threads. Set by a scan that has no stat cache to trust (every file is hashed anyway).
    struct Hashing: Sendable {
        /// Whether the comparison needs this root-relative path's blob id (its bytes).
        var wanted: @Sendable (UnsafeRawBufferPointer) -> Bool
        /// Test hook: called for each file between its stat and its hashing.
        var beforeHash: (@Sendable (String) -> Void)?
    }
    var hashing: Hashing?
    /// One read buffer per walking thread, reused across the directories it walks.
    private let hashers = BlobHasherPool()

    init(root: String, skip: Set<[UInt8]>, threads: Int, maxDepth: Int = 256, descend: @escaping @Sendable (String) -> Bool) {
        self.root = root
        self.skip = skip
        self.skipLengths = Self.lengthBits(skip)
        self.threads = threads
        self.maxDepth = maxDepth
        self.descend = descend
    }

    private static func lengthBits(_ paths: Set<[UInt8]>) -> [UInt64] {
        var bits = [UInt64](repeating: 0, count: (paths.map(\.count).max() ?? 0) / 64 + 1)
        for p in paths { bits[p.count >> 6] |= 1 << UInt64(p.count & 63) }
        return bits
    }

    @inline(__always)
    private static func has(_ bits: [UInt64], _ n: Int) -> Bool {
        n >> 6 < bits.count && bits[n >> 6] & (1 << UInt64(n & 63)) != 0
    }

    struct Problem: Sendable, Equatable {
        var path: String
        var message: String
        /// Listed, then not found (`goneMessage`): the scan may drop it for an ignored file.
        var gone = false
    }

    struct Result: Sendable {
        var entries: [LiveEntry] = []
        var paths = PathList()
        var problems: [Problem] = []
        /// Subtrees handed to another thread (`WalkQueue.donate`): where their results go in
        /// this one's, so that the whole walk comes out in the one-thread order.
        var splices: [Splice] = []
        /// With `hashing`: one per entry, the blob id when the walk hashed it.
        var ids: [ObjectID?] = []
        /// With `hashing`: (entry index, outcome) for the entries the walk tried to hash and got
        /// no id for, in entry order (putting the walk together moves through it once).
        var otherOutcomes: [(Int, HashOutcome)] = []
    }

    /// A subtree walked by another thread into result `slot`, to be placed before entry `entries`
    /// and problem `problems` of the result that handed it over.
    struct Splice: Sendable {
        var entries: Int
        var problems: Int
        var slot: Int
    }

    struct Walk: Sendable {
        var entries: [LiveEntry]
        /// Parallel to `entries`: each one's root-relative path.
        var paths = PathList()
        var problems: [Problem]
        /// With `hashing`: parallel to `entries`, the blob id of each entry the walk hashed;
        /// empty without.
        var ids: [ObjectID?] = []
        /// With `hashing`: the entries (by index) the walk tried to hash and got no id for.
        var otherOutcomes: [Int: HashOutcome] = [:]
        /// How many subtrees were handed to another thread (for tests: the order must not show it).
        var shared = 0
    }

    /// Descriptors kept for what is open besides the walk (libgit2's packs, the registry, stdio).
    static let descriptorReserve = 128

    /// How many threads may walk: each holds a descriptor per directory level it is down
    /// (`maxDepth` + 1 at most) and the queue up to `WalkQueue.eagerLimit`; a walk that ran out
    /// of descriptors would lose whichever subtrees came last (fails closed, but differently
    /// from run to run). Under the usual soft limit of 1,024 that is 3 threads.
    static func threads(_ wanted: Int, maxDepth: Int, descriptorLimit: Int) -> Int {
        let each = maxDepth + 1
        return max(1, min(wanted, (descriptorLimit - descriptorReserve - WalkQueue.eagerLimit) / each))
    }

    /// An entry listed but gone when the walk came to it. The walk cannot tell a deletion from a
    /// rename away and back (an untracked subtree hidden from the scan, and from the gate, for the
    /// time the walk took to reach it), so it is reported, and the scan is not clean.
    static let goneMessage = "gone while the scan was listing its directory (renamed or deleted); scan again"

    /// Bytes of directory entries read per getdents64 call (glibc's readdir reads 32 KB too).
    static let listingBuffer = 32 << 10

    /// The walk, on `threads` threads: one walks from the root, depth first; a thread that has
    /// nothing to do is handed the next subdirectory another one comes to (opened by that one,
    /// `openat` on the descriptor of its parent with O_NOFOLLOW: nothing is resolved from the
    /// root again, so a root reached through a symlink switched mid-walk is walked as it was
    /// when the walk began). However the work was shared, the result is in the order one thread
    /// would have walked it (a directory's files, then each subdirectory's subtree), the order
    /// the stat cache is written in.
    func walk() -> Walk {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return Walk(entries: [], problems: [Problem(path: root, message: "cannot open: \(POSIX.errorText())")]) }
        let queue = WalkQueue(root: .init(fd: fd, rel: "", depth: 0, slot: 0))
        let workers = Self.threads(max(1, threads), maxDepth: maxDepth, descriptorLimit: POSIX.descriptorLimit())
        Threads.run(workers) { _ in
            queue.work { task in
                var r = Result()
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.listingBuffer, alignment: 8)
                defer { buffer.deallocate() }
                hashers.with { hasher in
                    walkDirectory(fd: task.fd, rel: task.rel, depth: task.depth, hasher: hasher, queue: workers > 1 ? queue : nil,
                                  buffer: buffer, into: &r)
                }
                return r
            }
        }
        var results = queue.takeResults()
        var walk = Walk(entries: [], problems: [])
        var total = 0, pathBytes = 0
        walk.shared = results.count - 1
        for r in results {
            total += r.entries.count
            pathBytes += r.paths.bytes.count
        }
        // Copied even when nothing was handed over: the lists come out at their exact size (a
        // result's arrays grew by doubling, and the walk is held for the rest of the scan, over
        // the stat cache's load; the copy's moment of double size comes before that).
        walk.entries.reserveCapacity(total)
        walk.paths.reserve(paths: total, bytes: pathBytes)
        if hashing != nil { walk.ids.reserveCapacity(total) }
        Self.assemble(slot: 0, from: &results, into: &walk)
        return walk
    }

    /// Appends result `slot` to `walk` with the subtrees it handed over in their places; each
    /// result is freed once copied, so the walk is not held twice at its end.
    private static func assemble(slot: Int, from results: inout [Result], into walk: inout Walk) {
        let r = results[slot]
        results[slot] = Result()
        var e = 0, p = 0, o = 0
        func copy(upTo entries: Int, _ problems: Int) {
            let base = walk.entries.count - e
            walk.entries.append(contentsOf: r.entries[e..<entries])
            walk.paths.append(contentsOf: r.paths, range: e..<entries)
            if !r.ids.isEmpty { walk.ids.append(contentsOf: r.ids[e..<entries]) }
            // Each outcome is copied once: a pass over all of them per splice was quadratic in
            // (files that failed to hash) x (subtrees handed over), both the app user's to choose.
            while o < r.otherOutcomes.count && r.otherOutcomes[o].0 < entries {
                walk.otherOutcomes[base + r.otherOutcomes[o].0] = r.otherOutcomes[o].1
                o += 1
            }
            walk.problems.append(contentsOf: r.problems[p..<problems])
            e = entries
            p = problems
        }
        for splice in r.splices {
            copy(upTo: splice.entries, splice.problems)
            assemble(slot: splice.slot, from: &results, into: &walk)
        }
        copy(upTo: r.entries.count, r.problems.count)
    }

    /// Opens the directory `root/rel` one component at a time with O_NOFOLLOW (the root itself
    /// as named); nil with errno set when a component is missing, not a directory or a symlink.
    static func openBeneath<S: StringProtocol>(root: String, _ rel: S) -> Int32? {
        let top = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard top >= 0 else { return nil }
        return openBeneath(taking: top, rel)
    }

    /// Walks `rel` down from the directory open on `top`, which it takes (closes).
    private static func openBeneath<S: StringProtocol>(taking top: Int32, _ rel: S) -> Int32? {
        var fd = top
        for part in String(rel).slashParts() {
            let next = openat(fd, String(part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let code = errno
            close(fd)
            guard next >= 0 else { errno = code; return nil }
            fd = next
        }
        return fd
    }

    /// `depth`: the number of path components of `rel`.
    /// `hasher` nil: nothing is hashed (the entries' `ids` stay nil).
    /// `queue`: where a subdirectory is handed to an idle thread (nil: this thread walks all).
    /// `buffer`: where the directory's entries are read (the caller's, reused: every entry is
    /// done with before the walk goes down into a subdirectory).
    private func walkDirectory(fd: Int32, rel: String, depth: Int, hasher: BlobHasher?, queue: WalkQueue?,
                               buffer: UnsafeMutableRawBufferPointer, into r: inout Result) {
        defer { close(fd) }
        var subdirs: [String] = []
        let relBytes = Array(rel.utf8)
        var filled = 0, offset = 0
        while true {
            if offset >= filled {
                // getdents64 on the descriptor itself; an error ends the listing with a problem
                // (readdir's NULL said "end" for both).
                filled = pk_getdents64(fd, buffer.baseAddress, buffer.count)
                offset = 0
                if filled < 0 {
                    r.problems.append(Problem(path: rel, message: "cannot list: \(POSIX.errorText())"))
                    break
                }
                if filled == 0 { break }
            }
            let ent = UnsafeRawPointer(buffer.baseAddress! + offset)
            let length = Int(pk_dirent64_length(ent))
            guard length > 0 && offset + length <= filled else {
                // Never from a kernel: stop rather than loop or read past what was filled.
                r.problems.append(Problem(path: rel, message: "cannot list: malformed directory record"))
                break
            }
            offset += length
            // The name in place (no copy into an array), NUL-terminated within d_name.
            let cname = pk_dirent64_name(ent)!
            if cname[0] == 46 && (cname[1] == 0 || (cname[1] == 46 && cname[2] == 0)) { continue }  // "." and ".."
            let nameBytes = UnsafeRawBufferPointer(start: cname, count: strlen(cname))
            // ASCII (nearly every name) is valid UTF-8 without asking String to check it.
            guard !nameBytes.contains(where: { $0 >= 0x80 }) || String(validatingCString: cname) != nil else {
                let shown = String(decoding: nameBytes, as: UTF8.self)
                r.problems.append(Problem(path: rel.isEmpty ? shown : rel + "/" + shown, message: "file name is not UTF-8; not compared"))
                continue
            }
            // The path goes straight into the walk's path buffer; taken back out when it is not an entry.
            r.paths.append(base: relBytes, name: nameBytes)
            let last = r.paths.count - 1
            if Self.has(skipLengths, r.paths.byteCount(last)) && skip.contains(r.paths.withPath(last) { Array($0) }) {
                r.paths.removeLast()
                continue
            }
            // A directory by the listing's word is not stat'ed here: it is opened below with
            // O_DIRECTORY | O_NOFOLLOW, which refuses whatever it has become since (a symlink, a
            // file). Any other type, and a file system that does not say, is decided by fstatat.
            if pk_dirent64_type(ent) == UInt8(DT_DIR) {
                r.paths.removeLast()
                subdirs.append(String(decoding: nameBytes, as: UTF8.self))
                continue
            }
            var st = stat()
            if fstatat(fd, cname, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                // Gone since the listing is a problem too, not "absent": renamed away while the
                // walk was elsewhere and back after it, an untracked file would never be seen.
                let code = errno
                r.problems.append(Problem(path: r.paths[last], message: code == ENOENT ? Self.goneMessage : "cannot stat: \(POSIX.errorText(code))",
                                          gone: code == ENOENT))
                r.paths.removeLast()
                continue
            }
            let type = st.st_mode & S_IFMT
            if type == S_IFDIR {
                r.paths.removeLast()
                subdirs.append(String(decoding: nameBytes, as: UTF8.self))
                continue
            }
            let kind: LiveEntry.Kind
            switch type {
            case S_IFREG: kind = (st.st_mode & 0o100) != 0 ? .executable : .regular
            case S_IFLNK: kind = .symlink
            default: kind = .other
            }
            if let hashing {
                var id: ObjectID?
                if let hasher, r.paths.withPath(last, hashing.wanted) {
                    if let hook = hashing.beforeHash { hook(r.paths[last]) }
                    switch hasher.hash(dirfd: fd, name: cname, seen: st) {
                    case .id(let hashed): id = hashed
                    case let other: r.otherOutcomes.append((r.entries.count, other))
                    }
                }
                r.ids.append(id)
            }
            r.entries.append(LiveEntry(kind: kind, size: Int64(st.st_size),
                                       mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                                       ctime: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec),
                                       inode: UInt64(st.st_ino)))
        }
        for name in subdirs {
            let path = rel.isEmpty ? name : rel + "/" + name
            if depth + 1 > maxDepth {
                r.problems.append(Problem(path: path, message: "directory nested more than \(maxDepth) levels deep; nothing below it is compared"))
                continue
            }
            guard descend(path) else { continue }
            let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard sub >= 0 else {
                // Gone since the listing: a problem (see `goneMessage`), whatever else it is.
                let code = errno
                r.problems.append(Problem(path: path, message: code == ENOENT ? Self.goneMessage : "cannot open directory: \(POSIX.errorText(code))",
                                          gone: code == ENOENT))
                continue
            }
            if let queue, let slot = queue.donate(.init(fd: sub, rel: path, depth: depth + 1, slot: 0), eager: depth + 1 <= 2) {
                r.splices.append(Splice(entries: r.entries.count, problems: r.problems.count, slot: slot))
                continue
            }
            walkDirectory(fd: sub, rel: path, depth: depth + 1, hasher: hasher, queue: queue, buffer: buffer, into: &r)
        }
    }
}

/// The directories waiting for a thread during one walk, and the walk's results by slot.
/// A directory is handed over when a thread is waiting and none is queued, and a directory of
/// the top two levels also while fewer than `eagerLimit` are queued, so the queue holds at most
/// that many descriptors (plus one a waiting thread); a thread that never gets to run leaves the
/// others to walk everything (no thread waits for another to start).
final class WalkQueue: @unchecked Sendable {
    struct Task: Sendable {
        var fd: Int32
        var rel: String
        var depth: Int
        var slot: Int
    }

    /// At most this many descriptors are held by the queue for eager hand-overs.
    static let eagerLimit = 32

    // All guarded by `condition`.
    private let condition = Condition()
    private var tasks: [Task]
    private var idle = 0
    private var active = 0
    private var filled: [LiveWalker.Result]

    init(root: Task) {
        tasks = [root]
        filled = [LiveWalker.Result()]
    }

    /// Every slot's result, taken out (the queue keeps none); after every `work` has returned.
    func takeResults() -> [LiveWalker.Result] {
        condition.lock()
        defer { condition.unlock() }
        defer { filled = [] }
        return filled
    }

    /// Queues `task` (its descriptor then belongs to the queue) and returns its slot, when a
    /// thread is waiting for work and none is queued, or when `eager` and fewer than
    /// `eagerLimit` are; nil (the caller walks it) otherwise.
    ///
    /// Eager: the directories of the top levels go to slots of their own whether or not a thread
    /// is idle, so that the root's own result is small. Putting the walk together copies each
    /// result into one list and frees it when its last part is copied, which for the root's
    /// result is the very end: were it most of the tree, the walk would be held twice.
    func donate(_ task: Task, eager: Bool) -> Int? {
        condition.lock()
        defer { condition.unlock() }
        guard idle > tasks.count || (eager && tasks.count < Self.eagerLimit) else { return nil }
        var task = task
        task.slot = filled.count
        filled.append(LiveWalker.Result())
        tasks.append(task)
        condition.signal()
        return task.slot
    }

    /// One thread's share: takes tasks until none is queued and no thread is walking one (so
    /// none can be queued any more). `walk` closes the task's descriptor.
    func work(_ walk: (Task) -> LiveWalker.Result) {
        condition.lock()
        while true {
            if let task = tasks.popLast() {
                active += 1
                condition.unlock()
                let r = walk(task)
                condition.lock()
                filled[task.slot] = r
                active -= 1
                if active == 0 && tasks.isEmpty { condition.broadcast() }
                continue
            }
            if active == 0 { break }
            idle += 1
            condition.wait()
            idle -= 1
        }
        condition.unlock()
    }
}
