#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// `resolve`: after reapply reported a conflict and the admin fixed the live file by hand, keeps
/// that patch: rebases it onto the deployed revision from the live files (preimage: the deployed
/// content with the earlier active patches on that path, as reapply computed it; postimage: the
/// live file), keeping its id, owner, ticket and expiry, adding `Resolved-By`/`Resolved-At`,
/// in one registry commit.
public enum Resolver {
    public static func resolve(id: String, by: Person?, now: Date = Date(), lockWait: Double = 0,
                               deployment: Deployment, registry: Registry) throws -> PatchFile {
        let lock = try registry.lock(wait: lockWait)
        defer { withExtendedLifetime(lock) {} }
        let all = try registry.load()
        var patch = try registry.find(id, in: all)
        guard patch.status == .active else {
            throw PatchKeeperError("patch \(patch.id) is \(patch.status.rawValue), not active", hint: "only an active patch can be resolved")
        }
        let active = all.filter { $0.status == .active }
        let rev = deployment.revision
        var decider = try PatchDecider(repository: deployment.repository, registry: registry, target: rev, targetLabel: "deployed \(rev.short)", lockHeld: true)
        decider.deploys = { [deployment] in deployment.rootRelative(forRepoPath: $0) != nil }
        let decisions = try decider.decide(active)
        guard let index = decisions.firstIndex(where: { $0.patch.id == patch.id }) else {
            throw PatchKeeperError("patch \(patch.id) is not among the active patches")
        }
        let mine = decisions[index]
        // Only a patch that does not reapply needs a hand fix; for any other, the live file's
        // difference from what reapply makes is unregistered drift, which must not be folded in.
        guard mine.result == .conflicts || mine.result == .removed else {
            throw PatchKeeperError("patch \(patch.id) \(mine.result == .upstreamed ? "is upstreamed in" : "reapplies cleanly onto") deployed revision \(rev.short): nothing to resolve",
                                   hint: "run 'patchkeeper reapply'; record any other change to its files as a patch of its own ('patchkeeper scan' lists them)")
        }
        let paths = Set(mine.files.map(\.path))
        // A later active patch on the same file would be folded into this one.
        for later in decisions[(index + 1)...] where later.files.contains(where: { paths.contains($0.path) || paths.contains($0.file.path) }) {
            throw PatchKeeperError("patch \(later.patch.id) also changes \(later.files.map(\.path).filter(paths.contains).first ?? "its file"), after \(patch.id)",
                                   hint: "resolving \(patch.id) from the live file would absorb \(later.patch.id): retire \(later.patch.id), resolve \(patch.id), then record \(later.patch.id)'s change again")
        }
        var changes: [FileChange] = []
        var dropped: [String] = []  // files still at the deployed content, whose change would be lost
        for f in mine.files {
            // The preimage: the target's file as the chain has it before this patch.
            if let blocker = f.detail.flatMap({ $0.hasPrefix("stacked on patch ") ? $0 : nil }) {
                throw PatchKeeperError("\(f.path): \(blocker)", hint: "resolve or retire the earlier patch first")
            }
            let pre = try decider.source.version(f.path, f.input)
            guard let rel = deployment.rootRelative(forRepoPath: f.path) else {
                throw PatchKeeperError("\(f.path) lies outside the root's subdirectory \(deployment.subdir)")
            }
            let checked = try SafePath.checked(rel, root: deployment.root, source: "patch \(patch.fileName): path")
            let live = try deployment.liveFile(rootRelative: checked)
            if let live, live.content.starts(with: Array("<<<<<<<".utf8)) || live.content.contains(subsequence: Array("\n<<<<<<< ".utf8)) {
                throw PatchKeeperError("\(deployment.root)/\(checked) still has conflict markers", hint: "finish the merge by hand first")
            }
            if pre != live {
                changes.append(FileChange(old: pre, new: live))
            } else if f.result != .upstreamed {
                dropped.append(checked)
            }
        }
        if changes.isEmpty {
            throw PatchKeeperError("the live files of patch \(patch.id) equal deployed revision \(rev.short) (with the earlier patches): nothing to keep",
                                   hint: "edit the live file to carry the fix, or 'patchkeeper retire \(patch.id)' if it is no longer needed")
        }
        if let first = dropped.first {
            // reapply wrote none of this patch's files: one left at the deployed content would
            // silently drop the patch's change there.
            throw PatchKeeperError("\(deployment.root)/\(first) does not carry patch \(patch.id): it is at deployed revision \(rev.short) (reapply wrote none of the patch's files)",
                                   hint: "carry the patch's change in that file too, then resolve again; or 'patchkeeper retire \(patch.id)' and record what is still needed")
        }
        let made: (diff: String, stat: String)
        do { made = try MemoryRepository().makePatch(changes.sorted { $0.path < $1.path }) } catch let e as GitError {
            throw PatchKeeperError("cannot rebuild patch \(patch.id): \(e.message)")
        }
        let who = by ?? Person.current()
        patch.fromLine = "From \(rev.hex) Mon Sep 17 00:00:00 2001"
        patch.setTrailer("Base", rev.hex)
        patch.setTrailer("Resolved-By", who.formatted)
        patch.setTrailer("Resolved-At", Text.isoTimestamp(now))
        patch.tail = made.stat + "\n" + made.diff
        try registry.keepImages(of: changes, now: now)
        try registry.save(patch, action: "resolve", reason: "resolved by hand onto deployed revision \(rev.short)", author: who, now: now)
        return patch
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence s: [UInt8]) -> Bool {
        guard !s.isEmpty, s.count <= count else { return false }
        var i = 0
        while i + s.count <= count {
            if self[i] == s[0], self[i..<(i + s.count)].elementsEqual(s) { return true }
            i += 1
        }
        return false
    }
}
