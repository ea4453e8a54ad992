#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// `record`: captures the live content of some files against the deployed revision as a new patch.
public enum Recorder {
    public struct Request: Sendable {
        public var paths: [String]
        public var title: String
        public var reason: String
        public var ticket: String?
        public var expires: String?
        public var author: Person?
        public var now: Date
        public var lockWait: Double
        /// The paths are already root-relative (from a scan), not typed by a person.
        public var rootRelative = false

        public init(paths: [String], title: String, reason: String, ticket: String? = nil, expires: String? = nil,
                    author: Person? = nil, now: Date = Date(), lockWait: Double = 0) {
            self.paths = paths
            self.title = title
            self.reason = reason
            self.ticket = ticket
            self.expires = expires
            self.author = author
            self.now = now
            self.lockWait = lockWait
        }
    }

    public static func record(_ req: Request, deployment: Deployment, registry: Registry) throws -> PatchFile {
        try PatchBuilder.validate(title: req.title, reason: req.reason, expires: req.expires, now: req.now)
        if req.paths.isEmpty { throw PatchKeeperError("no files named", hint: "name the hot-patched files: patchkeeper record FILE... --title ... --reason ...") }
        var rels: [String] = []
        for p in req.paths {
            let rel = req.rootRelative ? try SafePath.checked(p, root: deployment.root, source: "path")
                                       : try SafePath.fromCommandLine(p, root: deployment.root)
            try deployment.refuseRegistryPath(rel, registry: registry)
            if !rels.contains(where: { $0.utf8.elementsEqual(rel.utf8) }) { rels.append(rel) }  // by bytes: café and cafe\u{301} are two files
        }
        let lock = try registry.lock(wait: req.lockWait)
        defer { withExtendedLifetime(lock) {} }
        let patches = try registry.load()
        let active = patches.filter { $0.status == .active }
        registry.upgradeImages(active, deployment: deployment, now: req.now)
        let stack = try PatchStack(deployment: deployment, registry: registry, active: active,
                                   paths: rels.map { deployment.repoPath(forRootRelative: $0) })
        var changes: [FileChange] = []
        for rel in rels {
            let repoPath = deployment.repoPath(forRootRelative: rel)
            if let st = POSIX.lstat(deployment.root + "/" + rel), Int(st.st_size) > PatchBuilder.maxFileSize {
                throw PatchBuilder.tooBig(repoPath, size: Int(st.st_size))  // before reading it all
            }
            let live = try deployment.liveFile(rootRelative: rel)
            let before = try stack.expected(repoPath)
            if let why = try stack.missingTop(repoPath, live: live) {
                throw PatchKeeperError("cannot record \(deployment.root)/\(rel): \(why)",
                                       hint: "a new patch stacked on it would silently revert it; nothing was recorded")
            }
            if live == nil && before == nil {
                throw PatchKeeperError("\(deployment.root)/\(rel) exists neither in the root nor in deployed revision \(deployment.revision.short)",
                                       hint: "check the path")
            }
            if live == before {
                let what = before.map { _ in "matches" } ?? "is absent from"
                throw PatchKeeperError("\(deployment.root)/\(rel) \(what) deployed revision \(deployment.revision.short) (with active patches): nothing to record",
                                       hint: "edit the file first, or check the path")
            }
            changes.append(FileChange(old: before, new: live))
        }
        let author = req.author ?? Person.current()
        var meta = PatchBuilder.Metadata(id: registry.nextID(after: patches), title: req.title, reason: req.reason,
                                         ticket: req.ticket, expires: req.expires, author: author, base: deployment.revision)
        meta.extraTrailers = []
        let patch = try PatchBuilder.make(meta, changes: changes, now: req.now)
        try registry.keepImages(of: changes, now: req.now)
        try registry.save(patch, action: "record", reason: Text.singleLine(req.reason), author: author, now: req.now)
        return patch
    }
}

extension Recorder {
    /// `record --all`: every unregistered change a scan finds becomes one new patch.
    public static func recordDrift(_ req: Request, deployment: Deployment, registry: Registry, report: ScanReport) throws -> PatchFile {
        let paths = report.unregistered.compactMap { deployment.rootRelative(forRepoPath: $0.path) }
        if paths.isEmpty {
            throw PatchKeeperError("no unregistered changes in \(deployment.root): nothing to record", hint: "'patchkeeper scan' shows what differs")
        }
        var r = req
        r.paths = paths
        r.rootRelative = true
        return try record(r, deployment: deployment, registry: registry)
    }

    /// The unregistered drift as one git diff (deployed → live), optionally only under `paths`
    /// (root-relative); empty when there is none.
    public static func driftDiff(deployment: Deployment, registry: Registry, report: ScanReport, paths: [String]) throws -> String {
        let active = try registry.load().filter { $0.status == .active }
        let stack = try PatchStack(deployment: deployment, registry: registry, active: active, paths: report.unregistered.map(\.path))
        var changes: [FileChange] = []
        for d in report.unregistered {
            guard let rel = deployment.rootRelative(forRepoPath: d.path) else { continue }
            if !paths.isEmpty && !paths.contains(where: { rel == $0 || rel.hasPrefix($0 + "/") }) { continue }
            let before = try stack.expected(d.path)
            let live = try deployment.liveFile(rootRelative: rel)
            if before != live { changes.append(FileChange(old: before, new: live)) }
        }
        if changes.isEmpty { return "" }
        do {
            return try MemoryRepository().makePatch(changes.sorted { $0.path < $1.path }).diff
        } catch let e as GitError {
            throw PatchKeeperError("cannot build the diff: \(e.message)")
        }
    }
}

/// The active patches' stack on each file: what the file should look like when the deployed
/// revision carries them (the last active patch's postimage there, from the registry's images),
/// and whether a live file carries the top of the stack.
public struct PatchStack {
    struct Top {
        var patch: PatchFile
        /// nil when the patch's images cannot be rebuilt.
        var images: PatchImages.File?
    }

    let deployment: Deployment
    let source: BlobSource
    /// Repo path → the last active patch touching it.
    private(set) var tops: [PathKey: Top] = [:]

    /// `paths` (repo paths): only the patches that may touch them are read (1,000 patches in a
    /// registry, one file recorded).
    init(deployment: Deployment, registry: Registry, active: [PatchFile], paths: [String]? = nil) throws {
        self.deployment = deployment
        source = BlobSource([registry.repository, deployment.repository])
        var recorded: [PathKey: Image] = [:]
        let bases = BaseTrees(deployment.repository)
        for p in active {
            if let paths, !paths.contains(where: p.mayTouch) { continue }
            let base = p.base.flatMap { bases.tree($0) }
            for (f, img) in try PatchImages.images(of: p, source: source, recorded: &recorded, base: base) {
                tops[PathKey(f.newPath)] = Top(patch: p, images: img)
                if !f.oldPath.utf8.elementsEqual(f.newPath.utf8) { tops[PathKey(f.oldPath)] = Top(patch: p, images: img) }
            }
        }
    }

    /// The expected content at `repoPath`: the top patch's postimage (nil when it deletes the
    /// file), or the deployed file when no active patch touches it.
    func expected(_ repoPath: String) throws -> FileVersion? {
        guard let top = tops[PathKey(repoPath)] else { return try deployment.deployedFile(repoPath: repoPath) }
        guard let images = top.images else {
            throw PatchKeeperError("patch \(top.patch.id) on \(repoPath) cannot be rebuilt from the registry (an image blob is missing)",
                                   hint: "run 'patchkeeper scan' while the live file still carries it, or retire it and record again")
        }
        if top.images?.file.status == .renamed, repoPath.utf8.elementsEqual(images.file.oldPath.utf8) { return nil }
        return try version(repoPath, images.post)
    }

    func version(_ path: String, _ image: Image?) throws -> FileVersion? { try source.version(path, image) }

    /// Why `live` does not carry the top patch on `repoPath` (nil when it does, or none is there):
    /// the top patch's change, 3-way merged onto the live file, applies cleanly and changes it —
    /// so a patch recorded on top would revert it. A merge that conflicts means the live file
    /// changed those very lines again: that is the new edit, not a lost patch.
    func missingTop(_ repoPath: String, live: FileVersion?) throws -> String? {
        guard let top = tops[PathKey(repoPath)] else { return nil }
        guard let images = top.images else { return "patch \(top.patch.id) cannot be rebuilt from the registry" }
        let pre = try version(repoPath, images.pre)
        let post = try version(repoPath, images.post)
        let why = "patch \(top.patch.id) on it is not in the live file (a deploy overwrote it?): reapply or retire \(top.patch.id) first"
        guard let live else { return post == nil ? nil : why }
        guard let post else { return live.content == pre?.content ? why : nil }
        if live.content == post.content { return nil }
        if live.content == pre?.content && live.mode == pre?.mode { return why }
        if images.file.isBinary || live.mode == .symlink || post.mode == .symlink { return nil }
        let m = try FileMerge.merge(ancestor: pre ?? FileVersion(path: repoPath, mode: post.mode, content: []), ours: post, theirs: live)
        return m.automergeable && m.content != live.content ? why : nil
    }
}
