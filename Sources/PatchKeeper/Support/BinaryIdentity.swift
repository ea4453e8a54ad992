import Foundation

/// Which executable is running, for caches that hold what *this* binary's checks decided
/// (`validated`, `headers`): the running file's device, inode, size and modification time. An
/// upgrade, a rebuild or another toolchain (the Swift runtime is linked in, and with it the
/// Unicode rules `PatchFile.parse` reads by) gives another identity, and their records are read
/// as none: a check made stricter never meets a file an older binary let through.
/// nil when `/proc/self/exe` cannot be read: those caches are then neither read nor written.
enum BinaryIdentity {
    static let current: String? = {
        var st = stat()
        guard fstatat(AT_FDCWD, "/proc/self/exe", &st, 0) == 0 else { return nil }
        return "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }()
}
