import Foundation
import Git

/// What one active patch would become on another version of its files: the heart of `gate` (the
/// other version is the target revision's tree) and `reapply` (it is the live tree after a deploy).
struct PatchProjection {
    enum Outcome: Equatable {
        /// The other version already has the change.
        case upstreamed
        /// A clean 3-way merge; `merged` is the result.
        case reapplies
        /// The merge conflicts; the conflicting regions, with markers.
        case conflicts([String])
        /// The file the patch changes does not exist there.
        case removed
    }

    struct FilePlan {
        var file: ParsedFilePatch
        /// Where the change lands (differs from `file.path` after a rename).
        var path: String
        var renamedFrom: String?
        var outcome: Outcome
        /// The file's content there, before the patch.
        var target: FileVersion?
        /// The content after re-applying (reapplies only; nil = the patch deletes it).
        var merged: FileVersion?
        var detail: String?
    }

    let repository: Repository

    /// The patch's own before/after content for one file: from the object database, rebuilt from
    /// the hunks, or (for a stacked patch) taken from a live file that carries it. `live` is read
    /// only when the repository and the hunks cannot give the patched content (a gate over 1,000
    /// patches would otherwise read and hash every patched live file).
    func contents(of f: ParsedFilePatch, base: Tree?, live: () -> FileVersion?) -> (pre: FileVersion?, post: FileVersion?)? {
        var pre: FileVersion?
        var post: FileVersion?
        if f.status != .added {
            let mode = f.oldMode ?? .regular
            if !f.oldID.isZero, repository.contains(f.oldID), let bytes = try? repository.blob(f.oldID) {
                pre = FileVersion(path: f.oldPath, mode: mode, content: bytes)
            } else if f.oldID.isZero, let b = try? base?.file(f.oldPath) {
                pre = FileVersion(path: f.oldPath, mode: mode, content: b.content)
            }
        }
        if f.status != .deleted {
            let mode = f.newMode ?? pre?.mode ?? .regular
            if !f.newID.isZero, repository.contains(f.newID), let bytes = try? repository.blob(f.newID) {
                post = FileVersion(path: f.newPath, mode: mode, content: bytes)
            } else if !f.isBinary, f.hunks.isEmpty, let pre {
                post = FileVersion(path: f.newPath, mode: mode, content: pre.content)  // a mode change
            } else if !f.isBinary, let applied = HunkApplier.apply(f, to: pre?.content ?? []),
                      f.newID.isZero || (try? ObjectID.hashBlob(applied)) == f.newID {
                post = FileVersion(path: f.newPath, mode: mode, content: applied)
            } else if !f.newID.isZero, let l = live(), (try? l.blobID()) == f.newID {
                post = FileVersion(path: f.newPath, mode: mode, content: l.content)
            }
            guard post != nil else { return nil }
        }
        if f.status != .added && pre == nil {
            // Stacked on another patch: its preimage is not in the repository; undo the hunks.
            guard let post, !f.isBinary, let undone = HunkApplier.apply(f, to: post.content, reverse: true) else { return nil }
            pre = FileVersion(path: f.oldPath, mode: f.oldMode ?? post.mode, content: undone)
        }
        if let post, !f.newID.isZero, (try? post.blobID()) != f.newID { return nil }
        return (pre, post)
    }

    /// Plans every file of a patch against `other` (the file at a repo path there, nil when absent),
    /// following `renames` (old path → new path).
    func plan(_ patch: PatchFile, other: (String) throws -> FileVersion?, live: (String) -> FileVersion?,
              renames: [String: String], base: Tree?) throws -> [FilePlan] {
        var plans: [FilePlan] = []
        for section in patch.diffSections() {
            guard let f = try PatchParser.parse(section).first else { continue }
            var path = f.path
            var renamedFrom: String?
            var target = try other(path)
            if target == nil, f.status != .added, let moved = renames[f.path] {
                renamedFrom = f.path
                path = moved
                target = try other(moved)
            }
            guard let (pre, post) = contents(of: f, base: base, live: { live(f.path) }) else {
                var detail = "the patch's content cannot be rebuilt (its preimage is in no repository and no live file carries it)"
                if let made = TreeScanner.hunksMake(f, repository: repository), made != f.newID {
                    detail = "\(patch.fileName) says it makes blob \(f.newID.short) but its hunks make \(made.short) (edited by hand?); re-record the patch"
                }
                plans.append(FilePlan(file: f, path: path, renamedFrom: renamedFrom, outcome: .conflicts([]), target: target,
                                      detail: detail))
                continue
            }
            plans.append(decide(f, pre: pre, post: post, target: target, path: path, renamedFrom: renamedFrom))
        }
        return plans
    }

    func decide(_ f: ParsedFilePatch, pre: FileVersion?, post: FileVersion?, target: FileVersion?, path: String, renamedFrom: String?) -> FilePlan {
        var plan = FilePlan(file: f, path: path, renamedFrom: renamedFrom, outcome: .reapplies, target: target)
        guard let post else {
            // The patch deletes the file.
            if target == nil { plan.outcome = .upstreamed }
            else if target?.content == pre?.content { plan.merged = nil }
            else { plan.outcome = .conflicts([]); plan.detail = "the patch deletes it, but the file changed" }
            return plan
        }
        guard let target else {
            if f.status == .added { plan.merged = FileVersion(path: path, mode: post.mode, content: post.content) }
            else { plan.outcome = .removed; plan.detail = "the file no longer exists" }
            return plan
        }
        if target.content == post.content && target.mode == post.mode {
            plan.outcome = .upstreamed
            return plan
        }
        let modeChanged = pre.map { $0.mode != post.mode } ?? false
        let modeDone = !modeChanged || target.mode == post.mode
        if f.isBinary {
            if target.content == post.content, modeDone { plan.outcome = .upstreamed }
            else if let pre, target.content == pre.content { plan.merged = FileVersion(path: path, mode: post.mode, content: post.content) }
            else { plan.outcome = .conflicts([]); plan.detail = "binary file changed on both sides; binaries are never merged" }
            return plan
        }
        if !f.hunks.isEmpty, modeDone, HunkApplier.apply(f, to: target.content, reverse: true) != nil {
            plan.outcome = .upstreamed
            return plan
        }
        let ancestor = pre ?? FileVersion(path: path, mode: post.mode, content: [])
        do {
            let m = try FileMerge.merge(ancestor: FileVersion(path: path, mode: ancestor.mode, content: ancestor.content),
                                        ours: FileVersion(path: path, mode: post.mode, content: post.content),
                                        theirs: FileVersion(path: path, mode: target.mode, content: target.content))
            let mode = modeChanged ? post.mode : target.mode
            if m.automergeable {
                plan.merged = FileVersion(path: path, mode: mode, content: m.content)
                if m.content == target.content && mode == target.mode { plan.outcome = .upstreamed }
            } else {
                plan.outcome = .conflicts(Self.conflictRegions(m.content))
            }
        } catch {
            plan.outcome = .conflicts([])
            plan.detail = "merge failed: \(error)"
        }
        return plan
    }

    /// The marked regions of a conflicted merge, each prefixed with its line number.
    static func conflictRegions(_ content: [UInt8]) -> [String] {
        let lines = content.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        var regions: [String] = []
        var current: [String] = []
        var start = 0
        for (i, raw) in lines.enumerated() {
            let line = String(decoding: raw, as: UTF8.self)
            if line.hasPrefix("<<<<<<<") { current = [line]; start = i + 1; continue }
            if !current.isEmpty {
                current.append(line)
                if line.hasPrefix(">>>>>>>") {
                    regions.append("line \(start):\n" + current.joined(separator: "\n"))
                    current = []
                }
            }
        }
        return regions
    }
}
