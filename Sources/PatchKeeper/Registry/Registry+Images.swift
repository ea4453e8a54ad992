#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// The registry is self-sufficient: for every file a patch touches it keeps the exact pre- and
/// postimage blobs in its own object database, reachable from the branch `patchkeeper-images`
/// (each blob named by its id, in a directory named by the id's first two hex digits), so clone,
/// push and gc keep them. gate and
/// reapply rebuild patches from these, never from a live file.
extension Registry {
    public static let imagesRef = "refs/heads/patchkeeper-images"

    /// Stores `contents` as blobs and keeps them reachable. Call with the lock held.
    func keepImages(_ contents: [[UInt8]], now: Date) throws {
        if contents.isEmpty { return }
        do {
            var ids = Set<ObjectID>()
            for c in contents { ids.insert(try repository.writeBlob(c)) }
            let who = Person.current()
            try repository.keepBlobs(ids, ref: Self.imagesRef, message: "Keep patch images\n",
                                     signature: Signature(name: who.name, email: who.email, time: Int64(now.timeIntervalSince1970)))
        } catch let e as GitError {
            throw PatchKeeperError("cannot store patch images in the registry \(path): \(e.message)",
                                   hint: "check free space and the registry repository with 'git -C \(path) status'")
        }
    }

    /// The images of `changes` (both sides of every file).
    func keepImages(of changes: [FileChange], now: Date) throws {
        try keepImages(changes.flatMap { [$0.old?.content, $0.new?.content].compactMap { $0 } }, now: now)
    }

    /// Whether the registry's own object database holds this blob.
    func hasImage(_ id: ObjectID) -> Bool { id == ObjectID.emptyBlob || repository.contains(id) }

    /// What cannot be rebuilt from the registry and the app repository: one line per file, for
    /// scan to report before a deploy makes it too late. `live` may supply a live file's content
    /// whose id matches a missing postimage; it is then kept (the upgrade of a registry written
    /// before images existed), so this is called with the lock held when `live` is given.
    func missingImages(_ patches: [PatchFile], repository app: Repository, live: ((String) -> [UInt8]?)?, now: Date) -> [(PatchFile, String)] {
        let source = BlobSource([repository, app])
        var recorded: [PathKey: Image] = [:]
        var missing: [(PatchFile, String)] = []
        var kept: [[UInt8]] = []
        let bases = BaseTrees(app)
        for p in patches {
            let base = p.base.flatMap { bases.tree($0) }
            guard let images = try? PatchImages.images(of: p, source: source, recorded: &recorded, base: base) else { continue }
            for (f, img) in images {
                if img != nil { continue }
                if let live, !f.newID.isZero, let bytes = live(f.newPath), (try? ObjectID.hashBlob(bytes)) == f.newID {
                    kept.append(bytes)
                    _ = try? source.add(bytes)
                    if PatchImages.images(of: f, source: source, recorded: recorded, base: base) != nil { continue }
                }
                missing.append((p, f.path))
            }
        }
        // Everything rebuilt from hunks or the app repository goes into the registry too, so it
        // no longer depends on the app repository keeping old objects.
        if live != nil {
            for p in patches {
                for f in (try? p.files()) ?? [] {
                    for id in [f.oldID, f.newID] where !id.isZero && !hasImage(id) {
                        if let bytes = source.content(id) { kept.append(bytes) }
                    }
                }
            }
            try? keepImages(kept, now: now)
        }
        return missing
    }

    /// Upgrades a registry written before images existed (and tops up any gap): keeps every
    /// image that the app repository, the hunks or a live file carrying the patch (checked by
    /// id) can still give. Call with the lock held; best effort.
    /// Runs once per registry: when nothing stays missing, `.patchkeeper/images-complete` says so
    /// and later writes skip it (every patch written since keeps its own images; scan still
    /// reports any patch that cannot be rebuilt).
    func upgradeImages(_ active: [PatchFile], deployment: Deployment, now: Date) {
        if stateFileStatus("images-complete") != nil { return }
        let missing = missingImages(active, repository: deployment.repository, live: { path in
            guard let rel = deployment.rootRelative(forRepoPath: path) else { return nil }
            return (try? deployment.liveFile(rootRelative: rel))??.content
        }, now: now)
        if missing.isEmpty { try? writeStateFile("images-complete", Array("images kept for every active patch\n".utf8), durable: true) }
    }

    /// Patch-ids of app commits computed by earlier gates and reapplies (a cache: unreadable or
    /// malformed content just costs a recomputation).
    func patchIDCache() -> PatchIDCache {
        guard let bytes = readStateFile("patchids"), let text = String(validating: bytes, as: UTF8.self) else { return PatchIDCache() }
        return PatchIDCache(text: text)
    }

    /// Best effort: skipped when another writer holds the lock (`gate` takes no lock otherwise).
    func savePatchIDCache(_ cache: PatchIDCache?, lockHeld: Bool) {
        guard let cache, cache.added > 0 else { return }
        if lockHeld {
            try? writeStateFile("patchids", Array(cache.text.utf8), durable: false)
        } else if let lock = try? self.lock(wait: 0, recover: false) {
            try? writeStateFile("patchids", Array(cache.text.utf8), durable: false)
            withExtendedLifetime(lock) {}
        }
    }

    /// Registry patch files with uncommitted changes (edited by hand, or left by a copy): reported
    /// by scan, list and status, never silently trusted as history. Throws when the registry's
    /// status cannot be read (an index libgit2 cannot parse: a split or sparse index written by
    /// the git CLI): an unchecked registry is reported, never taken for a clean one.
    public func handEdits() throws -> [String] {
        do {
            // A file holding HEAD's bytes is not edited: only the index is behind (an index
            // write that failed after its commit; `recover` says how to bring it up to HEAD).
            return try repository.dirtyPaths().filter { $0.hasSuffix(".patch") && !holdsHEAD($0) }.sorted()
        } catch let e as GitError {
            throw PatchKeeperError("cannot check the registry \(path) for uncommitted changes: \(e.message)",
                                   hint: "check it with 'git -C \(path) status'; 'git -C \(path) update-index --no-split-index' undoes a split index")
        }
    }
}
