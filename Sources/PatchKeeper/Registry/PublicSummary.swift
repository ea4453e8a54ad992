#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
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

    /// The whole summary, from the registry; its last scan is `lastScan` when given, otherwise the
    /// one in the state directory.
    static func build(_ registry: Registry, now: Date, lastScan: LastScan? = nil) throws -> PublicSummary {
        try build(registry, now: now, lastScan: lastScan, source: Source(patches: try registry.load(), head: nil))
    }

    /// What one build reads of the registry, read once: the patch files and the commit the log
    /// starts at (nil: HEAD, read by the walk).
    struct Source {
        var patches: [PatchFile]
        var head: ObjectID?
    }

    static func build(_ registry: Registry, now: Date, lastScan: LastScan?, source: Source) throws -> PublicSummary {
        PublicSummary(version: currentVersion, app: appName(registry), registry: registry.path,
                      writtenAt: now, patches: source.patches.map(Patch.init),
                      log: try registry.history(limit: logLimit, from: source.head).map(LogEntry.init),
                      lastScan: (lastScan ?? LastScan.load(registry: registry)).map(redacted))
    }

    static func appName(_ registry: Registry) -> String? { registry.appName ?? (try? registry.recordedApp()) ?? nil }

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

    // The summary's log must end at the registry's HEAD before the latest write (`Layout.logHead`):
    // otherwise a write or a scan went by without it (a crash after a commit, `public_summary` off
    // for a while, an adopt commit) and patching one entry would keep that gap for ever.

    /// Rewrites the summary from the registry. Call with the lock held. A scan does whenever its
    /// stamp does not vouch for the summary (`noteScan`): this repairs whatever line-by-line
    /// updates cannot see (a summary damaged by hand into the layout's shape, a patch file
    /// edited without a commit, a moved registry).
    static func refresh(_ registry: Registry, now: Date) throws {
        try write(try build(registry, now: now), registry: registry)
    }

    /// How a scan updated the summary (tests look).
    enum ScanUpdate: Equatable { case lastScanLine, whole }

    /// After a scan, under the lock: when nothing the rest of the summary is made of has changed
    /// since a full build wrote it, only its `lastScan` line and `writtenAt` are replaced;
    /// otherwise it is built whole (`refresh`). "Nothing has changed" is decided exactly, never
    /// by a timestamp: the full build leaves its inputs in the state directory (`summary-source`,
    /// `sourceStamp`): the program that wrote it (another executable, an upgrade, rebuilds: it
    /// may derive or encode lines otherwise), the registry's HEAD (which fixes the log lines),
    /// each patch file's name and blob id (which fix its line), and the blob id of the log and
    /// patch lines as written (a summary edited by hand rebuilds). Rebuilding every scan was 4% of a gate over
    /// 1,000 patches: JSON-encoding every patch again to write the same bytes.
    @discardableResult
    static func noteScan(_ registry: Registry, scan: LastScan, now: Date) throws -> ScanUpdate {
        // One reading of the registry for the stamp and for a build alike: the patch files once,
        // HEAD once and the log walked from that commit (read twice, a change and its undo in
        // between would pair one state's stamp with the other's lines).
        let source = Source(patches: try registry.load(), head: try? registry.repository.resolveCommit("HEAD"))
        let inputs = sourceInputs(source)
        if let inputs, let stamp = registry.readStateFile(stampName, limit: 1 << 24),
           let bytes = try? readBytes(registryPath: registry.path), var layout = Layout(bytes),
           var head = layout.decodedHead, head.version == currentVersion, head.registry == registry.path, head.app == appName(registry),
           stamp == (try sourceStamp(inputs, layout)) {
            layout.lastScan = try Layout.lastScanLine(redacted(scan))
            head.writtenAt = now
            try layout.setHead(head)
            try write(bytes: layout.bytes, registry: registry)
            return .lastScanLine
        }
        let layout = try Layout(try build(registry, now: now, lastScan: scan, source: source))
        try write(bytes: layout.bytes, registry: registry)
        // A stamp that is not a regular file (it cannot be replaced) is removed first (an empty
        // directory too; anything else only costs a whole build per scan).
        if let state = try? registry.stateDirectoryHandle(create: false), let st = state.status(stampName) {
            if st.st_mode & S_IFMT == S_IFDIR { state.removeEmptyDirectory(stampName) }
            else if st.st_mode & S_IFMT != S_IFREG || inputs == nil { try? state.remove(stampName) }
        }
        if let inputs { try? registry.writeStateFile(stampName, try sourceStamp(inputs, layout), durable: false) }
        return .whole
    }

    /// The stamp's name in the state directory.
    static let stampName = "summary-source"

    /// The registry's side of the stamp: the program that derives the lines (its executable's
    /// identity: an upgrade builds whole once), HEAD, the log's length, and every patch file's
    /// name and blob id; nil when one of them is not known (then every scan builds whole).
    static func sourceInputs(_ source: Source) -> [String]? {
        guard let head = source.head, let program = programIdentity else { return nil }
        var lines = ["program " + program, "head " + head.hex, "log \(logLimit)"]
        for p in source.patches {
            guard let id = p.contentID else { return nil }
            lines.append("patch " + id.hex + " " + p.fileName)
        }
        return lines
    }

    /// The running executable (`/proc/self/exe`: device, inode, size, modification and change
    /// times); nil without /proc.
    static let programIdentity: String? = {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 else { return nil }
        return "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec):\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
    }()

    static let stampVersion = "# patchkeeper summary-source 3"

    /// The stamp: `inputs` (with the program's identity) and the blob id of `layout`'s log and
    /// patch lines. (How lines are encoded needs no line of its own: it is the program's.)
    static func sourceStamp(_ inputs: [String], _ layout: Layout) throws -> [UInt8] {
        var lines: [UInt8] = []
        for l in layout.log + [[10]] + layout.patches { lines += l + [10] }
        let text = ([stampVersion, "version \(currentVersion)"] + inputs
                    + ["lines " + (try ObjectID.hashBlob(lines)).hex]).joined(separator: "\n") + "\n"
        return Array(text.utf8)
    }

    /// After one patch file was written and committed: replace that patch's line and add the
    /// commit to the log, without decoding the rest of the file or reading the other patch files
    /// (decoding and encoding a 1,000-patch summary was a fifth of a `record`). Builds the whole
    /// summary when there is none, it is not in the line layout, or its log does not end at
    /// `parent`.
    static func noteWrite(_ registry: Registry, patch: PatchFile, commit: Registry.Entry, parent: ObjectID?, now: Date) throws {
        guard let bytes = try? readBytes(registryPath: registry.path), var layout = Layout(bytes),
              layout.logHead == parent?.hex else {
            return try refresh(registry, now: now)
        }
        let line = try Layout.encode(Patch(patch))
        // The key with its value, as bytes: inside a JSON string every quote is escaped, so this
        // can only be the key itself (the encoder's key order is not relied on).
        let key = Array(#""fileName":"#.utf8) + (try Layout.encode(patch.fileName))
        let found = layout.patches.indices.filter { Layout.contains(layout.patches[$0], key) }
        if found.count > 1 { return try refresh(registry, now: now) }
        if let i = found.first {
            layout.patches[i] = line
        } else if let last = layout.patches.last, (try? Layout.decode(Patch.self, last))?.fileName ?? patch.fileName >= patch.fileName {
            return try refresh(registry, now: now)  // not the newest name: the order would break
        } else {
            layout.patches.append(line)
        }
        layout.log.insert(try Layout.encode(LogEntry(commit)), at: 0)
        if layout.log.count > logLimit { layout.log.removeLast(layout.log.count - logLimit) }
        try layout.setWrittenAt(now)
        try write(bytes: layout.bytes, registry: registry)
    }

    /// The file, one JSON document with a line per element, so that a write can replace one
    /// patch's line and add one log line without decoding the rest:
    ///
    ///     {"version":1,"app":"api","registry":"/var/lib/patchkeeper/api","writtenAt":1764560000,
    ///     "lastScan":{…},                       ("lastScan":null, before the first scan)
    ///     "log":[
    ///     {"commit":"…",…}                     (newest first; later lines start with ",")
    ///     ],"patches":[
    ///     {"fileName":"0001-….patch",…}        (by file name)
    ///     ]}
    ///
    /// JSON never has a raw newline inside a value, so the lines are the elements. Anything else
    /// (an older layout, a hand edit) does not parse as a layout, and the writer rebuilds it.
    struct Layout {
        struct Head: Codable { var version: Int; var app: String?; var registry: String; var writtenAt: Date }
        var head: [UInt8]
        var lastScan: [UInt8]
        var log: [[UInt8]]
        var patches: [[UInt8]]

        static let logOpen = Array(#""log":["#.utf8), middle = Array(#"],"patches":["#.utf8), close = Array("]}".utf8)

        static func encoder() -> JSONEncoder {
            let e = JSONEncoder()
            // Sorted: the same value encodes to the same bytes in every process (the keys'
            // order otherwise follows a dictionary's per-process hashing), which `noteScan`'s
            // stamp relies on.
            e.outputFormatting = [.sortedKeys]
            e.dateEncodingStrategy = .secondsSince1970
            return e
        }

        static func encode<T: Encodable>(_ value: T) throws -> [UInt8] { Array(try encoder().encode(value)) }

        /// Whether `needle` occurs in `hay` (`Bytes.find`: the generic subsequence search was a
        /// third of a `record` in a 1,000-patch registry).
        static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
            needle.isEmpty || Bytes.find(needle, in: hay) != nil
        }

        static func decode<T: Decodable>(_ type: T.Type, _ line: [UInt8]) throws -> T {
            let d = JSONDecoder()
            d.dateDecodingStrategy = .secondsSince1970
            return try d.decode(type, from: Data(line))
        }

        init(_ summary: PublicSummary) throws {
            head = []
            lastScan = try Self.lastScanLine(summary.lastScan)
            log = try summary.log.map { try Self.encode($0) }
            patches = try summary.patches.sorted { $0.fileName < $1.fileName }.map { try Self.encode($0) }
            try setHead(Head(version: summary.version, app: summary.app, registry: summary.registry, writtenAt: summary.writtenAt))
        }

        static func lastScanLine(_ scan: LastScan?) throws -> [UInt8] {
            Array(#""lastScan":"#.utf8) + (try scan.map { try encode($0) } ?? Array("null".utf8)) + [UInt8(ascii: ",")]
        }

        /// Parses the line layout; nil for anything else.
        init?(_ bytes: [UInt8]) {
            let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
            guard lines.count >= 5, lines[0].first == UInt8(ascii: "{"), lines[0].last == UInt8(ascii: ","),
                  (try? Self.decode(Head.self, Array(lines[0].dropLast()) + [UInt8(ascii: "}")]))?.version == PublicSummary.currentVersion,
                  lines[1].starts(with: Array(#""lastScan":"#.utf8)),
                  lines[1].last == UInt8(ascii: ","), lines[2] == Self.logOpen, lines.last == Self.close,
                  let mid = lines.firstIndex(of: Self.middle), mid > 2 else { return nil }
            func elements(_ slice: ArraySlice<[UInt8]>) -> [[UInt8]]? {
                var out: [[UInt8]] = []
                for (k, line) in slice.enumerated() {
                    let body = k == 0 ? line[...] : (line.first == UInt8(ascii: ",") ? line.dropFirst() : nil) ?? []
                    guard body.first == UInt8(ascii: "{"), body.last == UInt8(ascii: "}") else { return nil }
                    out.append(Array(body))
                }
                return out
            }
            guard let log = elements(lines[3..<mid]), let patches = elements(lines[(mid + 1)..<(lines.count - 1)]) else { return nil }
            head = lines[0]
            lastScan = lines[1]
            self.log = log
            self.patches = patches
        }

        /// The commit the log starts with (the registry's HEAD when the summary is current).
        var logHead: String? { log.first.flatMap { try? Self.decode(LogEntry.self, $0) }?.commit }

        mutating func setHead(_ h: Head) throws {
            var line = try Self.encode(h)
            guard line.last == UInt8(ascii: "}") else { throw PatchKeeperError("cannot encode the summary's head") }
            line[line.count - 1] = UInt8(ascii: ",")
            head = line
        }

        mutating func setWrittenAt(_ date: Date) throws {
            guard var h = decodedHead else { throw PatchKeeperError("cannot read the summary's head") }
            h.writtenAt = date
            try setHead(h)
        }

        var decodedHead: Head? {
            guard let last = head.last, last == UInt8(ascii: ",") else { return nil }
            return try? Self.decode(Head.self, head.dropLast() + [UInt8(ascii: "}")])
        }

        var bytes: [UInt8] {
            var out = head + [10] + lastScan + [10] + Self.logOpen + [10]
            for (k, l) in log.enumerated() { out += (k == 0 ? [] : [UInt8(ascii: ",")]) + l + [10] }
            out += Self.middle + [10]
            for (k, l) in patches.enumerated() { out += (k == 0 ? [] : [UInt8(ascii: ",")]) + l + [10] }
            return out + Self.close
        }
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
        try write(bytes: try Layout(summary).bytes, registry: registry)
    }

    static func write(bytes: [UInt8], registry: Registry) throws {
        let path = path(registry: registry.path)
        let dir = try AtomicFile.openParent(path)
        try refuseUntrustedParent(dir, path: path, owner: geteuid())
        try dir.replaceFile(POSIX.baseName(path), with: bytes, newMode: 0o644, displayPath: path, durable: false)
    }

    /// The summary's bytes, read without following a link (nil when there is none).
    static func readBytes(registryPath: String) throws -> [UInt8]? {
        try read(path(registry: registryPath))?.bytes
    }

    /// The summary file at `path` through its directory's descriptor: the directory, the bytes
    /// (never through a link, never blocking on a FIFO, at most `readLimit`) and their `stat`.
    private static func read(_ path: String) throws -> (dir: DirectoryHandle, bytes: [UInt8], stat: stat)? {
        let (dir, code) = DirectoryHandle.tryOpen(POSIX.parentDirectory(path))
        guard let dir else {
            if code == ENOENT { return nil }
            throw PatchKeeperError("cannot read \(path): \(POSIX.errorText(code))")
        }
        guard dir.status(POSIX.baseName(path)) != nil else { return nil }
        let (bytes, st) = try dir.readFile(POSIX.baseName(path), limit: readLimit)
        return (dir, bytes, st)
    }

    // MARK: reading (any user)

    /// The summary beside the registry at `registryPath`; nil when there is none. With
    /// `requireOwner`, refused unless it has the registry directory's owner (a summary anyone
    /// else wrote is not the registry's word).
    public static func load(registryPath: String, requireOwner: Bool = true) throws -> PublicSummary? {
        let path = path(registry: registryPath)
        guard let (dir, bytes, st) = try read(path) else { return nil }
        if requireOwner {
            guard let reg = dir.status(POSIX.baseName(String(path.dropLast(".summary.json".count)))), st.st_uid == reg.st_uid else {
                throw PatchKeeperError("\(path) is not owned by the registry's owner; not trusting it",
                                       hint: "remove it; the next scan as the registry's owner writes it again")
            }
            try refuseUntrustedParent(dir, path: path, owner: st.st_uid)
        }
        do {
            var summary = try Layout.decode(PublicSummary.self, bytes)
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
