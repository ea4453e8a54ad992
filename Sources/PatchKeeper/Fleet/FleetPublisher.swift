#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Git

/// Whether the last push to the fleet remote worked, kept in `.patchkeeper/fleet-push` so a
/// failure is never silent: the next write or scan retries, `status` shows it, metrics count it.
public struct FleetPushState: Codable, Sendable, Equatable {
    public var remote: String
    public var host: String
    public var ok: Bool
    public var lastAttempt: Date
    public var lastSuccess: Date?
    /// Since when pushes have been failing (nil when the last one worked).
    public var pendingSince: Date?
    public var error: String?

    public static func load(registry: Registry) -> FleetPushState? {
        guard let bytes = registry.readStateFile("fleet-push", limit: 1 << 16) else { return nil }
        let d = JSONDecoder()
        d.dateDecodingStrategy = .secondsSince1970
        return try? d.decode(FleetPushState.self, from: Data(bytes))
    }

    func save(_ registry: Registry) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .secondsSince1970
        try registry.writeStateFile("fleet-push", Array(try e.encode(self)), durable: true)
    }
}

/// Publishes one app's registry to the fleet remote (docs/FLEET.md): builds, in the registry's
/// own repository, the redacted refs under `refs/patchkeeper-fleet/` and pushes them to
/// `refs/patchkeeper/HOST/APP/{registry,images,summary}` with libgit2. Idempotent: every call
/// pushes the whole current state, so a failed push is retried by the next call.
public struct FleetPublisher {
    public static let localPrefix = "refs/patchkeeper-fleet/"
    public static let remotePrefix = "refs/patchkeeper/"
    public static let kinds = ["registry", "images", "summary"]

    let registry: Registry
    let app: String
    let config: FleetConfig

    public init(registry: Registry, app: String, config: FleetConfig) {
        self.registry = registry
        self.app = app
        self.config = config
    }

    /// `refs/patchkeeper/HOST/APP/`
    public var namespace: String { Self.remotePrefix + config.host + "/" + app + "/" }

    /// Builds the refs and pushes them; `gate` (from `gate`) replaces the summary's gate part.
    /// Never throws: the outcome (saved in the state dir, also when the lock could not be taken)
    /// says what went wrong. nil when no remote is configured.
    public func publish(gate: FleetSummary.Gate? = nil, lockWait: Double, now: Date = Date()) -> FleetPushState? {
        guard let remote = config.remote else { return nil }
        var state = FleetPushState.load(registry: registry) ?? FleetPushState(remote: remote, host: config.host, ok: false, lastAttempt: now)
        if state.remote != remote || state.host != config.host { state = FleetPushState(remote: remote, host: config.host, ok: false, lastAttempt: now) }
        state.lastAttempt = now
        var lock: RegistryLock?
        do { lock = try registry.lock(wait: lockWait, recover: false) } catch {
            // Recorded all the same (an atomic write of the publisher's own file), so status and
            // metrics say pending; the next write or scan retries.
            state.ok = false
            if state.pendingSince == nil { state.pendingSince = now }
            state.error = Text.singleLine("the registry is locked by another patchkeeper; the next write or scan publishes (\((error as? PatchKeeperError)?.message ?? "\(error)"))")
            try? state.save(registry)
            return state
        }
        do {
            do {
                defer { withExtendedLifetime(lock) {}; lock = nil }
                if let gate { try saveGate(gate) }
                try buildRefs(now: now)
            }
            // The push itself runs without the lock (released just above): libgit2 1.5 has no
            // network timeout, and a remote that accepts the connection and never answers must
            // not hold up record, apply or the next scan. It sends the local refs as they are
            // when it reads them (each updated atomically; a later publish's are newer).
            try Self.checkLocal(remote)
            try Self.push(repositoryAt: registry.path, url: remote, refspecs: Self.kinds.map { "+\(Self.localPrefix)\($0):\(namespace)\($0)" },
                          auth: config.auth, timeout: config.timeout)
            state.ok = true
            state.lastSuccess = now
            state.pendingSince = nil
            state.error = nil
        } catch {
            state.ok = false
            if state.pendingSince == nil { state.pendingSince = now }
            state.error = Text.singleLine((error as? GitError)?.description ?? (error as? PatchKeeperError)?.message ?? "\(error)")
        }
        try? state.save(registry)
        return state
    }

    /// The push on a thread of its own with its own repository handle, waited for `timeout`
    /// seconds. libgit2 1.5 cannot be interrupted: a push that does not finish in time is left
    /// behind (it ends with the process) and reported, so the command finishes and the next
    /// write or scan retries.
    static func push(repositoryAt path: String, url: String, refspecs: [String], auth: RemoteAuth, timeout: Int) throws {
        final class Outcome: @unchecked Sendable {
            private let lock = PlainLock()
            private var error: (any Error)?
            func set(_ e: (any Error)?) { lock.lock(); error = e; lock.unlock() }
            func get() -> (any Error)? { lock.lock(); defer { lock.unlock() }; return error }
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            do {
                try Repository.open(atPath: path).push(url: url, refspecs: refspecs, auth: auth)
                outcome.set(nil)
            } catch {
                outcome.set(error)
            }
            done.signal()
        }
        if done.wait(timeout: .now() + .seconds(timeout)) == .timedOut {
            throw PatchKeeperError("the fleet remote \(url) did not answer within \(timeout) s (push abandoned)",
                                   hint: "check the remote (or raise [fleet] timeout)")
        }
        if let error = outcome.get() { throw error }
    }

    /// libgit2 calls a local path that does not exist an "unsupported URL protocol": say what it is.
    static func checkLocal(_ remote: String) throws {
        let path = remote.hasPrefix("file://") ? String(remote.dropFirst(7)) : remote
        guard path.hasPrefix("/") else { return }
        if !POSIX.isDirectory(path) {
            throw PatchKeeperError("the fleet remote \(path) does not exist (or is not a directory)",
                                   hint: "create it with 'git init --bare \(path)' or fix [fleet] remote")
        }
    }

    func saveGate(_ gate: FleetSummary.Gate) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try registry.writeStateFile("fleet-gate.json", Array(try e.encode(gate)), durable: true)
    }

    func loadGate() -> FleetSummary.Gate? {
        guard let bytes = registry.readStateFile("fleet-gate.json", limit: 1 << 20) else { return nil }
        return try? JSONDecoder().decode(FleetSummary.Gate.self, from: Data(bytes))
    }

    /// The three local refs, up to date with the registry. Call with the lock held.
    func buildRefs(now: Date) throws {
        let repo = registry.repository
        let head = try repo.resolveCommit("HEAD")
        // 1. The redacted chain: one published commit per registry commit not yet published.
        let tipRef = Self.localPrefix + "registry"
        var tip = try repo.reference(tipRef)
        // The chain was redacted with other secret patterns (or before they were recorded):
        // rebuild it from the root, so no published commit keeps content the current patterns
        // would cut (the push is forced; the old chain becomes unreachable on the server).
        let secrets = try Self.secretsHash(config)
        if let t = tip, (try? repo.commit(t)).flatMap({ Self.trailer("Fleet-Secrets", of: $0.message) }) != secrets.hex { tip = nil }
        let lastSource = tip.flatMap { try? repo.commit($0) }.flatMap { Self.sourceCommit(of: $0.message) }
        var todo: [ObjectID] = []
        var c: ObjectID? = head
        while let id = c, id != lastSource {
            todo.append(id)
            c = try repo.commit(id).parents.first
        }
        var redactedBlobs: [ObjectID: ObjectID?] = [:]
        var publicImages = Set<ObjectID>()
        for id in todo.reversed() {
            let info = try repo.commit(id)
            var entries: [(name: String, id: ObjectID, mode: UInt32)] = []
            for e in try repo.treeEntries(tree: try repo.treeID(ofCommit: id)) {
                guard e.mode == 0o100644 || e.mode == 0o100755 else { continue }
                if e.name.hasSuffix(".patch") {
                    if let known = redactedBlobs[e.id] {
                        if let known { entries.append((e.name, known, 0o100644)) }
                        continue
                    }
                    let published = try redactedBlob(e.id, name: e.name)
                    redactedBlobs[e.id] = published
                    if let published { entries.append((e.name, published, 0o100644)) }
                } else if e.name == ".gitignore" || e.name == Registry.appFileName {
                    entries.append((e.name, e.id, 0o100644))
                }
            }
            let tree = try repo.writeTree(entries)
            let message = info.message + (info.message.hasSuffix("\n") ? "" : "\n") + "\nSource-Commit: \(id.hex)\nFleet-Secrets: \(secrets.hex)\n"
            tip = try repo.writeCommit(tree: tree, parents: tip.map { [$0] } ?? [], message: message, author: info.author, committer: info.author)
        }
        if let tip { try repo.setReference(tipRef, to: tip) }
        // 2. Images: exactly the pre/post images of the non-secret files of the current patches,
        // less every blob that is an image of a secret path in any version of any patch file
        // (a non-secret file with a secret file's content must not publish it: deny beats allow).
        for e in try repo.treeEntries(tree: try repo.treeID(ofCommit: head)) where e.name.hasSuffix(".patch") {
            guard let bytes = repo.boundedBlob(e.id, limit: 64 << 20), let text = String(validating: bytes, as: UTF8.self),
                  let r = FleetRedactor.redact(text, fileName: e.name, config: config) else { continue }
            for id in r.publicImages where repo.contains(id) { publicImages.insert(id) }
        }
        if !publicImages.isEmpty { publicImages.subtract(try secretImages(head: head)) }
        let imagesTree = try repo.writeTree(publicImages.sorted().map { ($0.hex, $0, 0o100644) })
        let sig = Signature(name: "patchkeeper", email: "patchkeeper@\(config.host)", time: Int64(now.timeIntervalSince1970))
        if try repo.reference(Self.localPrefix + "images").map({ try repo.treeID(ofCommit: $0) }) != imagesTree {
            let commit = try repo.writeCommit(tree: imagesTree, parents: [], message: "Patch images of \(app) on \(config.host)\n", author: sig, committer: sig)
            try repo.setReference(Self.localPrefix + "images", to: commit)
        }
        // 3. Summary: parentless, replaced each time.
        var summary = FleetSummary(host: config.host, app: app, publishedAt: Text.isoTimestamp(now), registryHead: head.hex)
        summary.scan = LastScan.load(registry: registry).map(FleetSummary.scan)
        summary.gate = loadGate()
        let blob = try repo.writeBlob(try summary.encoded())
        let summaryTree = try repo.writeTree([("summary.json", blob, 0o100644)])
        let commit = try repo.writeCommit(tree: summaryTree, parents: [], message: "Summary of \(app) on \(config.host)\n", author: sig, committer: sig)
        try repo.setReference(Self.localPrefix + "summary", to: commit)
    }

    /// The images of secret paths in every version of every patch file in the registry's history
    /// (each distinct patch blob parsed once).
    func secretImages(head: ObjectID) throws -> Set<ObjectID> {
        let repo = registry.repository
        var seenBlobs = Set<ObjectID>()
        var denied = Set<ObjectID>()
        var c: ObjectID? = head
        while let id = c {
            let info = try repo.commit(id)
            for e in try repo.treeEntries(tree: try repo.treeID(ofCommit: id)) where e.name.hasSuffix(".patch") && seenBlobs.insert(e.id).inserted {
                guard let bytes = repo.boundedBlob(e.id, limit: 64 << 20), let text = String(validating: bytes, as: UTF8.self),
                      let r = FleetRedactor.redact(text, fileName: e.name, config: config) else { continue }
                denied.formUnion(r.secretImages)
            }
            c = info.parents.first
        }
        return denied
    }

    /// The published blob for a registry patch file: itself, or its redacted copy; nil when it
    /// does not parse (it is left out rather than published unchecked).
    func redactedBlob(_ id: ObjectID, name: String) throws -> ObjectID? {
        let repo = registry.repository
        guard let bytes = repo.boundedBlob(id, limit: 64 << 20), let text = String(validating: bytes, as: UTF8.self),
              let r = FleetRedactor.redact(text, fileName: name, config: config) else { return nil }
        return r.redacted.isEmpty ? id : try repo.writeBlob(Array(r.text.utf8))
    }

    static func sourceCommit(of message: String) -> ObjectID? {
        trailer("Source-Commit", of: message).flatMap { ObjectID(hex: $0) }
    }

    static func trailer(_ key: String, of message: String) -> String? {
        for line in message.split(separator: "\n").reversed() where line.hasPrefix(key + ": ") {
            return String(line.dropFirst(key.count + 2))
        }
        return nil
    }

    /// Identifies the effective secret pattern list (order and duplicates do not matter), kept
    /// as the `Fleet-Secrets:` trailer of every published chain commit.
    static func secretsHash(_ config: FleetConfig) throws -> ObjectID {
        try ObjectID.hashBlob(Array(("patchkeeper fleet secret paths v1\n" + Set(config.secretPaths).sorted().joined(separator: "\0")).utf8))
    }
}
