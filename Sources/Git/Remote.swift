import CLibgit2
#if canImport(Glibc)
import Glibc
#endif

/// What a fetch transferred (libgit2's indexer statistics).
public struct FetchStats: Sendable, Equatable {
    public var receivedObjects: Int
    public var receivedBytes: Int
    /// Local references deleted because the remote no longer has them.
    public var pruned: Int
}

/// A reference and the object it points at.
public struct ReferenceTarget: Sendable, Equatable {
    public var name: String
    public var id: ObjectID
}

extension Repository {
    /// Pushes `refspecs` (`+src:dst`) to the remote at `url` (a path, `file://`, or `ssh://`):
    /// an anonymous remote, so the repository's config is neither read for remotes nor written.
    /// Throws when the transport fails or the remote rejects any reference (a server-side hook
    /// refusing a namespace, a non-fast-forward without `+`).
    public func push(url: String, refspecs: [String], auth: RemoteAuth = RemoteAuth()) throws {
        Libgit2.ensure()
        try Self.refuseUnpinnedSSH(url, auth)
        var remote: OpaquePointer?
        Libgit2.loadCertificates()
        try check(git_remote_create_anonymous(&remote, handle, url), "open remote \(url)")
        defer { git_remote_free(remote) }
        var opts = git_push_options()
        try check(git_push_options_init(&opts, UInt32(GIT_PUSH_OPTIONS_VERSION)), "push options")
        let status = RemoteCallbackState(auth: auth)
        status.install(&opts.callbacks)
        do {
            _ = try withStrArray(refspecs) { arr in
                try check(git_remote_push(remote, &arr, &opts), "push to \(url)")
            }
        } catch let e as GitError {
            throw status.hostKeyProblem.map { GitError(code: e.code, errorClass: e.errorClass, message: $0, operation: e.operation) } ?? e
        }
        withExtendedLifetime(status) {}
        if let (ref, why) = status.rejected.first {
            throw GitError(code: -1, message: "the remote refused \(ref): \(why)" + (status.rejected.count > 1 ? " (and \(status.rejected.count - 1) more)" : ""),
                           operation: "push to \(url)")
        }
    }

    /// Fetches `refspecs` from the remote at `url` into this repository (an anonymous remote: no
    /// config is written). With `prunePrefix`, local references under it that the remote no
    /// longer advertises are deleted afterwards (a decommissioned host disappears).
    ///
    /// `checkAdvertised`, when given, sees the names of the references the remote advertises
    /// after connecting and before anything is downloaded, and may throw to refuse the fetch (a
    /// hostile remote with 300,000 refs).
    @discardableResult
    public func fetch(url: String, refspecs: [String], prunePrefix: String? = nil, auth: RemoteAuth = RemoteAuth(),
                      checkAdvertised: ((_ names: [String]) throws -> Void)? = nil) throws -> FetchStats {
        Libgit2.ensure()
        try Self.refuseUnpinnedSSH(url, auth)
        var remote: OpaquePointer?
        Libgit2.loadCertificates()
        try check(git_remote_create_anonymous(&remote, handle, url), "open remote \(url)")
        defer { git_remote_free(remote) }
        var opts = git_fetch_options()
        try check(git_fetch_options_init(&opts, UInt32(GIT_FETCH_OPTIONS_VERSION)), "fetch options")
        opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
        opts.update_fetchhead = 0
        let status = RemoteCallbackState(auth: auth)
        status.install(&opts.callbacks)
        // Only references that exist before the fetch can need pruning after it (the fetch
        // creates only advertised ones): read them now, while they are few or packed, instead of
        // every loose file the fetch writes.
        let before = try prunePrefix.map { try references(prefix: $0) } ?? []
        // The object cache and no re-hashing of every object read (as git reads): a local fetch of
        // a thousand hosts walked the same trees again and again. The indexer still computes the
        // id of everything it writes here.
        Libgit2.enableObjectCache(64 << 20)
        do {
            if let checkAdvertised {
                // Connected here, git_remote_fetch below reuses the connection.
                try check(git_remote_connect(remote, GIT_DIRECTION_FETCH, &opts.callbacks, nil, nil), "connect to \(url)")
                var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
                var count = 0
                try check(git_remote_ls(&heads, &count, remote), "list \(url)")
                var names: [String] = []
                names.reserveCapacity(count)
                for i in 0..<count { if let h = heads?[i] { names.append(String(cString: h.pointee.name)) } }
                do { try checkAdvertised(names) } catch {
                    git_remote_disconnect(remote)
                    throw error
                }
            }
            _ = try Libgit2.withoutHashVerification {
                try withStrArray(refspecs) { arr in
                    try check(git_remote_fetch(remote, &arr, &opts, nil), "fetch from \(url)")
                }
            }
        } catch let e as GitError {
            throw status.hostKeyProblem.map { GitError(code: e.code, errorClass: e.errorClass, message: $0, operation: e.operation) } ?? e
        }
        withExtendedLifetime(status) {}
        var stats = FetchStats(receivedObjects: 0, receivedBytes: 0, pruned: 0)
        if let p = git_remote_stats(remote)?.pointee {
            stats.receivedObjects = Int(p.received_objects)
            stats.receivedBytes = Int(p.received_bytes)
        }
        if let prunePrefix {
            var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
            var count = 0
            try check(git_remote_ls(&heads, &count, remote), "list \(url)")
            var advertised = Set<String>()
            for i in 0..<count { if let h = heads?[i] { advertised.insert(String(cString: h.pointee.name)) } }
            for r in before where r.name.hasPrefix(prunePrefix) && !advertised.contains(r.name) {
                try deleteReference(r.name)
                stats.pruned += 1
            }
        }
        return stats
    }

    /// `fetch` into a repository that has no references at all, with the references it creates
    /// written and packed in a scratch repository under `stagingParent` (a tmpfs such as
    /// /dev/shm) that uses this repository's object database: the objects go straight here
    /// (libgit2's indexer writes one pack), and of the references this repository receives only
    /// the `packed-refs` file libgit2 wrote there. libgit2's own path writes one loose file per
    /// reference (a lock file each, and a directory per name level), then a lock file per
    /// reference again to pack them: for a fleet of 1,000 hosts 8,000 inodes allocated and
    /// 6,000 freed, most of a first fetch's system time on ext4.
    ///
    /// Falls back to the plain `fetch` (and packs afterwards) when this repository has any
    /// reference, no directory can be made in `stagingParent` (on a disk it still works, it only
    /// saves less), `stagingParent` has less room than `stagingBytesPerRef` twice per advertised
    /// reference plus 64 MiB, or the staged fetch fails for any reason but a refusal by
    /// `checkAdvertised` (which is final). The result is the same either way:
    /// the fetched references, packed. Refspecs must map into this repository's refs/ as usual.
    @discardableResult
    public func fetchIntoEmpty(url: String, refspecs: [String], auth: RemoteAuth = RemoteAuth(), stagingParent: String = "/dev/shm",
                               stagingBytesPerRef: Double = 8192,
                               checkAdvertised: ((_ names: [String]) throws -> Void)? = nil) throws -> FetchStats {
        let plain = { () throws -> FetchStats in
            let stats = try self.fetch(url: url, refspecs: refspecs, auth: auth, checkAdvertised: checkAdvertised)
            try self.packReferences()
            return stats
        }
        var template = Array((stagingParent + "/patchkeeper-fetch-XXXXXX").utf8CString)
        guard try referenceNames().allSatisfy({ !$0.hasPrefix("refs/") }),
              Self.stagingParentIsSafe(stagingParent),
              let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return try plain() }
        let staging = String(cString: made)
        defer { Self.removeStaging(staging) }
        var refused = false
        let check: ([String]) throws -> Void = { names in
            do { try checkAdvertised?(names) } catch { refused = true; throw error }
            // A tmpfs keeps each staged ref file in a page of memory: with too little room (a small
            // /dev/shm in a container), the plain way.
            var fs = statvfs()
            guard statvfs(staging, &fs) == 0,
                  Double(fs.f_bavail) * Double(fs.f_frsize) >= Double(names.count) * stagingBytesPerRef * 2 + Double(64 << 20) else {
                throw StagingUnusable()
            }
        }
        do {
            return try stagedFetch(into: staging, url: url, refspecs: refspecs, auth: auth, checkAdvertised: check)
        } catch where refused {
            throw error
        } catch {
            // Staging failed (no room, a local write error, or the remote: then the plain fetch
            // fails the same way and says so). Objects it already brought are not fetched again.
            return try plain()
        }
    }

    private struct StagingUnusable: Error {}

    private func stagedFetch(into staging: String, url: String, refspecs: [String], auth: RemoteAuth,
                             checkAdvertised: @escaping ([String]) throws -> Void) throws -> FetchStats {
        let scratch = try Repository.create(atPath: staging, bare: true)
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, handle), "open object database")
        defer { git_odb_free(odb) }
        try check(git_repository_set_odb(scratch.handle, odb), "share object database")
        let stats = try scratch.fetch(url: url, refspecs: refspecs, auth: auth, checkAdvertised: checkAdvertised)
        try scratch.packReferences()
        let packed = staging + "/packed-refs"
        let fd = Glibc.open(packed, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return stats }      // nothing fetched: no references to place
            throw GitError(code: -1, message: "cannot read \(packed): \(String(cString: strerror(errno)))", operation: "fetch from \(url)")
        }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { bytes += buf[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            let failed = n < 0
            close(fd)
            if failed { throw GitError(code: -1, message: "cannot read \(packed): \(String(cString: strerror(errno)))", operation: "fetch from \(url)") }
            break
        }
        try installPackedRefs(bytes)
        return stats
    }

    /// Writes `bytes` as this repository's `packed-refs` the way libgit2 does: under
    /// `packed-refs.lock` (created exclusively: a concurrent writer makes this fail), renamed over.
    func installPackedRefs(_ bytes: [UInt8]) throws {
        let dir = String(cString: git_repository_path(handle))
        let target = dir + (dir.hasSuffix("/") ? "" : "/") + "packed-refs"
        let lock = target + ".lock"
        let fd = Glibc.open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GitError(code: -1, message: "cannot lock \(target): \(String(cString: strerror(errno)))", operation: "pack references") }
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let why = String(cString: strerror(errno))
                close(fd); unlink(lock)
                throw GitError(code: -1, message: "cannot write \(lock): \(why)", operation: "pack references")
            }
            off += n
        }
        if close(fd) != 0 || rename(lock, target) != 0 {
            let why = String(cString: strerror(errno))
            unlink(lock)
            throw GitError(code: -1, message: "cannot write \(target): \(why)", operation: "pack references")
        }
    }

    /// Whether a directory made in `parent` stays ours: `parent` is a directory owned by root or
    /// by us, and nobody else can write it, or it has the sticky bit (as /dev/shm and /tmp do),
    /// so that nobody else can rename or remove what we make there. In a directory others can
    /// write without the sticky bit, our 0700 directory could be renamed away and a symlink put
    /// in its place between mkdtemp and libgit2's writes (root would write, and remove, through it).
    static func stagingParentIsSafe(_ parent: String) -> Bool {
        var st = stat()
        guard stat(parent, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return false }
        guard st.st_uid == 0 || st.st_uid == geteuid() else { return false }
        return st.st_mode & 0o022 == 0 || st.st_mode & S_ISVTX != 0
    }

    /// Removes the staging repository (made by us, under a 0700 directory of ours): depth first,
    /// on directory descriptors, never following a symbolic link (not even `path` itself: a link
    /// there is left alone, and nothing it points to is removed).
    static func removeStaging(_ path: String) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        removeContents(of: fd)
        rmdir(path)
    }

    /// Removes everything in the directory open on `fd` (which it closes), below it first.
    private static func removeContents(of fd: Int32) {
        guard let dir = fdopendir(fd) else { close(fd); return }
        defer { closedir(dir) }
        var children: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { children.append(name) }
        }
        for c in children {
            let sub = openat(dirfd(dir), c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if sub >= 0 {
                removeContents(of: sub)
                unlinkat(dirfd(dir), c, AT_REMOVEDIR)
            } else {
                unlinkat(dirfd(dir), c, 0)
            }
        }
    }

    /// libgit2 1.5 checks no known_hosts file: an ssh remote is only used with a pinned host key.
    static func refuseUnpinnedSSH(_ url: String, _ auth: RemoteAuth) throws {
        if RemoteAuth.isSSH(url), auth.hostKeySHA256 == nil {
            throw GitError(code: -1, message: "no ssh host key pinned for \(url): libgit2 1.5 does not check known_hosts, so the server's key must be given (SHA256:... as 'ssh-keygen -lf' prints it)",
                           operation: "connect to \(url)")
        }
    }

    /// Every reference whose name starts with `prefix` (e.g. "refs/patchkeeper/"), sorted by name.
    /// Symbolic references are skipped.
    public func references(prefix: String) throws -> [ReferenceTarget] {
        var iter: OpaquePointer?
        try check(git_reference_iterator_glob_new(&iter, handle, prefix + "*"), "list references")
        defer { git_reference_iterator_free(iter) }
        var out: [ReferenceTarget] = []
        var ref: OpaquePointer?
        while true {
            let rc = git_reference_next(&ref, iter)
            if rc == GIT_ITEROVER.rawValue { git_error_clear(); break }
            try check(rc, "list references")
            defer { git_reference_free(ref) }
            guard git_reference_type(ref) == GIT_REFERENCE_DIRECT, let oid = git_reference_target(ref) else { continue }
            out.append(ReferenceTarget(name: String(cString: git_reference_name(ref)), id: ObjectID(oid.pointee)))
        }
        return out.sorted { $0.name < $1.name }
    }

    /// Packs loose references into `packed-refs` (libgit2's `git_refdb_compress`): thousands of
    /// fetched refs are then one file to read instead of thousands.
    public func packReferences() throws {
        var refdb: OpaquePointer?
        try check(git_repository_refdb(&refdb, handle), "open reference database")
        defer { git_refdb_free(refdb) }
        try check(git_refdb_compress(refdb), "pack references")
    }

    /// The object a reference points at, nil when there is no such reference.
    public func reference(_ name: String) throws -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, handle, name)
        if rc == GIT_ENOTFOUND.rawValue { git_error_clear(); return nil }
        try check(rc, "read \(name)")
        return ObjectID(oid)
    }

    /// Points `name` at `id` (created or moved).
    public func setReference(_ name: String, to id: ObjectID) throws {
        var ref: OpaquePointer?
        var oid = id.raw
        try check(git_reference_create(&ref, handle, name, &oid, 1, nil), "update \(name)")
        git_reference_free(ref)
    }

    public func deleteReference(_ name: String) throws {
        var ref: OpaquePointer?
        let rc = git_reference_lookup(&ref, handle, name)
        if rc == GIT_ENOTFOUND.rawValue { git_error_clear(); return }
        try check(rc, "read \(name)")
        defer { git_reference_free(ref) }
        try check(git_reference_delete(ref), "delete \(name)")
    }

    /// Writes a tree of blob entries (one level; names must not contain '/').
    public func writeTree(_ entries: [(name: String, id: ObjectID, mode: UInt32)]) throws -> ObjectID {
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, handle, nil), "build tree")
        defer { git_treebuilder_free(builder) }
        for e in entries {
            var oid = e.id.raw
            try check(git_treebuilder_insert(nil, builder, e.name, &oid, git_filemode_t(rawValue: e.mode)), "add \(e.name) to a tree")
        }
        var out = git_oid()
        try check(git_treebuilder_write(&out, builder), "write tree")
        return ObjectID(out)
    }

    /// Top-level entries of a tree: name, id, raw mode.
    public func treeEntries(tree id: ObjectID) throws -> [(name: String, id: ObjectID, mode: UInt32)] {
        var tree: OpaquePointer?
        var oid = id.raw
        try check(git_tree_lookup(&tree, handle, &oid), "read tree \(id.short)")
        defer { git_tree_free(tree) }
        var out: [(name: String, id: ObjectID, mode: UInt32)] = []
        for i in 0..<git_tree_entrycount(tree) {
            guard let e = git_tree_entry_byindex(tree, i) else { continue }
            out.append((String(cString: git_tree_entry_name(e)), ObjectID(git_tree_entry_id(e).pointee), git_tree_entry_filemode(e).rawValue))
        }
        return out
    }

    /// The tree of a commit.
    public func treeID(ofCommit id: ObjectID) throws -> ObjectID {
        var c: OpaquePointer?
        var oid = id.raw
        try check(git_commit_lookup(&c, handle, &oid), "look up commit \(id.short)")
        defer { git_commit_free(c) }
        return ObjectID(git_commit_tree_id(c).pointee)
    }

    /// Writes a commit of `tree` with `parents`, updating no reference.
    public func writeCommit(tree: ObjectID, parents: [ObjectID], message: String, author: Signature, committer: Signature) throws -> ObjectID {
        var t: OpaquePointer?
        var toid = tree.raw
        try check(git_tree_lookup(&t, handle, &toid), "read tree \(tree.short)")
        defer { git_tree_free(t) }
        var ps: [OpaquePointer?] = []
        defer { for p in ps { git_commit_free(p) } }
        for p in parents {
            var c: OpaquePointer?
            var oid = p.raw
            try check(git_commit_lookup(&c, handle, &oid), "look up commit \(p.short)")
            ps.append(c)
        }
        let a = try makeSignature(author)
        defer { git_signature_free(a) }
        let c = try makeSignature(committer)
        defer { git_signature_free(c) }
        var out = git_oid()
        _ = try ps.withUnsafeMutableBufferPointer { buf in
            try check(git_commit_create(&out, handle, nil, a, c, "UTF-8", message, t, buf.count, buf.baseAddress), "write commit")
        }
        return ObjectID(out)
    }

    /// The object's type is a blob and its size at most `limit`: its bytes; else nil.
    public func boundedBlob(_ id: ObjectID, limit: Int) -> [UInt8]? {
        guard let size = objectSize(id), size <= limit else { return nil }
        return try? blob(id)
    }
}

/// Runs `body` with a `git_strarray` of `strings` (valid only inside).
func withStrArray<T>(_ strings: [String], _ body: (inout git_strarray) throws -> T) rethrows -> T {
    var cStrings: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { for p in cStrings { free(p) } }
    return try cStrings.withUnsafeMutableBufferPointer { buf in
        var arr = git_strarray(strings: buf.baseAddress, count: buf.count)
        return try body(&arr)
    }
}
