#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// What the fleet remote holds, read from the local cache: one `Member` per host and app.
/// Everything here came from other machines: names are checked against the host/app rules,
/// sizes are bounded, and nothing is ever executed. Text is sanitised when it is shown.
public struct Fleet {
    public struct Patch {
        public var host: String
        public var app: String
        public var file: PatchFile
        /// The content's patch-id (`git patch-id --stable`), computed here from the diff; for a
        /// redacted patch, the host's `Fleet-Patch-Id:` (it could not be computed here).
        public var key: String
        /// Secret paths whose hunks the host left out.
        public var redacted: [String]
        /// Read once from the file (a trailer lookup each time was a tenth of a big report).
        public var id: String
        public var title: String
        public var ticket: String?
        public var date: Date?
        /// The end of the `Expires:` day.
        public var expiresAt: Date?

        public func isExpired(now: Date) -> Bool { expiresAt.map { now >= $0 } ?? false }

        init(host: String, app: String, file: PatchFile, key: String, redacted: [String]) {
            self.host = host
            self.app = app
            self.file = file
            self.key = key
            self.redacted = redacted
            id = file.id
            title = file.subject
            ticket = file.ticket
            date = file.date
            expiresAt = file.expires.flatMap(Text.endOfDay)
        }
    }

    public struct Member {
        public var host: String
        public var app: String
        public var registryTip: ObjectID?
        public var summary: FleetSummary?
        /// Active patches, in registry order.
        public var patches: [Patch] = []
        public var problems: [String] = []
        /// Seen in an earlier read of the cache and gone now (its refs were deleted on the
        /// remote): when it was last seen. Reported until forgotten (`forget`).
        public var missingSince: String?
    }

    public var members: [Member]
    /// References under refs/patchkeeper/ that do not follow the layout (ignored).
    public var ignoredRefs: [String]
}

/// The local copy of the fleet remote: a bare repository (`--cache DIR`) that `update` fetches
/// `refs/patchkeeper/*` into, incrementally (nothing changed, nothing transferred) and pruned
/// (a host removed from the remote disappears here too).
public final class FleetCache {
    public let path: String
    let repository: Repository

    /// Limits on what one host may make `fleet` read.
    public static let maxPatchFileBytes = 1 << 20
    public static let maxSummaryBytes = 1 << 20
    public static let maxPatchesPerApp = 10_000

    /// Opens the cache, creating it (mode 0700) when missing. Refuses a directory that is not a
    /// bare repository, and one others can write (root reads it).
    public init(path: String) throws {
        self.path = path
        if !POSIX.exists(path) {
            try POSIX.makeDirectories(POSIX.parentDirectory(path))
            if mkdir(path, 0o700) != 0 && errno != EEXIST { throw PatchKeeperError("cannot create the fleet cache \(path): \(POSIX.errorText())") }
        }
        guard let st = POSIX.lstat(path), st.st_mode & S_IFMT == S_IFDIR else {
            throw PatchKeeperError("fleet cache \(path) is not a directory", hint: "pass --cache DIR with a directory of its own")
        }
        if st.st_uid != geteuid() || st.st_mode & 0o022 != 0 {
            throw PatchKeeperError("fleet cache \(path) must be owned by the user running patchkeeper and not writable by group or others",
                                   hint: "chown and chmod go-w it, or pass --cache DIR")
        }
        do {
            if Repository.exists(atPath: path) {
                repository = try Repository.open(atPath: path)
                guard repository.isBare else { throw PatchKeeperError("fleet cache \(path) is not a bare repository", hint: "pass --cache DIR with a directory of its own") }
            } else {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                if !names.isEmpty { throw PatchKeeperError("fleet cache \(path) is not empty and not a git repository", hint: "pass --cache DIR with an empty or new directory") }
                repository = try Repository.create(atPath: path, bare: true)
            }
        } catch let e as GitError {
            throw PatchKeeperError("cannot open the fleet cache \(path): \(e.message)")
        }
    }

    /// Fetches every host's refs from `remote`.
    @discardableResult
    /// `sshKey`, `sshHostKey`: see `FleetConfig`.
    /// `maxRefsPerHost`, `maxRefs`: the remote's advertised `refs/patchkeeper/` list is checked
    /// before anything is fetched, and a remote over either cap is refused (every ref is a
    /// loose file until packed, and every ref is read).
    public func update(remote: String, sshKey: String? = nil, sshHostKey: String? = nil,
                       maxRefsPerHost: Int = FleetCache.defaultMaxRefsPerHost, maxRefs: Int = FleetCache.defaultMaxRefs) throws -> FetchStats {
        let auth = RemoteAuth(privateKey: sshKey, hostKeySHA256: sshHostKey)
        try FleetPublisher.checkLocal(remote)
        var tooMany: PatchKeeperError?
        do {
            let check: ([String]) throws -> Void = { names in
                if let e = Self.checkRefCounts(names, maxRefsPerHost: maxRefsPerHost, maxRefs: maxRefs, remote: remote) {
                    tooMany = e
                    throw e
                }
            }
            let refspecs = ["+\(FleetPublisher.remotePrefix)*:\(FleetPublisher.remotePrefix)*"]
            let stats: FetchStats
            if try repository.references(prefix: "refs/").isEmpty {
                // A first fetch: the thousands of references arrive as one packed-refs file.
                stats = try repository.fetchIntoEmpty(url: remote, refspecs: refspecs, auth: auth, checkAdvertised: check)
            } else {
                stats = try repository.fetch(url: remote, refspecs: refspecs, prunePrefix: FleetPublisher.remotePrefix, auth: auth, checkAdvertised: check)
                // New hosts are loose ref files after a fetch: pack them, so that reading the
                // cache reads one file.
                if stats.receivedObjects > 0 || stats.pruned > 0 { try repository.packReferences() }
            }
            return stats
        } catch let e as GitError {
            if let tooMany { throw tooMany }
            throw PatchKeeperError("cannot fetch the fleet from \(Text.singleLine(remote)): \(e.message)",
                                   hint: "check [fleet] remote (or --remote) and that this user may read it")
        }
    }

    /// The host/apps seen so far, with when they were last seen: `HOST/APP<TAB>ISO-TIME` lines.
    var knownMembersPath: String { path + "/patchkeeper-members" }

    func loadKnownMembers() -> [String: String] {
        guard let bytes = try? POSIX.readFile(knownMembersPath, limit: 64 << 20) else { return [:] }
        var known: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: "\t", maxSplits: 1).map(String.init)
            if f.count == 2 { known[f[0]] = f[1] }
        }
        return known
    }

    public static let defaultMaxRefsPerHost = 50
    public static let defaultMaxRefs = 200_000

    /// nil when the advertised refs are within the caps; else the refusal, naming the worst hosts.
    static func checkRefCounts(_ names: [String], maxRefsPerHost: Int, maxRefs: Int, remote: String) -> PatchKeeperError? {
        var perHost: [Substring: Int] = [:]
        var total = 0
        for n in names where n.hasPrefix(FleetPublisher.remotePrefix) {
            total += 1
            let rest = n.dropFirst(FleetPublisher.remotePrefix.count)
            perHost[rest.prefix { $0 != "/" }, default: 0] += 1
        }
        if total > maxRefs {
            return PatchKeeperError("the fleet remote \(Text.singleLine(remote)) advertises \(total) refs under \(FleetPublisher.remotePrefix), over the limit of \(maxRefs): nothing fetched",
                                    hint: "raise --max-refs if the fleet really is that large, or remove the refs that should not be there on the server")
        }
        let over = perHost.filter { $0.value > maxRefsPerHost }.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
        if let worst = over.first {
            let names = over.prefix(5).map { "\(Text.singleLine(String($0.key))) (\($0.value))" }.joined(separator: ", ")
            return PatchKeeperError("the fleet remote \(Text.singleLine(remote)) advertises more than \(maxRefsPerHost) refs for \(over.count) host\(over.count == 1 ? "" : "s"): \(names)\(over.count > 5 ? ", ..." : ""): nothing fetched",
                                    hint: "a host publishes 3 refs per app: delete the extra refs of \(Text.singleLine(String(worst.key))) on the server (docs/FLEET.md, Removing a host), or raise --max-refs-per-host")
        }
        return nil
    }

    /// Reads what the cache holds. A host/app seen by an earlier read and gone now is a member
    /// with `missingSince` set (a host that deleted its refs is not a safe one), until it is in
    /// `forget` ("HOST/APP", after a decommission).
    public func load(forget: Set<String> = [], now: Date = Date()) throws -> Fleet {
        var fleet = try loadRefs()
        var known = loadKnownMembers()
        let present = Set(fleet.members.map { $0.host + "/" + $0.app })
        for key in present { known[key] = Text.isoTimestamp(now) }
        for key in forget { known[key] = nil }
        for (key, seen) in known.sorted(by: { $0.key < $1.key }) where !present.contains(key) {
            let parts = key.slashParts().map(String.init)
            guard parts.count == 2 else { known[key] = nil; continue }
            var m = Fleet.Member(host: parts[0], app: parts[1])
            m.missingSince = Text.singleLine(seen)
            m.problems.append("its refs disappeared from the remote (last seen \(m.missingSince!)): deleted by the host or an admin; "
                              + "check the host, or run 'patchkeeper fleet --forget \(key)' once it is decommissioned")
            fleet.members.append(m)
        }
        fleet.members.sort { ($0.host, $0.app) < ($1.host, $1.app) }
        let text = known.sorted { $0.key < $1.key }.map { "\($0.key)\t\($0.value)\n" }.joined()
        do { try AtomicFile.write(Array(text.utf8), to: knownMembersPath, mode: 0o600) } catch {
            throw PatchKeeperError("cannot write \(knownMembersPath): \((error as? PatchKeeperError)?.message ?? "\(error)")")
        }
        return fleet
    }

    func loadRefs() throws -> Fleet {
        let refs: [ReferenceTarget]
        do { refs = try repository.references(prefix: FleetPublisher.remotePrefix) } catch let e as GitError {
            throw PatchKeeperError("cannot list the fleet cache \(path): \(e.message)")
        }
        var members: [String: Fleet.Member] = [:]
        var ignored: [String] = []
        var keys: [String: String] = [:]      // diff text → patch-id (the same fix on many hosts)
        var parsed: [ObjectID: PatchFile?] = [:]
        for ref in refs {
            let parts = String(ref.name.dropFirst(FleetPublisher.remotePrefix.count)).slashParts(omittingEmpty: false).map(String.init)
            guard parts.count == 3, FleetPublisher.kinds.contains(parts[2]),
                  (try? FleetConfig.validate(host: parts[0], source: "ref")) != nil, (try? AppConfig.validate(name: parts[1], source: "ref")) != nil else {
                ignored.append(Text.singleLine(ref.name))
                continue
            }
            let key = parts[0] + "/" + parts[1]
            var m = members[key] ?? Fleet.Member(host: parts[0], app: parts[1])
            switch parts[2] {
            case "registry":
                m.registryTip = ref.id
                readPatches(&m, commit: ref.id, keys: &keys, parsed: &parsed)
            case "summary":
                if let tree = try? repository.treeID(ofCommit: ref.id),
                   let entry = (try? repository.treeEntries(tree: tree))?.first(where: { $0.name == "summary.json" }),
                   let bytes = repository.boundedBlob(entry.id, limit: Self.maxSummaryBytes), let s = FleetSummary.decode(bytes) {
                    m.summary = s
                } else {
                    m.problems.append("its summary does not read back")
                }
            default: break
            }
            members[key] = m
        }
        return Fleet(members: members.keys.sorted().compactMap { members[$0] }, ignoredRefs: ignored)
    }

    /// `patch.diffText`, found with a byte scan (Foundation's `range(of:)` was a tenth of a
    /// 10,000-patch fleet's time).
    static func diffPart(_ patch: PatchFile) -> String {
        var tail = patch.tail
        let start: Int? = tail.withUTF8 { buf in
            let needle = Array("diff --git ".utf8)
            var i = 0
            while i + needle.count <= buf.count {
                if (i == 0 || buf[i - 1] == 10) && buf[i] == needle[0] {
                    var k = 1
                    while k < needle.count && buf[i + k] == needle[k] { k += 1 }
                    if k == needle.count { return i }
                }
                i += 1
            }
            return nil
        }
        guard let start else { return "" }
        let utf8 = tail.utf8
        let body = String(tail[utf8.index(utf8.startIndex, offsetBy: start)...])
        // A format-patch signature ("-- " line) is cut as diffText cuts it.
        return body.contains("\n-- \n") ? patch.diffText : body
    }

    private func readPatches(_ m: inout Fleet.Member, commit: ObjectID, keys: inout [String: String], parsed: inout [ObjectID: PatchFile?]) {
        guard let tree = try? repository.treeID(ofCommit: commit), let entries = try? repository.treeEntries(tree: tree) else {
            m.problems.append("its registry ref is not a readable commit")
            return
        }
        let files = entries.filter { $0.name.hasSuffix(".patch") && $0.mode & 0o170000 == 0o100000 }
        if files.count > Self.maxPatchesPerApp { m.problems.append("more than \(Self.maxPatchesPerApp) patch files; only the first are read") }
        for e in files.prefix(Self.maxPatchesPerApp) {
            let patch: PatchFile?
            if let known = parsed[e.id] {
                patch = known
            } else {
                patch = repository.boundedBlob(e.id, limit: Self.maxPatchFileBytes).flatMap { String(validating: $0, as: UTF8.self) }
                    .flatMap { try? PatchFile.parse($0, fileName: e.name, validateDiff: false) }
                parsed[e.id] = patch
            }
            guard let patch else {
                m.problems.append("\(Text.singleLine(e.name)) does not parse")
                continue
            }
            guard patch.status == .active else { continue }
            let redacted = patch.trailer("Redacted").map { $0.split(separator: ",").map { $0.trimmedSpaces() } } ?? []
            var key: String
            if !redacted.isEmpty {
                key = patch.trailer("Fleet-Patch-Id").flatMap(ObjectID.init(hex:))?.hex ?? "redacted:\(m.host)/\(m.app)/\(patch.id)"
            } else {
                let diff = Self.diffPart(patch)
                if let k = keys[diff] { key = k } else {
                    key = (try? PatchParser.patchID(diff))?.hex ?? "unparsed:\(m.host)/\(m.app)/\(patch.id)"
                    keys[diff] = key
                }
            }
            m.patches.append(Fleet.Patch(host: m.host, app: m.app, file: patch, key: key, redacted: redacted))
        }
    }
}
