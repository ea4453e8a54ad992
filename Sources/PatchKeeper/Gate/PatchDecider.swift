#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// The one decision procedure behind `gate` and `reapply`: what each active patch becomes on a
/// target tree. gate runs it against the revision about to be deployed; reapply runs it against
/// the deployed revision and then writes what it decided, so both give the same answer.
///
/// Patches on one path are chained in registry order: patch k merges onto the result of
/// patches 1…k-1 there. Per file, a 3-way merge with base = the patch's preimage, ours = its
/// postimage, theirs = the target (or the chain so far):
/// - clean, and the result equals the target → `upstreamed`;
/// - clean, and the result differs → `reapplies`, whatever history says;
/// - conflict, and upstream evidence (a commit in Base..REV with the patch's patch-id, or the
///   `Commit:` trailer an ancestor of REV, and no later commit with the reverse patch-id) →
///   `upstreamed` (upstream took the fix and changed those lines again);
/// - conflict otherwise → `conflicts`;
/// - the file is gone: renamed only where git's own score (≥ 50%) confirms libgit2's rename →
///   `reapplies-renamed` or `conflicts` there; otherwise `removed`, with the most similar new file
///   as a hint. Binary files and type changes are never merged: they reapply only onto their
///   exact preimage.
struct PatchDecider {
    struct FileDecision {
        var file: ParsedFilePatch
        /// Where the change lands on the target (differs from `file.path` after a rename).
        var path: String
        var renamedFrom: String?
        var result: GateReport.Result
        /// The target's file before this patch (the chain so far); nil = absent.
        var input: Image?
        /// After this patch (reapplies and upstreamed); nil = absent.
        var output: Image?
        var detail: String?
        var conflicts: [String] = []
        /// The conflict is a failed 3-way merge of text (upstream evidence may overrule it).
        var mergeConflict = false
    }

    struct Decision {
        var patch: PatchFile
        var result: GateReport.Result
        var rule: String?
        var commit: ObjectID?
        var files: [FileDecision]
    }

    let repository: Repository
    let source: BlobSource
    let target: ObjectID
    let targetTree: Tree
    var upstream: UpstreamIndex
    /// Labels for conflict regions: the target's name (e.g. "v2 (a1b2c3d)").
    let targetLabel: String
    /// Whether a repository path is part of the deployed tree (under the app's subdirectory): a
    /// rename to anywhere else takes the file out of the root, where nothing can reapply it.
    var deploys: (String) -> Bool = { _ in true }

    init(repository: Repository, registry: Registry, target: ObjectID, targetLabel: String, lockHeld: Bool = false) throws {
        // Every patch's path is looked up in the target tree (and its directories are shared
        // between patches): keep the trees read, within the bound the history walk uses.
        GitSettings.enableObjectCache(maxBytes: 32 << 20)
        self.repository = repository
        self.source = BlobSource([registry.repository, repository])
        self.target = target
        self.targetTree = try repository.tree(of: target)
        self.upstream = UpstreamIndex(repository: repository, target: target, cache: registry.patchIDCache())
        self.targetLabel = targetLabel
        self.registry = registry
        self.lockHeld = lockHeld
    }

    /// nil for `fleet gate`, which reads images from the fleet cache and keeps no patch-id cache.
    private let registry: Registry?
    private let lockHeld: Bool

    /// For `fleet gate`: images come from `images` (the fleet cache) and the app repository.
    init(repository: Repository, images: Repository, target: ObjectID, targetLabel: String) throws {
        self.repository = repository
        self.source = BlobSource([images, repository])
        self.target = target
        self.targetTree = try repository.tree(of: target)
        self.upstream = UpstreamIndex(repository: repository, target: target, cache: PatchIDCache())
        self.targetLabel = targetLabel
        self.registry = nil
        self.lockHeld = false
    }

    private enum Slot {
        case absent
        case directory
        /// A file (or link) where the path needs a directory: at this ancestor path.
        case fileInTheWay(String)
        case file(Image)
    }

    /// Decides every patch, in registry order.
    mutating func decide(_ patches: [PatchFile]) throws -> [Decision] {
        defer { registry?.savePatchIDCache(upstream.cache, lockHeld: lockHeld) }
        upstream.paths = Set(try patches.flatMap { try $0.touchedPaths() })
        var chain: [PathKey: Slot] = [:]       // path (by bytes) → the chain's current content
        var blockedBy: [PathKey: String] = [:]  // path → the id of a patch that does not reapply
        var recorded: [PathKey: Image] = [:]    // path → the last recorded postimage (registry order)
        let baseTrees = BaseTrees(repository)
        var out: [Decision] = []
        for patch in patches {
            let base = patch.base.flatMap { baseTrees.tree($0) }
            let images = try PatchImages.images(of: patch, source: source, recorded: &recorded, base: base)
            var files: [FileDecision] = []
            for (f, img) in images {
                var path = f.path
                var renamedFrom: String?
                var movedAway: String?
                var slot = try current(path, chain)
                // A deletion follows a rename too: deleting the old path of a file the target
                // moved leaves the file in place (git: a rename/delete conflict).
                if case .absent = slot, f.status != .added {
                    if let moved = try upstream.renames(from: patch.base, source: source)[f.path] {
                        if deploys(moved) {
                            renamedFrom = f.path
                            path = moved
                            slot = try current(path, chain)
                        } else {
                            movedAway = moved
                        }
                    }
                }
                var d = FileDecision(file: f, path: path, renamedFrom: renamedFrom, result: .conflicts, input: nil, output: nil)
                if case .file(let i) = slot { d.input = i }
                if let by = blockedBy[PathKey(path)] ?? blockedBy[PathKey(f.path)] {
                    d.detail = "stacked on patch \(by), which does not reapply here"
                } else if let img, let why = handEdited(f, img, patch: patch) {
                    d.detail = why
                } else if let img {
                    decide(&d, img, slot: slot, patch: patch, base: patch.base)
                    if let movedAway, d.result == .removed {
                        d.detail = "the target moved it to \(movedAway), outside the deployed tree"
                    }
                } else {
                    d.detail = "its content cannot be rebuilt from the registry (the pre- or postimage blob is missing); "
                        + "run 'patchkeeper scan' while the live file still carries it, or record it again"
                    if let made = TreeScanner.hunksMake(f, repository: repository), made != f.newID {
                        d.detail = "\(Text.singleLine(patch.fileName)) says it makes blob \(f.newID.short) but its hunks make \(made.short) (edited by hand?); re-record the patch"
                    }
                }
                files.append(d)
            }
            var decision = Decision(patch: patch, result: Self.summary(files.map(\.result)), files: files)
            if decision.files.contains(where: { $0.result == .conflicts }) {
                // Upstream evidence turns a conflict into `upstreamed`: the fix is in the target's
                // history and nothing later took it out again.
                if let (rule, commit) = try upstream.evidence(patch, images: images, source: source) {
                    for i in decision.files.indices where decision.files[i].mergeConflict {
                        decision.files[i].result = .upstreamed
                        decision.files[i].output = decision.files[i].input
                        decision.files[i].conflicts = []
                        decision.files[i].mergeConflict = false
                        decision.files[i].detail = "\(rule) \(commit.short) is in the target's history; the target changed these lines again"
                    }
                    decision.result = Self.summary(decision.files.map(\.result))
                    if decision.result == .upstreamed { decision.rule = rule; decision.commit = commit }
                }
            }
            if decision.result == .upstreamed, decision.rule == nil {
                decision.rule = "content"
                if let (rule, commit) = try upstream.match(patch) { decision.rule = rule; decision.commit = commit }
            }
            if decision.result == .conflicts || decision.result == .removed {
                for f in decision.files { blockedBy[PathKey(f.path)] = patch.id; blockedBy[PathKey(f.file.path)] = patch.id }
            } else {
                for f in decision.files {
                    if f.renamedFrom != nil { chain[PathKey(f.file.path)] = .absent }
                    chain[PathKey(f.path)] = f.output.map { .file($0) } ?? .absent
                }
            }
            out.append(decision)
        }
        return out
    }

    /// The hunks are what a person reads (and may edit): when they do not make the index line's
    /// postimage from its preimage (a registry file edited by hand), the images are not what the
    /// file says, and nothing may be decided or written from either.
    private func handEdited(_ f: ParsedFilePatch, _ img: PatchImages.File, patch: PatchFile) -> String? {
        // A scan already found that these exact hunks make every postimage from its preimage.
        if patch.hunksVerified { return nil }
        guard !f.isBinary, !f.hunks.isEmpty, f.status != .deleted, let post = img.post else { return nil }
        guard let pre = img.pre.map({ source.content($0.id) }) ?? [] else {
            // Listed as present but not readable: nothing can be checked, so nothing is decided.
            return "the preimage blob \(img.pre.map { $0.id.short } ?? "") of \(Text.singleLine(f.path)) cannot be read from the registry "
                + "or the app repository; run 'patchkeeper scan' while the live file still carries the patch, or record it again"
        }
        let made = HunkApplier.apply(f, to: pre).flatMap { try? ObjectID.hashBlob($0) }
        if made == post.id { return nil }
        return "\(Text.singleLine(patch.fileName)) says it makes blob \(post.id.short) but its hunks make "
            + (made.map { $0.short } ?? "nothing (they do not apply to its preimage)") + " (edited by hand?); re-record the patch"
    }

    private func current(_ path: String, _ chain: [PathKey: Slot]) throws -> Slot {
        if let s = chain[PathKey(path)] { return s }
        guard let e = try targetTree.entry(path) else {
            // No entry: is a file (or link) of the target where the path needs a directory?
            let parts = path.slashParts()
            for i in stride(from: parts.count - 1, to: 0, by: -1) {
                let ancestor = parts[0..<i].joined(separator: "/")
                if case .file = chain[PathKey(ancestor)] { return .fileInTheWay(ancestor) }
                if chain[PathKey(ancestor)] != nil { continue }
                if let a = try targetTree.entry(ancestor), let m = a.mode, m != .tree, m != .gitlink { return .fileInTheWay(ancestor) }
            }
            return .absent
        }
        guard let mode = e.mode else { return .directory }
        if mode == .tree || mode == .gitlink { return .directory }
        return .file(Image(id: e.id, mode: mode))
    }

    static func summary(_ results: [GateReport.Result]) -> GateReport.Result {
        let set = Set(results)
        if set.isEmpty || set == [.upstreamed] { return .upstreamed }
        if set.contains(.conflicts) { return .conflicts }
        if set.contains(.removed) { return .removed }
        if set.contains(.reappliesRenamed) { return .reappliesRenamed }
        return .reapplies
    }

    private mutating func decide(_ d: inout FileDecision, _ img: PatchImages.File, slot: Slot, patch: PatchFile, base: ObjectID?) {
        let reapplies: GateReport.Result = d.renamedFrom == nil ? .reapplies : .reappliesRenamed
        if case .directory = slot {
            d.detail = "the target has a directory (or submodule) at \(d.path)"
            return
        }
        if case .fileInTheWay(let ancestor) = slot {
            d.detail = "the target has a file at \(ancestor), where the patch needs a directory"
            return
        }
        let input = d.input
        guard let post = img.post else {
            // The patch deletes the file.
            if input == nil { d.result = .upstreamed; d.output = nil }
            else if let from = d.renamedFrom {
                // git: a rename/delete conflict. The file lives on under its new name, and only
                // a person can say whether the deletion still applies there.
                d.detail = "the patch deletes \(from), which the target renamed to \(d.path)"
            }
            else if input == img.pre { d.result = reapplies; d.output = nil }
            else { d.detail = "the patch deletes it, but the target changed it" }
            return
        }
        guard let input else {
            if img.pre == nil { d.result = reapplies; d.output = post; return }
            d.result = .removed
            d.detail = removedDetail(d.file, img, patch: patch)
            return
        }
        if input == post { d.result = .upstreamed; d.output = input; return }
        guard let pre = img.pre else {
            d.detail = "the patch creates it, but the target already has a different file there"
            return
        }
        if input == pre { d.result = reapplies; d.output = post; return }
        if d.file.isBinary || pre.mode == .symlink || post.mode == .symlink || input.mode == .symlink {
            d.detail = d.file.status == .typechange
                ? "the patch changes its type, and the target changed it too"
                : "binary file (or link) changed on both sides; never merged"
            return
        }
        // Mode: take the patch's change unless both sides changed it differently.
        var mode = input.mode
        if pre.mode != post.mode {
            if input.mode == pre.mode || input.mode == post.mode { mode = post.mode }
            else { d.detail = "the patch and the target both changed its mode"; return }
        }
        var content = input.id
        if pre.id != post.id, input.id != pre.id {
            guard let a = source.content(pre.id), let o = source.content(post.id), let t = source.content(input.id) else {
                d.detail = "a blob it needs is missing from the registry and the app repository"
                return
            }
            let m: MergeResult
            do {
                m = try FileMerge.merge(ancestor: FileVersion(path: d.path, mode: pre.mode, content: a),
                                        ours: FileVersion(path: d.path, mode: post.mode, content: o),
                                        theirs: FileVersion(path: d.path, mode: input.mode, content: t),
                                        labels: ("\(patch.id) preimage", "\(patch.id) (hot patch)", targetLabel))
            } catch {
                d.detail = "merge failed: \(error)"
                return
            }
            guard m.automergeable else {
                d.conflicts = ConflictText.regions(m.content)
                d.mergeConflict = true
                d.detail = upstream.commitsTouching(d.path, patch: patch, source: source, pre: a, file: d.file)
                    .map { "changed there by " + $0 }
                return
            }
            guard let id = try? source.add(m.content) else { d.detail = "cannot hash the merge result"; return }
            content = id
        } else if pre.id != post.id {
            content = post.id
        }
        let output = Image(id: content, mode: mode)
        d.output = output
        d.result = output == input ? .upstreamed : reapplies
    }

    private mutating func removedDetail(_ f: ParsedFilePatch, _ img: PatchImages.File, patch: PatchFile) -> String {
        var detail = "the file no longer exists in the target"
        if let pre = img.pre, let bytes = source.content(pre.id),
           let (path, score) = upstream.mostSimilar(to: bytes, from: patch.base, source: source), score >= 10 {
            detail += "; most similar new file: \(path) (\(score)%)"
        }
        return detail
    }
}

/// Conflict regions as a deploy log should show them: each region numbered by line, lines and
/// regions capped so one 300 KB line cannot flood the log.
enum ConflictText {
    static let maxLineBytes = 200
    static let maxLinesPerRegion = 40
    static let maxRegions = 10

    static func regions(_ content: [UInt8]) -> [String] {
        let lines = content.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        var regions: [String] = []
        var current: [String] = []
        var dropped = 0
        var start = 0
        var total = 0
        for (i, raw) in lines.enumerated() {
            let line = clip(raw)
            if raw.starts(with: Array("<<<<<<<".utf8)) { current = [line]; start = i + 1; dropped = 0; continue }
            guard !current.isEmpty else { continue }
            if raw.starts(with: Array(">>>>>>>".utf8)) {
                if dropped > 0 { current.append("… \(dropped) more line\(dropped == 1 ? "" : "s")") }
                current.append(line)
                total += 1
                if regions.count < maxRegions { regions.append("line \(start):\n" + current.joined(separator: "\n")) }
                current = []
                continue
            }
            if current.count < maxLinesPerRegion { current.append(line) } else { dropped += 1 }
        }
        if total > maxRegions { regions.append("… \(total - maxRegions) more conflicting region\(total - maxRegions == 1 ? "" : "s")") }
        return regions
    }

    private static func clip(_ raw: ArraySlice<UInt8>) -> String {
        if raw.count <= maxLineBytes { return String(decoding: raw, as: UTF8.self) }
        return String(decoding: raw.prefix(maxLineBytes), as: UTF8.self) + " … (\(raw.count) bytes)"
    }
}
