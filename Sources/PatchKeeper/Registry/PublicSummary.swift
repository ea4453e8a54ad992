import Foundation
import Git

/// What any local user may read about an app's hot patches (DESIGN §9, "Readers who are not root"). The registry is
/// private (0700): its patch files hold copies of the live files they change, secrets included.
/// `list`, `show`, `log` and `status` still work for every user, from this file: the patches'
/// metadata (title, owner, reason, ticket, expiry, the paths they touch), the registry log's
/// subjects and the last scan's summary. No diff and no file content is in it.
///
/// It sits beside the registry (`REGISTRY.summary.json`, 0644), is rewritten under the registry
/// lock by every registry write and every scan, and is off with `public_summary = false`.
/// A reader trusts it only when it has the registry directory's owner.
public struct PublicSummary: Codable, Sendable, Equatable {
    public static let currentVersion = 1
    /// Registry log entries kept (newest first).
    static let logLimit = 200
    /// Largest summary a reader accepts.
    static let readLimit = 32 << 20

    public var version: Int
    public var app: String?
    public var registry: String
    public var writtenAt: Date
    public var patches: [Patch]
    public var log: [LogEntry]
    public var lastScan: LastScan?

    public struct Patch: Codable, Sendable, Equatable {
        public var fileName: String
        public var subject: String
        public var author: Person
        public var dateText: String
        public var body: String
        /// Trailers as [key, value] pairs, in file order.
        public var trailers: [[String]]
        /// The paths the patch touches (new path; old path too for a rename).
        public var files: [String]

        init(_ p: PatchFile) {
            fileName = p.fileName
            subject = p.subject
            author = p.author
            dateText = p.dateText
            body = p.body
            trailers = p.trailers.map { [$0.key, $0.value] }
            var paths: [String] = []
            for f in (try? p.files()) ?? [] {
                if !f.oldPath.isEmpty && f.oldPath != f.newPath { paths.append(f.oldPath) }
                paths.append(f.newPath.isEmpty ? f.oldPath : f.newPath)
            }
            files = paths
        }

        /// The patch's metadata as a `PatchFile` without a diff.
        public var patchFile: PatchFile {
            PatchFile(fileName: fileName, fromLine: "", author: author, dateText: dateText, subject: subject, body: body,
                      trailers: trailers.compactMap { $0.count == 2 ? PatchFile.Trailer($0[0], $0[1]) : nil }, tail: "")
        }
    }

    public struct LogEntry: Codable, Sendable, Equatable {
        public var commit: String
        public var author: Person
        public var date: Date
        public var subject: String
        public var files: [String]

        init(_ e: Registry.Entry) {
            commit = e.commit.hex
            author = e.author
            date = e.date
            subject = e.subject
            files = e.files
        }

        public var entry: Registry.Entry? {
            ObjectID(hex: commit).map { Registry.Entry(commit: $0, author: author, date: date, subject: subject, message: subject, files: files) }
        }
    }

    /// Where the summary of the registry at `registry` lives.
    public static func path(registry: String) -> String {
        var r = registry
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        return r + ".summary.json"
    }

    // MARK: writing (the registry's owner, under its lock)

    /// The whole summary, from the registry.
    static func build(_ registry: Registry, now: Date) throws -> PublicSummary {
        PublicSummary(version: currentVersion, app: registry.appName ?? (try? registry.recordedApp()) ?? nil, registry: registry.path,
                      writtenAt: now, patches: try registry.load().map(Patch.init),
                      log: Array(try registry.history().prefix(logLimit)).map(LogEntry.init),
                      lastScan: LastScan.load(registry: registry).map(redacted))
    }

    /// The last scan as every user may see it: the names of unregistered live files stay with
    /// root (a file name can say too much); their number and the oldest one's age are kept.
    static func redacted(_ scan: LastScan) -> LastScan {
        var out = scan
        var seen: [String: Date] = [:]
        for (key, date) in scan.firstSeen ?? [:] where !key.hasPrefix("drift ") { seen[key] = date }
        let byAge = scan.unregistered.sorted { (scan.firstSeen?["drift \($0)"] ?? .distantFuture) < (scan.firstSeen?["drift \($1)"] ?? .distantFuture) }
        out.unregistered = byAge.indices.map { "(unregistered file \($0 + 1): its name is shown to root only)" }
        for (i, path) in byAge.enumerated() {
            if let d = scan.firstSeen?["drift \(path)"] { seen["drift \(out.unregistered[i])"] = d }
        }
        out.firstSeen = seen
        return out
    }

    /// The summary's log must end at the registry's HEAD before the latest write: otherwise a
    /// write or a scan went by without it (a crash after a commit, `public_summary` off for a
    /// while, an adopt commit) and patching one entry would keep that gap for ever.
    func isCurrent(parent: ObjectID?) -> Bool {
        version == Self.currentVersion && log.first?.commit == parent?.hex
    }

    /// Rewrites the summary from the registry. Call with the lock held.
    static func refresh(_ registry: Registry, now: Date) throws {
        try write(try build(registry, now: now), registry: registry)
    }

    /// After one patch file was written and committed: replace that patch's entry and add the
    /// commit to the log, without reading the other patch files (a write in a big registry stays
    /// cheap). Builds the whole summary when there is none yet or it does not read back.
    static func noteWrite(_ registry: Registry, patch: PatchFile, commit: Registry.Entry, parent: ObjectID?, now: Date) throws {
        guard var summary = try? load(registryPath: registry.path, requireOwner: false), summary.isCurrent(parent: parent) else {
            return try refresh(registry, now: now)
        }
        let entry = Patch(patch)
        if let i = summary.patches.firstIndex(where: { $0.fileName == patch.fileName }) {
            summary.patches[i] = entry
        } else {
            summary.patches.append(entry)
            summary.patches.sort { $0.fileName < $1.fileName }
        }
        summary.log.insert(LogEntry(commit), at: 0)
        if summary.log.count > logLimit { summary.log.removeLast(summary.log.count - logLimit) }
        summary.writtenAt = now
        try write(summary, registry: registry)
    }

    /// After a scan: the new last scan in the summary.
    static func noteScan(_ registry: Registry, _ scan: LastScan, now: Date) throws {
        guard var summary = try? load(registryPath: registry.path, requireOwner: false),
              summary.isCurrent(parent: try? registry.repository.resolveCommit("HEAD")) else {
            return try refresh(registry, now: now)
        }
        summary.lastScan = redacted(scan)
        summary.writtenAt = now
        try write(summary, registry: registry)
    }

    /// Removes the summary (`public_summary = false`): readers then see nothing rather than
    /// metadata frozen when it was switched off.
    static func withdraw(_ registry: Registry) throws {
        let path = path(registry: registry.path)
        if POSIX.lstat(path) != nil { try AtomicFile.remove(path) }
    }

    /// Readers believe this file and its registry only where nobody but their owner (or root)
    /// could have put them: the directory holding both is owned by root or that owner and
    /// writable by nobody else. A sticky world-writable directory does not qualify: anyone may
    /// plant the file before it is first written, and keep it.
    static func refuseUntrustedParent(_ dir: DirectoryHandle, path: String, owner: uid_t) throws {
        guard let st = dir.ownStatus() else { throw PatchKeeperError("cannot check the directory of \(path)") }
        if st.st_uid != 0 && st.st_uid != owner {
            throw PatchKeeperError("\(POSIX.parentDirectory(path)) is owned by uid \(st.st_uid): a public summary of this registry there is not trusted",
                                   hint: "keep the registry in a directory owned by root (or set public_summary = false)")
        }
        if st.st_mode & 0o022 != 0 {
            throw PatchKeeperError("\(POSIX.parentDirectory(path)) is writable by group or others: a public summary of this registry there is not trusted",
                                   hint: "keep the registry in a directory only root can write (or set public_summary = false)")
        }
    }

    static func write(_ summary: PublicSummary, registry: Registry) throws {
        let path = path(registry: registry.path)
        let dir = try AtomicFile.openParent(path)
        try refuseUntrustedParent(dir, path: path, owner: geteuid())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970
        try dir.replaceFile(POSIX.baseName(path), with: Array(try encoder.encode(summary)), newMode: 0o644, displayPath: path)
    }

    // MARK: reading (any user)

    /// The summary beside the registry at `registryPath`; nil when there is none. With
    /// `requireOwner`, refused unless it has the registry directory's owner (a summary anyone
    /// else wrote is not the registry's word).
    public static func load(registryPath: String, requireOwner: Bool = true) throws -> PublicSummary? {
        let path = path(registry: registryPath)
        let (dir, code) = DirectoryHandle.tryOpen(POSIX.parentDirectory(path))
        guard let dir else {
            if code == ENOENT { return nil }
            throw PatchKeeperError("cannot read \(path): \(POSIX.errorText(code))")
        }
        guard dir.status(POSIX.baseName(path)) != nil else { return nil }
        let (bytes, st) = try dir.readFile(POSIX.baseName(path), limit: readLimit)
        if requireOwner {
            guard let reg = dir.status(POSIX.baseName(String(path.dropLast(".summary.json".count)))), st.st_uid == reg.st_uid else {
                throw PatchKeeperError("\(path) is not owned by the registry's owner; not trusting it",
                                       hint: "remove it; the next scan as the registry's owner writes it again")
            }
            try refuseUntrustedParent(dir, path: path, owner: st.st_uid)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        do {
            var summary = try decoder.decode(PublicSummary.self, from: Data(bytes))
            // Only states and revisions this program writes; anything else is shown as unknown.
            if var scan = summary.lastScan {
                scan.states = scan.states.mapValues { ScanReport.PatchState(rawValue: $0) == nil ? "unknown" : $0 }
                if ObjectID(hex: scan.deployedRevision) == nil { scan.deployedRevision = "unknown" }
                summary.lastScan = scan
            }
            return summary
        } catch {
            throw PatchKeeperError("\(path) does not read back as a patchkeeper summary",
                                   hint: "the next scan as the registry's owner writes it again")
        }
    }
}
