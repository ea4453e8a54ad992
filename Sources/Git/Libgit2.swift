import CLibgit2

/// Process-wide libgit2 set-up: initialised once, never shut down (as git2-rs does).
enum Libgit2 {
    /// Initialises libgit2 and cuts it off from the user's and system's git configuration, so a
    /// `~/.gitconfig` can change neither results nor tests.
    static let ready: Bool = {
        git_libgit2_init()
        for level in [GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL, GIT_CONFIG_LEVEL_PROGRAMDATA] {
            _ = pk_git_set_search_path(level.rawValue, "")
        }
        // Bounded memory on big repositories: 8 MiB pack windows, 64 MiB mapped at most.
        _ = pk_git_limit_memory(8 << 20, 64 << 20)
        return true
    }()

    static func ensure() { _ = ready }

    static func enableObjectCache(_ maxBytes: Int) { _ = pk_git_enable_cache(maxBytes) }

    /// Runs `body` without re-hashing every object read, as git reads: for walks over thousands
    /// of commits and trees, where hashing each is most of the cost. Anyone who can write the
    /// repository's objects can write honest commits too, so this widens nothing.
    static func withoutHashVerification<T>(_ body: () throws -> T) rethrows -> T {
        _ = pk_git_verify_object_hashes(0)
        defer { _ = pk_git_verify_object_hashes(1) }
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

    /// The libgit2 version linked at run time, e.g. "1.5.1".
    public static var libgit2Version: String {
        var major: Int32 = 0, minor: Int32 = 0, rev: Int32 = 0
        git_libgit2_version(&major, &minor, &rev)
        return "\(major).\(minor).\(rev)"
    }
}
