#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One file-like entry of the live tree, with the stat data the cache keys on.
struct LiveEntry: Sendable {
    enum Kind: UInt8, Sendable { case regular, executable, symlink, other }
    var path: String          // root-relative
    var kind: Kind
    var size: Int64
    var mtime: Int64          // ns
    var ctime: Int64          // ns
    var inode: UInt64
}

/// Walks the live tree with `openat`/`fstatat` (no symlink is followed, no path re-resolved),
/// asking `descend` before entering each directory.
struct LiveWalker {
    var root: String
    /// Root-relative paths never looked at (the registry inside root, REVISION, ...).
    var skip: Set<String>
    var descend: (String) -> Bool

    struct Problem: Sendable, Equatable {
        var path: String
        var message: String
    }

    func walk(_ visit: (LiveEntry) -> Void) -> [Problem] {
        var problems: [Problem] = []
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return [Problem(path: root, message: "cannot open: \(POSIX.errorText())")] }
        walkDirectory(fd: fd, rel: "", visit: visit, problems: &problems)
        return problems
    }

    private func walkDirectory(fd: Int32, rel: String, visit: (LiveEntry) -> Void, problems: inout [Problem]) {
        guard let dir = fdopendir(fd) else {
            close(fd)
            problems.append(Problem(path: rel, message: "cannot list: \(POSIX.errorText())"))
            return
        }
        defer { closedir(dir) }
        var subdirs: [String] = []
        while let ent = readdir(dir) {
            let nameBytes = withUnsafeBytes(of: ent.pointee.d_name) { raw -> [UInt8] in
                Array(raw.prefix { $0 != 0 })
            }
            if nameBytes == [46] || nameBytes == [46, 46] { continue }
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                let shown = String(decoding: nameBytes, as: UTF8.self)
                problems.append(Problem(path: rel.isEmpty ? shown : rel + "/" + shown, message: "file name is not UTF-8; not compared"))
                continue
            }
            let path = rel.isEmpty ? name : rel + "/" + name
            if skip.contains(path) { continue }
            var st = stat()
            if fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                if errno != ENOENT { problems.append(Problem(path: path, message: "cannot stat: \(POSIX.errorText())")) }
                continue
            }
            let type = st.st_mode & S_IFMT
            if type == S_IFDIR {
                if name == ".git" { continue }
                subdirs.append(name)
                continue
            }
            let kind: LiveEntry.Kind
            switch type {
            case S_IFREG: kind = (st.st_mode & 0o100) != 0 ? .executable : .regular
            case S_IFLNK: kind = .symlink
            default: kind = .other
            }
            visit(LiveEntry(path: path, kind: kind, size: Int64(st.st_size),
                            mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                            ctime: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec),
                            inode: UInt64(st.st_ino)))
        }
        for name in subdirs {
            let path = rel.isEmpty ? name : rel + "/" + name
            guard descend(path) else { continue }
            let sub = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard sub >= 0 else {
                problems.append(Problem(path: path, message: "cannot open directory: \(POSIX.errorText())"))
                continue
            }
            walkDirectory(fd: sub, rel: path, visit: visit, problems: &problems)
        }
    }
}
