import CSHA1
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

/// What hashing one walked entry gave.
enum HashOutcome: Sendable {
    case id(ObjectID)
    /// Gone since the walk: absent, like any deleted file.
    case vanished
    /// Not the file the walk saw any more (other inode, size or times, or another type), or
    /// written while it was read: its id may be of neither version.
    case changed
    case failed(String)
}

/// Hashes walked entries as git blobs, each reached by its name relative to the descriptor of
/// the directory it was listed in (`openat`/`readlinkat` with `O_NOFOLLOW`): no path is resolved
/// again, so nothing outside the root is read and no symlink followed. The type is decided on the
/// open descriptor (`O_NONBLOCK`: a FIFO swapped in never blocks the open), and the descriptor's
/// `fstat` must show the file the walk's `fstatat` saw (device, inode, size, mtime, ctime) before
/// it is read and again after.
///
/// Two hashes, the same ids: on a CPU with the SHA extensions (`fast`), plain SHA-1 on them
/// (`CSHA1`), fed in pieces of one fixed buffer; elsewhere libgit2's collision-detecting SHA-1
/// (SHA1DC), on the file read whole into the buffer (streamed by libgit2 above `bufferLimit`).
/// This is scan's comparison only; why it may skip collision detection: docs/DESIGN.md, "Hashing".
///
/// One per thread: the buffer is this hasher's alone (not `Sendable`).
final class BlobHasher {
    /// Whether this CPU has the SHA extensions (checked once, with CPUID).
    static let fastAvailable = pk_sha1_hw_available() == 1
    /// Files larger than this are not read into the buffer (so that the buffer, and the scan's
    /// memory, stays small): libgit2 streams them from the same descriptor.
    static let bufferLimit = 8 << 20
    /// Files above this size are checked for holes before they are read (`SEEK_HOLE`).
    static let sparseCheckSize = 64 << 20
    /// `lseek`'s SEEK_HOLE (not exported by Glibc's Swift module without _GNU_SOURCE).
    #if os(Linux)
    static let seekHole: Int32? = 4
    #else
    static let seekHole: Int32? = nil
    #endif
    /// The fast hash reads in pieces of this size.
    static let pieceSize = 128 << 10
    let fast: Bool
    /// Refuse huge files with holes (tests of the hash itself turn it off).
    let refuseSparse: Bool
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int

    /// `fast: false` forces libgit2's SHA1DC (tests compare the two).
    init(fast: Bool = BlobHasher.fastAvailable, refuseSparse: Bool = true) {
        self.fast = fast
        self.refuseSparse = refuseSparse
        capacity = fast ? Self.pieceSize : 64 << 10
        buffer = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { buffer.deallocate() }

    /// The blob id of the entry `name` of the directory open on `dirfd`, which the walk saw with
    /// `seen` (its `fstatat` without following links). `AT_FDCWD` and a path also work (the
    /// path is then resolved again, and only its last component is not followed).
    /// `checkDevice: false` when `seen` has no device number.
    func hash(dirfd: Int32, name: UnsafePointer<CChar>, seen: stat, checkDevice: Bool = true) -> HashOutcome {
        switch seen.st_mode & S_IFMT {
        case S_IFREG: return hashRegular(dirfd: dirfd, name: name, seen: seen, checkDevice: checkDevice)
        case S_IFLNK: return hashSymlink(dirfd: dirfd, name: name, seen: seen, checkDevice: checkDevice)
        default: return .failed("not a regular file or symlink")
        }
    }

    private func hashRegular(dirfd: Int32, name: UnsafePointer<CChar>, seen: stat, checkDevice: Bool) -> HashOutcome {
        let fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return .vanished }
            if code == ELOOP { return .changed }  // replaced by a symlink
            return .failed("cannot read: \(POSIX.errorText(code))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failed("cannot read: \(POSIX.errorText())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            return .failed("not a regular file or symlink (\(POSIX.kindName(st.st_mode)), replaced during the scan)")
        }
        guard Self.sameFile(st, seen, checkDevice) else { return .changed }
        let size = Int(st.st_size)
        // A huge file with holes: anyone who can write the tree can make a 16 TiB one in an
        // instant, and reading it would take every scan and gate for hours. A checkout writes every
        // byte, so no deployed file has holes: it is reported, not read.
        if refuseSparse, size > Self.sparseCheckSize, let seekHole = Self.seekHole {
            let hole = lseek(fd, 0, seekHole)
            if hole >= 0 && hole < off_t(size) {
                return .failed("a sparse file of \(size) bytes (it has holes; a checkout writes every byte): not read. Remove it, or find out what made it")
            }
            guard lseek(fd, 0, SEEK_SET) == 0 else { return .failed("cannot read: \(POSIX.errorText())") }
        }
        let id: ObjectID
        if fast {
            // "blob SIZE\0", then the content in pieces; more or fewer bytes than the fstat
            // said: changed under the read.
            var ctx = pk_sha1_ctx()
            pk_sha1_init(&ctx)
            let header = Self.header(size: size, into: buffer)
            pk_sha1_update(&ctx, buffer, header)
            var total = 0
            while true {
                let n = read(fd, buffer, capacity)
                if n < 0 {
                    if errno == EINTR { continue }
                    return .failed("cannot read: \(POSIX.errorText())")
                }
                if n == 0 { break }
                total += n
                if total > size { return .changed }
                pk_sha1_update(&ctx, buffer, n)
            }
            guard total == size else { return .changed }
            id = Self.finish(&ctx)
        } else if size <= Self.bufferLimit {
            // One byte more than the size: a file grown since its fstat is seen as such.
            reserve(size + 1)
            var total = 0
            while total <= size {
                let n = read(fd, buffer + total, size + 1 - total)
                if n < 0 {
                    if errno == EINTR { continue }
                    return .failed("cannot read: \(POSIX.errorText())")
                }
                if n == 0 { break }
                total += n
            }
            guard total == size else { return .changed }
            guard let hashed = try? ObjectID.hashBlob(raw: UnsafeRawBufferPointer(start: buffer, count: size)) else {
                return .failed("cannot hash")
            }
            id = hashed
        } else {
            do {
                id = try ObjectID.hashFile(descriptor: fd)
            } catch {
                return .failed("cannot read: \((error as? GitError)?.message ?? "\(error)")")
            }
        }
        // Written while it was read? Then the id may be of neither version.
        var after = stat()
        guard fstat(fd, &after) == 0, Self.sameFile(after, seen, checkDevice) else { return .changed }
        return .id(id)
    }

    private func hashSymlink(dirfd: Int32, name: UnsafePointer<CChar>, seen: stat, checkDevice: Bool) -> HashOutcome {
        let size = Int(seen.st_size)
        guard size < 1 << 20 else { return .failed("symlink target too long") }
        reserve(size + 1)
        let n = readlinkat(dirfd, name, buffer.assumingMemoryBound(to: CChar.self), size + 1)
        guard n >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return .vanished }
            if code == EINVAL { return .changed }  // no longer a symlink
            return .failed("cannot read link: \(POSIX.errorText(code))")
        }
        guard n == size, let id = blobID(UnsafeRawBufferPointer(start: buffer, count: n)) else { return .changed }
        // Replaced since the walk (by another link of the same length, say)?
        var after = stat()
        guard fstatat(dirfd, name, &after, AT_SYMLINK_NOFOLLOW) == 0 else { return errno == ENOENT ? .vanished : .changed }
        guard (after.st_mode & S_IFMT) == S_IFLNK, Self.sameFile(after, seen, checkDevice) else { return .changed }
        return .id(id)
    }

    /// The blob id of bytes in memory, by this hasher's hash.
    func blobID(_ bytes: UnsafeRawBufferPointer) -> ObjectID? { Self.blobID(bytes, fast: fast) }

    /// The blob id of bytes in memory for a comparison (never for what is written to a
    /// repository): plain SHA-1 on a CPU with the SHA extensions, else SHA1DC. A registry load
    /// names each patch file's content by it (1,000 files: 4% of a record with SHA1DC).
    static func comparisonID(_ bytes: [UInt8]) -> ObjectID? {
        bytes.withUnsafeBytes { blobID($0, fast: fastAvailable) }
    }

    private static func blobID(_ bytes: UnsafeRawBufferPointer, fast: Bool) -> ObjectID? {
        guard fast else { return try? ObjectID.hashBlob(raw: bytes) }
        var ctx = pk_sha1_ctx()
        pk_sha1_init(&ctx)
        withUnsafeTemporaryAllocation(byteCount: 32, alignment: 1) { h in
            let n = Self.header(size: bytes.count, into: h.baseAddress!)
            pk_sha1_update(&ctx, h.baseAddress!, n)
        }
        if let base = bytes.baseAddress { pk_sha1_update(&ctx, base, bytes.count) }
        return Self.finish(&ctx)
    }

    /// Writes git's blob header "blob SIZE\0" at `out` (at most 26 bytes); its length.
    private static func header(size: Int, into out: UnsafeMutableRawPointer) -> Int {
        let p = out.assumingMemoryBound(to: UInt8.self)
        for (i, c) in "blob ".utf8.enumerated() { p[i] = c }
        var digits = 0
        var v = size
        repeat { digits += 1; v /= 10 } while v > 0
        v = size
        for i in stride(from: 5 + digits - 1, through: 5, by: -1) {
            p[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
        }
        p[5 + digits] = 0
        return 5 + digits + 1
    }

    private static func finish(_ ctx: inout pk_sha1_ctx) -> ObjectID {
        withUnsafeTemporaryAllocation(byteCount: 20, alignment: 1) { out in
            pk_sha1_final(&ctx, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
            return ObjectID(raw: UnsafeRawBufferPointer(out))
        }
    }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        buffer.deallocate()
        capacity = max(n, capacity * 2)
        buffer = .allocate(byteCount: capacity, alignment: 64)
    }

    /// The same file, unchanged: device, inode, size, mtime and ctime as the walk saw them.
    static func sameFile(_ a: stat, _ b: stat, _ checkDevice: Bool) -> Bool {
        (!checkDevice || a.st_dev == b.st_dev) && a.st_ino == b.st_ino && a.st_size == b.st_size
            && a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec
            && a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec
    }
}

/// Hashers for the threads of one walk or hashing pass: each worker takes one for the span of
/// its work and gives it back, so a few buffers serve hundreds of directories.
final class BlobHasherPool: @unchecked Sendable {
    // Guarded by `lock`; a hasher taken out is used by its taker alone until it is given back.
    private let lock = PlainLock()
    private var free: [BlobHasher] = []

    func take() -> BlobHasher {
        lock.lock()
        defer { lock.unlock() }
        return free.popLast() ?? BlobHasher()
    }

    func give(_ hasher: BlobHasher) {
        lock.lock()
        defer { lock.unlock() }
        free.append(hasher)
    }

    func with<T>(_ body: (BlobHasher) -> T) -> T {
        let h = take()
        defer { give(h) }
        return body(h)
    }
}
