#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
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
            /// Not applied: a live file it touches is neither at the deployed revision nor
            /// carries the patch (a half-finished deploy, or an unregistered edit): nothing written.
            case refused
        }
        public var id: String
        public var title: String
        public var action: Action
        public var rule: String?
        public var written: [String]
        public var conflicts: [GateReport.FileResult]
        /// The rebased patch's diff (what `--dry-run` shows).
        public var diff: String?
        /// Why a patch was refused, or a warning.
        public var detail: String?
        /// The patch's job was done (live files written, registry commit made) but a step after
        /// it failed (the registry index's write, the journal's removal): what failed and what
        /// to do. The run is trouble (exit 2), not a refusal.
        public var trouble: String?
    }

    let deployment: Deployment
    let registry: Registry

    public init(deployment: Deployment, registry: Registry) {
        self.deployment = deployment
        self.registry = registry
    }

    /// Decides every active patch against the deployed revision with `PatchDecider` (what
    /// `gate --target` said before the deploy), then per patch: checks that each live file it
    /// touches holds the chain's content before it (the deployed revision, or the earlier
    /// patches on that path) or already carries it, writes the merge results (all files of the
    /// patch or none), and rebases it as "target → merge result". A patch that cannot be done
    /// is reported and the others still proceed.
    public func run(dryRun: Bool, lockWait: Double, now: Date = Date()) throws -> [Outcome] {
        let lock = try registry.lock(wait: lockWait)
        defer { withExtendedLifetime(lock) {} }
        let rev = deployment.revision
        let patches = try registry.load().filter { $0.status == .active }
        // Every patch file it may write, checked before anything is written (a dry run says the
        // same): a refusal in the middle would leave the patches planned on top of the refused
        // one half done. A hand edit in the registry blocks the whole reapply, as it blocks gate.
        for p in patches { try registry.refuseUnwritable(p.fileName, action: "reapply") }
        var decider = try PatchDecider(repository: deployment.repository, registry: registry, target: rev,
                                       targetLabel: "deployed \(rev.short)", lockHeld: true)
        decider.deploys = { [deployment] in deployment.rootRelative(forRepoPath: $0) != nil }
        let decisions = try decider.decide(patches)
        let source = decider.source

        // Every content a path takes along the chain, in order, to tell how far a live file got.
        var chain: [PathKey: [Image?]] = [:]  // by bytes: café and cafe\u{301} are two files
        var position: [PathKey: Int] = [:]  // "id path" → index of that patch's output in chain[path]
        for d in decisions where d.result != .conflicts && d.result != .removed {
            for f in d.files {
                if chain[PathKey(f.path)] == nil { chain[PathKey(f.path)] = [f.input] }
                chain[PathKey(f.path)]!.append(f.output)
                position[PathKey(d.patch.id + " " + f.path)] = chain[PathKey(f.path)]!.count - 1
            }
        }
        var live: [PathKey: Image?] = [:]  // repo path → live content, as read or as written
        var notApplied: [PathKey: [String]] = [:]  // repo path → the patches on it not applied in this run
        func liveImage(_ path: String) throws -> Image?? {
            if let known = live[PathKey(path)] { return .some(known) }
            guard let rel = deployment.rootRelative(forRepoPath: path) else { return .none }
            let v: FileVersion?
            do { v = try deployment.liveFile(rootRelative: rel) } catch { return .none }
            let img = try v.map { Image(id: try source.add($0.content), mode: $0.mode) }
            live[PathKey(path)] = img
            return .some(img)
        }

        /// A journaled job that was done and committed when a step after it failed: the outcome
        /// stands, with the failure as its `trouble` (never called refused: its writes were made).
        func noteDone(_ outcome: inout Outcome, _ e: PatchKeeperError) {
            outcome.trouble = e.description
        }
        func doneDespite(_ outcome: inout Outcome, _ body: () throws -> Void) throws {
            do { try body() } catch let e as PatchKeeperError where e.jobDone { noteDone(&outcome, e) }
        }

        /// When `current` is an earlier step of the chain on `path` than this patch's output: the
        /// patch whose output comes next there, if it was not applied in this run.
        func notAppliedBefore(_ path: String, current: Image?, outIdx: Int, steps: [Image?]) -> String? {
            guard let at = steps.lastIndex(where: { $0 == current }), at < outIdx else { return nil }
            return notApplied[PathKey(path)]?.first { (position[PathKey($0 + " " + path)] ?? -1) == at + 1 }
        }

        /// One patch; an error is that patch's failure, not the run's.
        func handle(_ d: PatchDecider.Decision) throws -> Outcome {
            var patch = d.patch
            var outcome = Outcome(id: patch.id, title: patch.subject, action: .unchanged, written: [], conflicts: [])
            switch d.result {
            case .conflicts, .removed:
                outcome.action = d.result == .removed ? .removed : .conflicts
                outcome.conflicts = DeployGate.result(d).files.filter { $0.result == .conflicts || $0.result == .removed }
                return outcome
            case .upstreamed:
                // The deployed revision carries it: so must the live files (REVISION alone, which
                // a half-finished deploy or the app's user may have written, proves nothing).
                for f in d.files {
                    guard let rel = deployment.rootRelative(forRepoPath: f.path) else { continue }
                    let steps = chain[PathKey(f.path)] ?? [f.input, f.output]
                    let outIdx = position[PathKey(d.patch.id + " " + f.path)] ?? steps.count - 1
                    let found = try liveImage(f.path)
                    if case .some(let current) = found,
                       current == f.output || (steps.lastIndex(where: { $0 == current }).map { $0 > outIdx } ?? false) { continue }
                    outcome.action = .refused
                    if case .some(let current) = found, let earlier = notAppliedBefore(f.path, current: current, outIdx: outIdx, steps: steps) {
                        outcome.detail = "\(deployment.root)/\(rel) does not carry patch \(earlier), which this patch builds on and which was not applied (see above): "
                            + "fix what stopped \(earlier), then run reapply again"
                        return outcome
                    }
                    outcome.detail = "\(deployment.root)/\(rel) is not at deployed revision \(rev.short), which carries the patch "
                        + "(a deploy not finished, REVISION naming the wrong revision, or an unregistered edit); "
                        + "finish the deploy, or record the unregistered change first"
                    return outcome
                }
                let rule = d.rule.map { r in d.commit.map { "\(r) \($0.hex)" } ?? r } ?? "content"
                outcome.action = .upstreamed
                outcome.rule = rule
                if !dryRun {
                    patch.setTrailer("Status", PatchFile.Status.upstreamed.rawValue)
                    patch.setTrailer("Upstreamed-In", rev.hex)
                    patch.setTrailer("Upstreamed-By", rule)
                    try doneDespite(&outcome) {
                        try registry.save(patch, action: "upstreamed", reason: "contained in deployed revision \(rev.short) (\(rule))",
                                          author: Person.current(), now: now)
                    }
                }
                return outcome
            case .reapplies, .reappliesRenamed:
                break
            }

            // Where is each live file on the chain?
            var writes: [(rel: String, before: FileVersion?, after: FileVersion?)] = []
            var changes: [FileChange] = []
            var refusal: String?
            for f in d.files {
                guard let rel = deployment.rootRelative(forRepoPath: f.path),
                      let checked = try? SafePath.checked(rel, root: deployment.root, source: "patch \(patch.fileName): path") else {
                    refusal = "\(f.path) lies outside the root \(deployment.root)"
                    break
                }
                do { try deployment.refuseRegistryPath(checked, registry: registry) } catch {
                    refusal = "\(error)"
                    break
                }
                guard case .some(let current) = try liveImage(f.path) else {
                    refusal = "\(deployment.root)/\(checked) cannot be read (a directory, or not a regular file or link)"
                    break
                }
                let steps = chain[PathKey(f.path)] ?? [f.input, f.output]
                let outIdx = position[PathKey(d.patch.id + " " + f.path)] ?? steps.count - 1
                if current == f.output {
                    // Already carries it.
                } else if current == f.input {
                    // Written in working-tree form; rolled back to the bytes that were there.
                    let before = try deployment.rawLiveFile(rootRelative: checked)
                    let after = try deployment.workingTreeForm(try source.version(f.path, f.output))
                    writes.append((checked, before, after))
                } else if steps.lastIndex(where: { $0 == current }).map({ $0 > outIdx }) ?? false {
                    // Already carries it and later patches on that path.
                } else if let earlier = notAppliedBefore(f.path, current: current, outIdx: outIdx, steps: steps) {
                    // At an earlier step of the chain: the patch whose output comes next on this
                    // file was not applied in this run, and this one builds on it.
                    refusal = "\(deployment.root)/\(checked) does not carry patch \(earlier), which this patch builds on and which was not applied (see above): "
                        + "fix what stopped \(earlier), then run reapply again"
                    break
                } else {
                    refusal = "\(deployment.root)/\(checked) is neither at deployed revision \(rev.short) nor carries the patch "
                        + "(a deploy not finished, REVISION naming the wrong revision, or an unregistered edit); "
                        + "finish the deploy, or record the unregistered change first"
                    break
                }
                // The rebased patch: the target's content (the chain so far) → the merge result.
                if f.renamedFrom != nil || f.input != f.output {
                    changes.append(FileChange(old: try source.version(f.path, f.input),
                                              new: try source.version(f.path, f.output)))
                }
            }
            if let refusal {
                outcome.action = .refused
                outcome.detail = refusal
                return outcome
            }
            if changes.isEmpty {
                // Everything it changes is already in the deployed files (the decider said so
                // per file): upstreamed.
                outcome.action = .upstreamed
                outcome.rule = "content"
                if !dryRun {
                    patch.setTrailer("Status", PatchFile.Status.upstreamed.rawValue)
                    patch.setTrailer("Upstreamed-In", rev.hex)
                    patch.setTrailer("Upstreamed-By", "content")
                    try doneDespite(&outcome) {
                        try registry.save(patch, action: "upstreamed", reason: "contained in deployed revision \(rev.short)", author: Person.current(), now: now)
                    }
                }
                return outcome
            }
            let rebased = try rebase(patch, onto: rev, changes: changes)
            outcome.diff = rebased.diffText
            outcome.written = writes.map(\.rel)
            let sameDiff = rebased.diffText == patch.diffText && patch.base == rev
            outcome.action = !writes.isEmpty ? .reapplied : sameDiff ? .unchanged : .rebased
            if patch.isExpired(now: now) { outcome.detail = "expired on \(patch.expires ?? "?"): retire it, or change its expiry" }
            let written = d.files.filter { f in writes.contains(where: { deployment.repoPath(forRootRelative: $0.rel).utf8.elementsEqual(f.path.utf8) }) }
            for f in written { live[PathKey(f.path)] = .some(f.output) }
            if dryRun || outcome.action == .unchanged {
                return outcome
            }
            do {
                try registry.keepImages(of: changes, now: now)
                try registry.runJournaled(Journal(action: "reapply", root: deployment.root, writes: writes.map { ($0.rel, $0.after) },
                                                  patch: rebased, reason: "rebased onto deployed revision \(rev.short)",
                                                  author: Person.current(), now: now),
                                          previous: writes.map { ($0.rel, $0.before) })
            } catch let e as PatchKeeperError where e.jobDone {
                noteDone(&outcome, e)
                return outcome
            } catch {
                // Not done: its live files went back (or were left as someone else changed
                // them). What the next patch on those paths starts from is read again, never
                // taken as this one's output (review: a later patch wrote the refused one's change).
                for f in written { live[PathKey(f.path)] = nil }
                throw error
            }
            return outcome
        }

        var outcomes: [Outcome] = []
        for d in decisions {
            do {
                outcomes.append(try handle(d))
            } catch {
                var o = Outcome(id: d.patch.id, title: d.patch.subject, action: .refused, written: [], conflicts: [])
                o.detail = "\(error)"
                outcomes.append(o)
            }
            if let last = outcomes.last, [.refused, .conflicts, .removed].contains(last.action) {
                for f in d.files { notApplied[PathKey(f.path), default: []].append(d.patch.id) }
            }
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
