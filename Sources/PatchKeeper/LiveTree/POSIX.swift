#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin helpers over POSIX calls the library needs, with errno turned into readable text.
enum POSIX {
    static func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// An error from FileManager as a line: the system's text for the errno under it ("No such
    /// file or directory"), what Foundation's `localizedDescription` said less precisely.
    static func errorText(_ error: any Error) -> String {
        if let posix = error as? POSIXError { return errorText(posix.code.rawValue) }
        if let cocoa = error as? CocoaError, let posix = cocoa.underlying as? POSIXError { return errorText(posix.code.rawValue) }
        return "\(error)"
    }

    /// The soft limit on open descriptors (RLIMIT_NOFILE); 1,024 when it cannot be read.
    static func descriptorLimit() -> Int {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 1024 }
        let soft = UInt64(limit.rlim_cur)
        return soft >= UInt64(Int32.max) ? Int(Int32.max) : Int(soft)
    }

    static func lstat(_ path: String) -> stat? {
        var st = stat()
        return Glibc.lstat(path, &st) == 0 ? st : nil
    }

    static func isDirectory(_ path: String) -> Bool {
        guard let real = realPath(path), let st = lstat(real) else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool { lstat(path) != nil }

    /// Opens a regular file for reading without ever blocking in `open` (O_NONBLOCK: a FIFO
    /// someone put there would wait for a writer forever) or following a final symlink, and checks
    /// the type on the descriptor, so a swap after a `stat` cannot slip a FIFO or device in.
    /// Returns the descriptor and its stat data; the caller closes it.
    static func openRegular(_ path: String) throws -> (fd: Int32, stat: stat) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            throw PatchKeeperError("cannot read \(path): \(code == ELOOP ? "it is a symlink" : errorText(code))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            close(fd)
            throw PatchKeeperError("cannot read \(path): \(errorText(code))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
            errno = isDirectory ? EISDIR : EINVAL
            throw PatchKeeperError("cannot read \(path): \(isDirectory ? errorText(EISDIR) : "not a regular file (\(kindName(st.st_mode)))")")
        }
        return (fd, st)
    }

    /// "a FIFO", "a directory", ... for messages.
    static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFDIR: return "a directory"
        case S_IFLNK: return "a symlink"
        case S_IFREG: return "a regular file"
        default: return "an unknown kind of file"
        }
    }

    /// The largest file read whole by default (config, journal, registry files, REVISION).
    static let defaultReadLimit = 64 << 20

    /// Reads a regular file whole. Refuses a symlink at `path`, anything that is not a regular
    /// file (never blocks on a FIFO), and a file over `limit` bytes before reading any of it.
    /// `label` goes before the path in messages ("patch ").
    static func readFile(_ path: String, limit: Int = defaultReadLimit, label: String = "") throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            throw PatchKeeperError("cannot read \(label)\(path): \(code == ELOOP ? "it is a symlink" : errorText(code))")
        }
        defer { close(fd) }
        return try readDescriptor(fd, path: label + path, limit: limit).bytes
    }

    /// The first `count` bytes (fewer when the file is shorter) of the regular file at `path`,
    /// opened as `readFile` opens it (no symlink followed, no FIFO waited on).
    static func readFilePrefix(_ path: String, count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw PatchKeeperError("cannot read \(path): \(errorText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw PatchKeeperError("cannot read \(path): not a regular file") }
        var out = [UInt8](repeating: 0, count: min(count, Int(st.st_size)))
        var got = 0
        while got < out.count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, $0.count - got, off_t(got)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            got += n
        }
        return Array(out[..<got])
    }

    /// Reads an open descriptor whole after `fstat`: it must be a regular file of at most `limit`
    /// bytes (checked before reading, and again while reading in case it grows).
    static func readDescriptor(_ fd: Int32, path: String, limit: Int) throws -> (bytes: [UInt8], stat: stat) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw PatchKeeperError("cannot read \(path): \(errorText())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw PatchKeeperError("cannot read \(path): \((st.st_mode & S_IFMT) == S_IFDIR ? errorText(EISDIR) : "not a regular file")")
        }
        if Int(st.st_size) > limit { throw tooBig(path, size: Int(st.st_size), limit: limit) }
        // Blocking reads from here on (the open was O_NONBLOCK only so that a FIFO could not hang it).
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        // Read straight into the array (no copy through a chunk): the size fstat gave plus one
        // byte, to see that it ended there; a file still growing goes on in chunks.
        let expected = Int(st.st_size)
        var failure: Int32 = 0
        var out = [UInt8](unsafeUninitializedCapacity: expected + 1) { buf, initialized in
            var got = 0
            while got < buf.count {
                let n = read(fd, buf.baseAddress! + got, buf.count - got)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                got += n
            }
            initialized = got
        }
        if failure != 0 { throw PatchKeeperError("cannot read \(path): \(errorText(failure))") }
        if out.count > limit { throw tooBig(path, size: out.count, limit: limit) }
        if out.count <= expected { return (out, st) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw PatchKeeperError("cannot read \(path): \(errorText())")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw tooBig(path, size: out.count, limit: limit) }
        }
        return (out, st)
    }

    static func tooBig(_ path: String, size: Int, limit: Int) -> PatchKeeperError {
        let mib = { (n: Int) in n >= 1 << 20 ? "\(n >> 20) MiB" : "\(n) bytes" }
        return PatchKeeperError("\(path) is \(mib(size)), more than patchkeeper reads (\(mib(limit))); nothing was read",
                                hint: "hot patches are small edits: ship big files with a deploy")
    }

    static func readLink(_ path: String) throws -> [UInt8] {
        var buf = [Int8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, buf.count - 1)
        guard n >= 0 else { throw PatchKeeperError("cannot read link \(path): \(errorText())") }
        return buf[0..<n].map { UInt8(bitPattern: $0) }
    }

    /// `mkdir -p` with the given mode for directories it creates.
    static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectory(path) { return }
        let parent = parentDirectory(path)
        if parent != path && !parent.isEmpty { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw PatchKeeperError("cannot create directory \(path): \(errorText())")
        }
    }

    /// Removes a directory tree (links are removed, never followed); silent when absent.
    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    // By the `/` byte: a `/` followed by a combining mark is one Character, and a search for the
    // Character "/" missed it (the "base name" then still held a slash; see `slashParts`).
    static func parentDirectory(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        if slash == path.utf8.startIndex { return "/" }
        return String(Substring(path.utf8[..<slash]))
    }

    static func baseName(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(Substring(path.utf8[path.utf8.index(after: slash)...]))
    }

    static func currentDirectory() -> String {
        var buf = [Int8](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else { return "/" }
        return string(fromNulTerminated: buf)
    }

    /// The canonical absolute path (symlinks resolved), or nil if it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    static func string(fromNulTerminated buf: [Int8]) -> String {
        let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func userName() -> String {
        if let sudo = getenv("SUDO_USER").map({ String(cString: $0) }), !sudo.isEmpty { return sudo }
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid\(getuid())"
    }

    static func hostName() -> String {
        var buf = [Int8](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
        return string(fromNulTerminated: buf)
    }
}
