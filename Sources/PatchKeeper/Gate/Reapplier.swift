import Foundation
import Git

/// `reapply`: after a deploy, puts each active patch back onto the live tree with a 3-way merge,
/// rebases it onto the new deployed revision, marks upstreamed ones, and leaves conflicting ones
/// untouched. All files of a patch are written, or none.
public struct Reapplier {
    public struct Outcome: Sendable {
        public enum Action: String, Sendable, Codable {
            /// Merged onto the live files and rebased.
            case reapplied
            /// The live files already carried it; only rebased onto the new revision.
            case rebased
            /// Already based on the deployed revision and applied: nothing to do.
            case unchanged
            /// The deployed revision contains it; marked `Status: upstreamed`.
            case upstreamed
            /// Not applied: the merge conflicts (nothing written).
            case conflicts
            /// Not applied: a file it changes no longer exists (nothing written).
            case removed
        }
        public var id: String
        public var title: String
        public var action: Action
        public var rule: String?
        public var written: [String]
        public var conflicts: [GateReport.FileResult]
        /// The rebased patch's diff (what `--dry-run` shows).
        public var diff: String?
    }

    let deployment: Deployment
    let registry: Registry

    public init(deployment: Deployment, registry: Registry) {
        self.deployment = deployment
        self.registry = registry
    }

    public func run(dryRun: Bool, lockWait: Double, now: Date = Date()) throws -> [Outcome] {
        let lock = try registry.lock(wait: lockWait)
        defer { withExtendedLifetime(lock) {} }
        let repo = deployment.repository
        let rev = deployment.revision
        let deployedTree = try repo.tree(of: rev)
        let projection = PatchProjection(repository: repo)
        var upstream = UpstreamIndex(repository: repo, target: rev)
        var outcomes: [Outcome] = []
        let liveFile = { (path: String) -> FileVersion? in
            guard let rel = deployment.rootRelative(forRepoPath: path) else { return nil }
            return (try? deployment.liveFile(rootRelative: rel)).flatMap { $0 }.map { FileVersion(path: path, mode: $0.mode, content: $0.content) }
        }
        for var patch in try registry.load().filter({ $0.status == .active }) {
            var outcome = Outcome(id: patch.id, title: patch.subject, action: .unchanged, written: [], conflicts: [])
            let base = patch.base.flatMap { try? repo.tree(of: $0) }
            let renames = try upstream.renames(from: patch.base)
            var rule: String?
            if let (r, commit) = try upstream.match(patch) {
                rule = "\(r) \(commit.hex)"
            } else {
                // Against the deployed revision: is it upstream, gone, or in conflict?
                let planned = try projection.plan(patch, other: { try deployedTree.file($0) }, live: liveFile, renames: renames, base: base)
                let gate = DeployGate.summarize(patch, planned)
                switch gate.result {
                case .upstreamed: rule = "content"
                case .removed, .conflicts:
                    outcome.action = gate.result == .removed ? .removed : .conflicts
                    outcome.conflicts = gate.files.filter { $0.result == .removed || $0.result == .conflicts }
                    outcomes.append(outcome)
                    continue
                case .reapplies, .reappliesRenamed: break
                }
            }
            if let rule {
                outcome.action = .upstreamed
                outcome.rule = rule
                if !dryRun {
                    patch.setTrailer("Status", PatchFile.Status.upstreamed.rawValue)
                    patch.setTrailer("Upstreamed-In", rev.hex)
                    patch.setTrailer("Upstreamed-By", rule)
                    try registry.save(patch, action: "upstreamed", reason: "contained in deployed revision \(rev.short) (\(rule))",
                                      author: Person.current(), now: now)
                }
                outcomes.append(outcome)
                continue
            }

            // Merge onto the live files.
            let plans = try projection.plan(patch, other: liveFile, live: liveFile, renames: renames, base: base)
            let conflicting = plans.filter {
                if case .conflicts = $0.outcome { return true }
                return $0.outcome == .removed
            }
            if !conflicting.isEmpty {
                outcome.action = .conflicts
                outcome.conflicts = DeployGate.summarize(patch, conflicting).files
                outcomes.append(outcome)
                continue
            }
            var writes: [(rel: String, before: FileVersion?, after: FileVersion?)] = []
            var changes: [FileChange] = []
            for plan in plans {
                let live = liveFile(plan.path)
                let final: FileVersion?
                if plan.outcome == .upstreamed {
                    final = live  // the live file already carries the change
                } else {
                    final = plan.merged
                    if final != live, let rel = deployment.rootRelative(forRepoPath: plan.path) {
                        writes.append((try SafePath.checked(rel, root: deployment.root, source: "patch \(patch.fileName): path"), live, final))
                    }
                }
                let deployedVersion = try deployedTree.file(plan.path)
                if deployedVersion != final { changes.append(FileChange(old: deployedVersion, new: final)) }
            }
            if changes.isEmpty {
                // Everything it changed is already in the deployed revision's files.
                outcome.action = .upstreamed
                outcome.rule = "content"
                if !dryRun {
                    patch.setTrailer("Status", PatchFile.Status.upstreamed.rawValue)
                    patch.setTrailer("Upstreamed-In", rev.hex)
                    patch.setTrailer("Upstreamed-By", "content")
                    try registry.save(patch, action: "upstreamed", reason: "contained in deployed revision \(rev.short)", author: Person.current(), now: now)
                }
                outcomes.append(outcome)
                continue
            }
            let rebased = try rebase(patch, onto: rev, changes: changes)
            outcome.diff = rebased.diffText
            outcome.written = writes.map(\.rel)
            let sameDiff = rebased.diffText == patch.diffText && patch.base == rev
            outcome.action = !writes.isEmpty ? .reapplied : sameDiff ? .unchanged : .rebased
            if dryRun || outcome.action == .unchanged {
                outcomes.append(outcome)
                continue
            }
            try registry.runJournaled(Journal(action: "reapply", root: deployment.root, writes: writes.map { ($0.rel, $0.after) },
                                              patch: rebased, reason: "rebased onto deployed revision \(rev.short)",
                                              author: Person.current(), now: now),
                                      previous: writes.map { ($0.rel, $0.before) })
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// The same patch (metadata, trailers) with a new Base and a diff regenerated against it.
    func rebase(_ patch: PatchFile, onto rev: ObjectID, changes: [FileChange]) throws -> PatchFile {
        let made: (diff: String, stat: String)
        do { made = try MemoryRepository().makePatch(changes.sorted { $0.path < $1.path }) } catch let e as GitError {
            throw PatchKeeperError("cannot rebuild patch \(patch.id): \(e.message)")
        }
        var p = patch
        p.fromLine = "From \(rev.hex) Mon Sep 17 00:00:00 2001"
        p.setTrailer("Base", rev.hex)
        p.tail = made.stat + "\n" + made.diff
        return p
    }
}
