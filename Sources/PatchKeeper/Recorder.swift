import Foundation
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
        try PatchBuilder.validate(title: req.title, reason: req.reason, expires: req.expires)
        if req.paths.isEmpty { throw PatchKeeperError("no files named", hint: "name the hot-patched files: patchkeeper record FILE... --title ... --reason ...") }
        var rels: [String] = []
        for p in req.paths {
            let rel = req.rootRelative ? try SafePath.checked(p, root: deployment.root, source: "path")
                                       : try SafePath.fromCommandLine(p, root: deployment.root)
            if !rels.contains(rel) { rels.append(rel) }
        }
        let lock = try registry.lock(wait: req.lockWait)
        defer { withExtendedLifetime(lock) {} }
        let patches = try registry.load()
        let active = patches.filter { $0.status == .active }
        var changes: [FileChange] = []
        for rel in rels {
            let repoPath = deployment.repoPath(forRootRelative: rel)
            if let st = POSIX.lstat(deployment.root + "/" + rel), Int(st.st_size) > PatchBuilder.maxFileSize {
                throw PatchBuilder.tooBig(repoPath, size: Int(st.st_size))  // before reading it all
            }
            let live = try deployment.liveFile(rootRelative: rel)
            let before = try PatchStack.expected(repoPath: repoPath, deployment: deployment, active: active)
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
        var changes: [FileChange] = []
        for d in report.unregistered {
            guard let rel = deployment.rootRelative(forRepoPath: d.path) else { continue }
            if !paths.isEmpty && !paths.contains(where: { rel == $0 || rel.hasPrefix($0 + "/") }) { continue }
            let before = try PatchStack.expected(repoPath: d.path, deployment: deployment, active: active)
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

/// What a file should look like when the deployed revision carries the active patches: the
/// deployed content with every active patch's change to that path applied in id order.
public enum PatchStack {
    public static func expected(repoPath: String, deployment: Deployment, active: [PatchFile]) throws -> FileVersion? {
        var current = try deployment.deployedFile(repoPath: repoPath)
        for patch in active {
            for section in patch.diffSections() {
                guard let file = try? PatchParser.parse(section).first else { continue }
                guard file.oldPath == repoPath || file.newPath == repoPath else { continue }
                do {
                    let result = try MemoryRepository().apply(diff: section, to: current.map { [$0] } ?? [])
                    if let post = result[repoPath] { current = post }
                } catch {
                    // The stack no longer applies (e.g. overwritten by a deploy): the active patch is
                    // reported by scan; here the deployed content stays the preimage.
                }
            }
        }
        return current
    }
}
