#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Files in the registry's state directory (`.patchkeeper/`: the journal, the last scan, the
/// summary's stamp, the patch-id cache, the fleet state), read and written only through the
/// directory's verified descriptor (`stateDirectoryHandle`), by name, never through a link.
/// Root may run over a registry whose root directory another user owns (`--trust-repo`): that
/// user can rename `.patchkeeper` and put a link in its place at any moment, and a path would
/// then send root's lock, reads and writes wherever the link points.
extension Registry {
    /// The state directory for reading: the writer's (verified for this user) when open,
    /// otherwise verified without the owner check (a `--trust-repo` reader); nil when there is
    /// none or it cannot be entered.
    func stateForReading() -> DirectoryHandle? {
        if let owned = ownedState {
            if isCurrentStateDirectory(owned) { return owned }
            // Moved away while locked: nothing in its replacement is read (its owner may be
            // anyone). Otherwise it is verified again, owner included, as it was before.
            if heldLock != nil { return nil }
            return try? stateDirectoryHandle(create: false)
        }
        if let open = readableState, isCurrentStateDirectory(open) { return open }
        readableState = try? Self.verifiedStateDirectory(registry: path, create: false, requireOwner: false)
        return readableState
    }

    /// The bytes of the regular file `name` in the state directory, or nil (missing, a link or
    /// anything but a regular file, larger than `limit`, unreadable).
    func readStateFile(_ name: String, limit: Int = POSIX.defaultReadLimit) -> [UInt8]? {
        guard let dir = stateForReading(), dir.status(name) != nil else { return nil }
        return try? dir.readFile(name, limit: limit).bytes
    }

    /// `lstat` of `name` in the state directory.
    func stateFileStatus(_ name: String) -> stat? { stateForReading()?.status(name) }

    /// Replaces `name` in the state directory (verified for this user, created when missing):
    /// `durable` files (the journal, the fleet state) are fsync'd, derived ones (caches, the
    /// last scan) are not.
    func writeStateFile(_ name: String, _ bytes: [UInt8], durable: Bool) throws {
        guard let dir = try stateDirectoryHandle(create: true) else { throw PatchKeeperError("cannot create \(stateDirectory)") }
        try dir.replaceFile(name, with: bytes, newMode: 0o600, displayPath: stateDirectory + "/" + name, durable: durable)
    }

    /// Removes the file `name` from the state directory (nothing when there is no directory).
    /// `written`: the file was written by this process into the directory it holds the lock in
    /// (the journal); it goes from there even if that directory was moved away since, as the
    /// job it describes is done (review: a journal left behind made the rollback of a committed
    /// job undo its live files).
    func removeStateFile(_ name: String, written: Bool = false) throws {
        if written, heldLock != nil, let held = ownedState {
            try held.remove(name)
            return
        }
        guard let dir = try stateDirectoryHandle(create: false) else { return }
        try dir.remove(name)
    }
}
