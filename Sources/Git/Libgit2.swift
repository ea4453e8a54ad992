import CLibgit2
import CTLSDefer

/// Process-wide libgit2 set-up: initialised once, never shut down (as git2-rs does).
enum Libgit2 {
    /// Initialises libgit2 and cuts it off from the user's and system's git configuration, so a
    /// `~/.gitconfig` can change neither results nor tests.
    static let ready: Bool = {
        // The CA bundle is parsed only when a remote needs it (`loadCertificates`).
        pk_tls_defer_begin()
        git_libgit2_init()
        pk_tls_defer_end()
        for level in [GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL, GIT_CONFIG_LEVEL_PROGRAMDATA] {
            _ = pk_git_set_search_path(level.rawValue, "")
        }
        // Bounded memory on big repositories: 8 MiB pack windows, 64 MiB mapped at most.
        _ = pk_git_limit_memory(8 << 20, 64 << 20)
        return true
    }()

    static func ensure() { _ = ready }

    /// Hands libgit2 the CA bundle its init was kept from parsing (mbedTLS builds). Called
    /// before every remote operation; until then https verification fails, never passes.
    static let certificatesLoaded: Bool = {
        ensure()
        guard let file = pk_tls_deferred_file() else { return true }
        return pk_git_set_cert_file(file) == 0
    }()

    static func loadCertificates() { _ = certificatesLoaded }

    static func enableObjectCache(_ maxBytes: Int) { _ = pk_git_enable_cache(maxBytes) }

    /// Runs `body` without re-hashing every object read, as git reads: for walks over thousands
    /// of commits and trees, where hashing each is most of the cost. Anyone who can write the
    /// repository's objects can write honest commits too, so this widens nothing.
    static func withoutHashVerification<T>(_ body: () throws -> T) rethrows -> T {
        _ = pk_git_verify_object_hashes(0)
        defer { _ = pk_git_verify_object_hashes(1) }
        return try body()
    }

    /// Runs `body` without libgit2 reading each tree entry's object header to check it (see
    /// `Repository.requireObjects`, which checks that every entry exists instead).
    static func withoutStrictCreation<T>(_ body: () throws -> T) rethrows -> T {
        _ = pk_git_strict_object_creation(0)
        defer { _ = pk_git_strict_object_creation(1) }
        return try body()
    }
}

/// Library-wide switches.
public enum GitSettings {
    /// Accept repositories owned by another user (libgit2's safe.directory check).
    /// The CLI turns this on only for `--trust-repo` or a config `trusted = true`.
    public static func setOwnerValidation(_ enabled: Bool) {
        Libgit2.ensure()
        _ = pk_git_set_owner_validation(enabled ? 1 : 0)
    }

    /// Turns on libgit2's object cache, bounded to `maxBytes` (it is off for scans, which read
    /// each tree once): for work that reads the same trees again, such as looking up a thousand
    /// paths in one target tree. The history walk turns on the same bound.
    public static func enableObjectCache(maxBytes: Int) {
        Libgit2.ensure()
        Libgit2.enableObjectCache(maxBytes)
    }

    /// The object cache on, trees up to `treeLimit` bytes cached too (libgit2 keeps none over
    /// 4 KiB): for a registry write, which reads the registry's root tree and the image store's
    /// tree (each tens of KB at 1,000 patches) five to eight times. Not for scans or gates over
    /// big trees: what it caches stays until the process ends, up to `maxBytes`.
    public static func cacheLargeTrees(maxBytes: Int, treeLimit: Int) {
        Libgit2.ensure()
        _ = pk_git_cache_large_trees(maxBytes, treeLimit)
    }

    /// Objects read from here on are not hashed again to check their ids (libgit2's default;
    /// git reads without it, and zlib's own checksum still catches a damaged loose object): for
    /// a registry write, which re-hashed its 70 KB root tree at each of four reads (10% of a
    /// record's instructions at 1,000 patches). Anyone who can write the repository's objects can
    /// write honest ones too, so this widens nothing; what is written is hashed as before.
    public static func readWithoutRehash() {
        Libgit2.ensure()
        _ = pk_git_verify_object_hashes(0)
    }

    /// The libgit2 version linked at run time, e.g. "1.5.1".
    public static var libgit2Version: String {
        var major: Int32 = 0, minor: Int32 = 0, rev: Int32 = 0
        git_libgit2_version(&major, &minor, &rev)
        return "\(major).\(minor).\(rev)"
    }
}

/// What the deferred CA loading did (see Sources/CTLSDefer/tls_defer.c), for tests and `--verbose`.
public enum CertificateLoading {
    /// The bundle libgit2's init asked for and was kept from parsing, nil when nothing was
    /// deferred (libgit2 built without mbedTLS, or no bundle on the system).
    public static var deferredFile: String? {
        Libgit2.ensure()
        return pk_tls_deferred_file().map { String(cString: $0) }
    }

    /// Bundles really parsed so far in this process.
    public static var parses: Int { Int(pk_tls_real_parses()) }

    /// Loads the deferred bundle (once); true when libgit2 accepted it or nothing was deferred.
    public static func load() -> Bool {
        Libgit2.loadCertificates()
        return Libgit2.certificatesLoaded
    }
}
