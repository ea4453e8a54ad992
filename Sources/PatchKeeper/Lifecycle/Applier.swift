#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// `apply`: applies a patch file to the live root (every file or none) and registers it.
public enum Applier {
    public struct Request: Sendable {
        public var patchPath: String
        public var title: String?
        public var reason: String?
        public var ticket: String?
        public var expires: String?
        public var author: Person?
        public var now: Date
        public var lockWait: Double
        public var dryRun: Bool
        /// Take the change from this commit of the app's repository instead of a file.
        public var commit: String?
        public var pullRequest: String?

        public init(patchPath: String, title: String? = nil, reason: String? = nil, ticket: String? = nil, expires: String? = nil,
                    author: Person? = nil, now: Date = Date(), lockWait: Double = 0, dryRun: Bool = false) {
            self.patchPath = patchPath
            self.title = title
            self.reason = reason
            self.ticket = ticket
            self.expires = expires
            self.author = author
            self.now = now
            self.lockWait = lockWait
            self.dryRun = dryRun
        }
    }

    public struct Result: Sendable {
        /// The registered patch (not written with `dryRun`).
        public var patch: PatchFile
        /// Root-relative paths written (or that would be).
        public var written: [String]
        public var deleted: [String]
        /// The patch was already applied and registered (e.g. finished by crash recovery).
        public var alreadyApplied = false
    }

    /// The input patch: a `git format-patch` e-mail or a plain `diff --git` patch.
    struct Input {
        var diff: String
        var subject: String?
        var body: String?
        var author: Person?
    }

    /// The largest patch file `apply` reads: a patch carries files of up to `PatchBuilder.maxFileSize`.
    static let maxPatchFileSize = 4 * PatchBuilder.maxFileSize

    static func readInput(_ path: String) throws -> Input {
        let bytes: [UInt8]
        // Refused by size (fstat on the opened file) before any of it is read.
        do { bytes = try POSIX.readFile(path, limit: maxPatchFileSize, label: "patch ") } catch var e as PatchKeeperError {
            if e.hint == nil { e.hint = "check the path" }
            throw e
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw PatchKeeperError("patch \(path) is not UTF-8 text",
                                   hint: "give a git diff or git format-patch file; for a file that is not UTF-8, edit it by hand and run 'patchkeeper record'")
        }
        if text.hasPrefix("From ") {
            do {
                let p = try PatchFile.parse(text, fileName: path, requireRegistryFields: false)
                return Input(diff: p.diffText, subject: p.subject, body: p.body.isEmpty ? nil : p.body, author: p.author)
            } catch {
                throw PatchKeeperError("patch \(error.description)", hint: "give a git diff or git format-patch file")
            }
        }
        guard let diff = PatchFile.diffSection(of: text) else {
            throw PatchKeeperError("\(path) has no 'diff --git' section", hint: "make it with 'git diff' or 'git format-patch'")
        }
        return Input(diff: diff, subject: nil, body: nil, author: nil)
    }

    /// The change of a commit in the app's repository (under `subdir`), with its message and author.
    static func readCommit(_ spec: String, deployment: Deployment) throws -> (Input, ObjectID) {
        let repo = deployment.repository
        do {
            let id = try repo.resolveCommit(spec)
            let info = try repo.commit(id)
            let diff = try repo.diffText(commit: id, under: deployment.subdir.isEmpty ? nil : deployment.subdir)
            if diff.isEmpty {
                throw PatchKeeperError("commit \(id.short) changes nothing under \(deployment.subdir.isEmpty ? "the repository" : deployment.subdir)")
            }
            let body = info.message.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).dropFirst().joined()
                .trimmedWhitespace()
            return (Input(diff: diff, subject: info.summary, body: body.isEmpty ? nil : body,
                          author: Person(name: info.author.name, email: info.author.email)), id)
        } catch let e as GitError {
            throw PatchKeeperError("cannot take commit '\(Deployment.printable(spec))' from \(deployment.repoPath): \(e.message)",
                                   hint: "fetch the repository (the pull request's commit must be in it)")
        }
    }

    /// An active patch that made the same change as this patch, and the live files carry it:
    /// applying again would only conflict (a rerun after a crash that recovery finished). The
    /// same change: every file's live content is what that patch made, and undoing this patch's
    /// hunks there gives that patch's preimage.
    static func alreadyApplied(_ files: [ParsedFilePatch], rootRel: [String: String], deployment: Deployment,
                               patches: [PatchFile]) throws -> PatchFile? {
        // By bytes (`PathKey`): a registered patch on `cafe\u{301}` is not one on `café`.
        var live: [PathKey: FileVersion?] = [:]
        for f in files {
            let v = try LiveTree.read(root: deployment.root, relativePath: rootRel[f.path]!, repoPath: f.path).map(deployment.repositoryForm)
            live[PathKey(deployment.repoPath(forRootRelative: rootRel[f.path]!))] = .some(v)  // .some: nil would drop the key
        }
        // A patch that matches has every file at one of these paths: one whose text names none
        // of them is not parsed (1,000 diffs in a big registry).
        for p in patches.reversed() where p.status == .active && live.keys.contains(where: { p.mayTouch($0.path) }) {
            guard let pf = try? p.files(), pf.count == files.count else { continue }
            let same = zip(pf.sorted { $0.path < $1.path }, files.sorted { $0.path < $1.path }).allSatisfy { (registered, input) in
                guard case .some(let l) = live[PathKey(registered.path)] else { return false }
                if registered.status == .deleted { return l == nil && input.status == .deleted }
                guard let l, (try? l.blobID()) == registered.newID else { return false }
                // The same bytes but another mode (a chmod +x on top) is a different change.
                if let m = input.newMode, m != l.mode { return false }
                if input.isBinary || registered.isBinary { return input.oldID == registered.oldID && input.newID == registered.newID }
                if input.status == .added { return registered.status == .added && HunkApplier.apply(input, to: []) == l.content }
                guard let undone = HunkApplier.apply(input, to: l.content, reverse: true) else { return false }
                return (try? ObjectID.hashBlob(undone)) == registered.oldID
            }
            if same { return p }
        }
        return nil
    }

    /// Applies text patches hunk by hunk with offset search (as `git apply`); nil when any file is
    /// binary, renamed or copied, or any hunk is not found.
    static func applyWithOffsets(_ files: [ParsedFilePatch], pre: [String: FileVersion]) -> [String: FileVersion?]? {
        var out: [String: FileVersion?] = [:]
        for f in files {
            guard !f.isBinary else { return nil }
            switch f.status {
            case .added:
                guard pre[f.newPath] == nil, let content = HunkApplier.apply(f, to: []) else { return nil }
                out[f.newPath] = .some(FileVersion(path: f.newPath, mode: f.newMode ?? .regular, content: content))
            case .deleted:
                guard let old = pre[f.oldPath], HunkApplier.apply(f, to: old.content) == [] else { return nil }
                out[f.oldPath] = .some(nil)
            case .modified:
                guard let old = pre[f.oldPath], let content = HunkApplier.apply(f, to: old.content) else { return nil }
                out[f.newPath] = .some(FileVersion(path: f.newPath, mode: f.newMode ?? old.mode, content: content))
            default:
                return nil
            }
        }
        return out
    }

    public static func apply(_ req: Request, deployment: Deployment, registry: Registry) throws -> Result {
        var input: Input
        var extraTrailers: [PatchFile.Trailer] = []
        if let spec = req.commit {
            let (commitInput, id) = try readCommit(spec, deployment: deployment)
            input = commitInput
            extraTrailers.append(.init("Commit", id.hex))
        } else {
            input = try readInput(req.patchPath)
        }
        if let pr = req.pullRequest.map(Text.singleLine), !pr.isEmpty { extraTrailers.append(.init("Pull-Request", pr)) }
        let title = req.title ?? input.subject ?? ""
        let reason = req.reason ?? input.body ?? ""
        if title.isEmpty {
            throw PatchKeeperError("--title is required (the patch has no Subject)", hint: "say in a few words what the patch does", kind: .usage)
        }
        if reason.isEmpty {
            throw PatchKeeperError("--reason is required (the patch has no message)", hint: "say why the hot patch is needed", kind: .usage)
        }
        try PatchBuilder.validate(title: title, reason: reason, expires: req.expires, now: req.now)

        let files: [ParsedFilePatch]
        do { files = try PatchParser.parse(input.diff) } catch let e as GitError {
            throw PatchKeeperError("patch \(req.patchPath) does not parse: \(e.message)", hint: "give a git diff or git format-patch file")
        }
        if files.isEmpty { throw PatchKeeperError("patch \(req.patchPath) changes no file") }

        // Map each patch path to a root-relative path, refusing anything outside the root.
        var rootRel: [String: String] = [:]
        for f in files {
            for p in [f.oldPath, f.newPath] where !p.isEmpty {
                // The maps below are keyed by `String`, which takes two spellings of one name
                // (café, cafe + U+0301) for one key: the file system has two files there.
                if let same = rootRel.keys.first(where: { $0 == p }) {
                    guard same.utf8.elementsEqual(p.utf8) else {
                        throw PatchKeeperError("patch \(req.patchPath) names two files whose names differ only in their Unicode spelling (\(SafePath.quoted(same)) and \(SafePath.quoted(p))): nothing was applied",
                                               hint: "apply such a patch by hand, one file at a time, and record each file")
                    }
                    continue
                }
                _ = try SafePath.relative(p, source: "patch \(req.patchPath): path")
                let rel = deployment.rootRelative(forRepoPath: p) ?? p
                rootRel[p] = try SafePath.checked(rel, root: deployment.root, source: "patch \(req.patchPath): path")
                try Registry.refuseRegistryPath(rel, root: deployment.root, registry: registry.path, source: "patch \(req.patchPath): path")
                try deployment.refuseRegistryPath(rootRel[p]!, registry: registry)
            }
        }

        let lock = try registry.lock(wait: req.lockWait)
        defer { withExtendedLifetime(lock) {} }
        let patches = try registry.load()
        if let done = try alreadyApplied(files, rootRel: rootRel, deployment: deployment, patches: patches) {
            return Result(patch: done, written: [], deleted: [], alreadyApplied: true)
        }
        // Preimage: the live files the patch reads, in repository form (and as they are on disk,
        // for a rollback).
        var preRaw: [String: FileVersion] = [:]
        var pre: [String: FileVersion] = [:]
        for f in files where f.status != .added {
            if let live = try LiveTree.read(root: deployment.root, relativePath: rootRel[f.oldPath]!, repoPath: f.oldPath) {
                preRaw[f.oldPath] = live
                pre[f.oldPath] = try deployment.repositoryForm(live)
            }
        }
        for f in files where f.status != .added && f.oldMode != .symlink {
            if let live = pre[f.oldPath], live.mode == .symlink {
                // The hunks were made for a file's lines; never apply them to a link's target text.
                let target = Text.singleLine(String(decoding: live.content, as: UTF8.self))
                throw PatchKeeperError("patch \(req.patchPath) changes \(rootRel[f.oldPath]!) as a file, but in \(deployment.root) it is a symbolic link to \(target)",
                                       hint: "patchkeeper never writes through links; nothing was written")
            }
        }
        let active = patches.filter { $0.status == .active }
        if !req.dryRun { registry.upgradeImages(active, deployment: deployment, now: req.now) }
        let stack = try PatchStack(deployment: deployment, registry: registry, active: active,
                                   paths: files.flatMap { [$0.oldPath, $0.newPath] }.filter { !$0.isEmpty }.map {
                                       deployment.repoPath(forRootRelative: rootRel[$0] ?? $0)
                                   })
        // The files it changes must be what the registry says they are: the deployed content
        // with the active patches. Otherwise the new patch would hide an unregistered change (or
        // silently revert an overwritten patch).
        for f in files where f.status != .added {
            let rel = rootRel[f.oldPath]!
            let repoPath = deployment.repoPath(forRootRelative: rel)
            let live = try LiveTree.read(root: deployment.root, relativePath: rel, repoPath: repoPath).map(deployment.repositoryForm)
            if let why = try stack.missingTop(repoPath, live: live) {
                throw PatchKeeperError("cannot apply to \(deployment.root)/\(rel): \(why)", hint: "nothing was written")
            }
            if let expected = try stack.expected(repoPath), let live, live.content != expected.content || live.mode != expected.mode {
                throw PatchKeeperError("\(deployment.root)/\(rel) has an unregistered change ('patchkeeper diff \(rel)' shows it): record the unregistered change first",
                                       hint: "a patch applied on top would hide it inside the new patch; nothing was written")
            }
        }

        for f in files where f.status == .added || f.status == .renamed || f.status == .copied {
            if POSIX.exists(deployment.root + "/" + rootRel[f.newPath]!) {
                throw PatchKeeperError("patch \(req.patchPath) creates \(rootRel[f.newPath]!), which already exists in \(deployment.root)",
                                       hint: "nothing was written", kind: .conflict)
            }
        }
        let post: [String: FileVersion?]
        do {
            post = try MemoryRepository().apply(diff: input.diff, to: Array(pre.values))
        } catch let e as GitError {
            // libgit2 only tries the line each hunk header names; git apply also finds a hunk
            // some lines away. Text patches get that second chance.
            if let shifted = applyWithOffsets(files, pre: pre) {
                post = shifted
            } else {
                throw PatchKeeperError("\(req.commit.map { "commit \($0)" } ?? "patch \(req.patchPath)") does not apply to \(deployment.root): \(e.message)",
                                       hint: "nothing was written", kind: .conflict)
            }
        }

        // Register what was actually done: live-before → live-after, in repo paths.
        var changes: [FileChange] = []
        for (patchPath, after) in post.sorted(by: { $0.key < $1.key }) {
            let rel = rootRel[patchPath]!
            let repoPath = deployment.repoPath(forRootRelative: rel)
            let before = pre[patchPath].map { FileVersion(path: repoPath, mode: $0.mode, content: $0.content) }
            let afterRepo = after.map { FileVersion(path: repoPath, mode: $0.mode, content: $0.content) }
            if before != afterRepo { changes.append(FileChange(old: before, new: afterRepo)) }
        }
        if changes.isEmpty { throw PatchKeeperError("patch \(req.patchPath) changes nothing in \(deployment.root)") }
        let author = req.author ?? input.author ?? Person.current()
        var meta = PatchBuilder.Metadata(id: registry.nextID(after: patches), title: title, reason: reason,
                                         ticket: req.ticket, expires: req.expires, author: author, base: deployment.revision)
        meta.extraTrailers = extraTrailers
        let patch = try PatchBuilder.make(meta, changes: changes, now: req.now)
        var written: [String] = []
        var deleted: [String] = []
        for (patchPath, after) in post.sorted(by: { $0.key < $1.key }) {
            if after == nil { if pre[patchPath] != nil { deleted.append(rootRel[patchPath]!) } } else { written.append(rootRel[patchPath]!) }
        }
        if req.dryRun { return Result(patch: patch, written: written, deleted: deleted) }
        try registry.keepImages(of: changes, now: req.now)

        let writes = try post.sorted(by: { $0.key < $1.key }).map { (rel: rootRel[$0.key]!, after: try deployment.workingTreeForm($0.value)) }
        try registry.runJournaled(Journal(action: "apply", root: deployment.root, writes: writes, patch: patch,
                                          reason: Text.singleLine(reason), author: author, now: req.now),
                                  previous: post.keys.sorted().map { (rootRel[$0]!, preRaw[$0]) })
        return Result(patch: patch, written: written, deleted: deleted)
    }
}

/// `retire`: marks a patch retired; the file stays in the registry and its history.
public enum Retirer {
    /// Marks a patch retired. With `revert` (needs the deployment), also takes its change out of
    /// the live tree: every file it changed goes back to its preimage — all files or none, through
    /// the journal, in the same registry commit. Refused when the patch is not exactly what the
    /// live files hold (edited on top, overwritten), or when a later active patch is stacked on
    /// one of its files: a revert then would take something else out too.
    public static func retire(id: String, reason: String, by: Person?, now: Date = Date(), lockWait: Double = 0, registry: Registry,
                              revert deployment: Deployment? = nil) throws -> PatchFile {
        if Text.singleLine(reason).isEmpty { throw PatchKeeperError("--reason is empty", hint: "say why the patch is no longer needed") }
        let lock = try registry.lock(wait: lockWait)
        defer { withExtendedLifetime(lock) {} }
        let all = try registry.load()
        var patch = try registry.find(id, in: all)
        guard patch.status == .active else {
            throw PatchKeeperError("patch \(patch.id) is already \(patch.status.rawValue)", hint: "nothing to do")
        }
        let who = by ?? Person.current()
        patch.setTrailer("Status", PatchFile.Status.retired.rawValue)
        patch.setTrailer("Retired-By", who.formatted)
        patch.setTrailer("Retired-At", Text.isoTimestamp(now))
        patch.setTrailer("Retired-Reason", Text.singleLine(reason))
        guard let deployment else {
            try registry.save(patch, action: "retire", reason: Text.singleLine(reason), author: who, now: now)
            return patch
        }
        let active = all.filter { $0.status == .active }
        let source = BlobSource([registry.repository, deployment.repository])
        var recorded: [PathKey: Image] = [:]
        var mine: [(ParsedFilePatch, PatchImages.File?)] = []
        var touched = Set<PathKey>()
        let bases = BaseTrees(deployment.repository)
        var earlier: [PathKey: Image] = [:]  // path → the postimage of an earlier active patch (what a stacked revert restores)
        for p in active {
            if p.id == patch.id { earlier = recorded }
            let images = try PatchImages.images(of: p, source: source, recorded: &recorded, base: p.base.flatMap { bases.tree($0) })
            let paths = Set(images.flatMap { [$0.0.oldPath, $0.0.newPath] }.filter { !$0.isEmpty }.map(PathKey.init))
            if p.id == patch.id { mine = images; touched = paths; continue }
            if !mine.isEmpty, let shared = paths.intersection(touched).map(\.path).sorted().first {
                throw PatchKeeperError("patch \(p.id) is stacked on \(patch.id) in \(shared): reverting \(patch.id) alone would take part of it out",
                                       hint: "retire \(p.id) first (with --revert if wanted), or retire \(patch.id) without --revert")
            }
        }
        var writes: [(rel: String, before: FileVersion?, after: FileVersion?)] = []
        for (f, img) in mine {
            guard let img else {
                throw PatchKeeperError("patch \(patch.id): \(f.path) cannot be rebuilt from the registry", hint: "revert it by hand, then retire without --revert")
            }
            for (path, now, back) in f.status == .renamed
                ? [(f.newPath, img.post, nil as Image?), (f.oldPath, nil as Image?, img.pre)]
                : [(f.path, img.post, img.pre)] {
                guard let rel = deployment.rootRelative(forRepoPath: path) else {
                    throw PatchKeeperError("\(path) lies outside the root's subdirectory \(deployment.subdir)")
                }
                let checked = try SafePath.checked(rel, root: deployment.root, source: "patch \(patch.fileName): path")
                let raw = try deployment.rawLiveFile(rootRelative: checked)
                let live = try raw.map(deployment.repositoryForm)
                let liveImage = try live.map { Image(id: try $0.blobID(), mode: $0.mode) }
                guard liveImage == now else {
                    throw PatchKeeperError("\(deployment.root)/\(checked) is not what patch \(patch.id) made (edited on top, or overwritten by a deploy): nothing was reverted",
                                           hint: "'patchkeeper diff \(checked)' shows the difference; revert by hand and retire without --revert")
                }
                // What the revert puts back must be what the live file would hold without this
                // patch: the deployed revision's file, or an earlier patch's postimage it is
                // stacked on. A deploy that carries the fix (or changed the file otherwise) makes
                // the preimage stale: writing it would undo part of the deploy.
                let deployed = try deployment.repository.entry(atPath: path, inCommit: deployment.revision)
                    .flatMap { e in e.mode.flatMap { m in m == .tree || m == .gitlink ? nil : Image(id: e.id, mode: m) } }
                guard back == deployed || (back != nil && back == earlier[PathKey(path)]) else {
                    throw PatchKeeperError("\(path) in the deployed revision \(deployment.revision.short) is not what patch \(patch.id) started from (the deploy carries the fix, or changed the file): nothing was reverted",
                                           hint: "retire \(patch.id) without --revert; 'patchkeeper scan' shows the live file against the deployed revision")
                }
                let target = try source.version(path, back)
                writes.append((checked, raw, try deployment.workingTreeForm(target)))
            }
        }
        try registry.runJournaled(Journal(action: "retire", root: deployment.root, writes: writes.map { ($0.rel, $0.after) }, patch: patch,
                                          reason: "reverted in the live tree: " + Text.singleLine(reason), author: who, now: now),
                                  previous: writes.map { ($0.rel, $0.before) })
        return patch
    }
}
