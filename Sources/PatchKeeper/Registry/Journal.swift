#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Git

/// A write-ahead record of one multi-file job (apply, reapply): the live files to write and the
/// registry file to commit. It is saved atomically before the first live file is touched and
/// removed after the registry commit, so a crash anywhere in between is finished ("rolled
/// forward") by the next writer that takes the registry lock.
public struct Journal: Codable, Sendable, Equatable {
    public struct Write: Codable, Sendable, Equatable {
        /// Root-relative path.
        public var path: String
        /// Octal git mode (100644, 100755, 120000); nil removes the file.
        public var mode: String?
        /// Base64 of the new content (for a symlink, its target).
        public var content: String?
        /// What the live file held when the job started: "MODE BLOBID", or "absent" (nil in a
        /// journal written before this field existed). Recovery writes only over that, or over
        /// the new content itself: a file changed since (the next deploy, someone's edit) is
        /// never overwritten with this job's stale result.
        public var before: String?

        /// The file this write leaves (nil: it removes the file).
        func version(path rel: String) -> FileVersion? {
            guard let modeText = mode, let m = FileMode(octal: modeText), let b64 = content, let data = Data(base64Encoded: b64) else { return nil }
            return FileVersion(path: rel, mode: m, content: [UInt8](data))
        }

        /// Same content and mode (whatever path each was read under); nil is an absent file.
        static func same(_ a: FileVersion?, _ b: FileVersion?) -> Bool {
            a?.mode == b?.mode && a?.content == b?.content
        }

        static func describe(_ f: FileVersion?) -> String {
            guard let f else { return "absent" }
            return "\(f.mode.description) \((try? ObjectID.hashBlob(f.content).hex) ?? "?")"
        }
    }

    public var action: String
    public var root: String
    public var writes: [Write]
    public var registryFile: String
    public var registryText: String
    public var reason: String
    public var author: Person
    public var time: Double

    static func path(_ registry: Registry) -> String { registry.stateDirectory + "/journal.json" }

    init(action: String, root: String, writes: [(rel: String, after: FileVersion?)], patch: PatchFile, reason: String, author: Person, now: Date) {
        self.action = action
        self.root = root
        self.writes = writes.map { w in
            Write(path: w.rel, mode: w.after.map { $0.mode.description }, content: w.after.map { Data($0.content).base64EncodedString() })
        }
        registryFile = patch.fileName
        registryText = patch.render()
        self.reason = reason
        self.author = author
        time = now.timeIntervalSince1970
    }
}

extension Registry {
    /// Before a job writes anything: the registry takes a commit now (no merge or rebase in
    /// progress, a branch checked out), and `file` holds what HEAD has (a hand edit or a stray
    /// file of that name would be committed under the job's own message).
    func refuseUnwritable(_ file: String, action: String) throws {
        if let blocker = repository.commitBlocker() {
            throw PatchKeeperError("cannot \(action) in registry \(path): \(blocker)", hint: "see 'git -C \(path) status'")
        }
        // The file's own bytes against HEAD's blob, hashed raw (no filter: what a writer reads
        // and writes), read as every registry file is (no symlink, no FIFO, size capped); not
        // the index (a commit whose index write was cut short leaves it behind HEAD; ignore
        // rules and assume-unchanged bits hide nothing), not the mode (the write sets it).
        let full = path + "/" + file
        let differs: Bool
        do {
            let head = try repository.headEntry(path: file)
            if POSIX.lstat(full) == nil {
                differs = head != nil
            } else {
                differs = try head.map { try ObjectID.hashBlob(try POSIX.readFile(full, label: "registry file ")) != $0.id } ?? true
            }
        } catch {
            let reason = (error as? GitError)?.message ?? (error as? PatchKeeperError)?.message ?? "\(error)"
            throw PatchKeeperError("cannot check \(full) for uncommitted changes: \(reason)", hint: "check the registry with 'git -C \(path) status'")
        }
        if differs {
            let fix = handEditCommands(file)
            throw PatchKeeperError("\(path)/\(file) has uncommitted changes (edited by hand?); \(action) would commit them under its own name",
                                   hint: "commit them with a reason (\(fix.commit)) or undo them (\(fix.undo)), then run it again")
        }
    }

    /// The git commands that settle a hand edit of `file` and nothing else: commit only that
    /// file (a plain `git commit` would also record whatever else the index holds), or undo it.
    func handEditCommands(_ file: String) -> (commit: String, undo: String) {
        ("git -C \(path) add \(file) && git -C \(path) commit -m REASON -- \(file)", "git -C \(path) checkout HEAD -- \(file)")
    }

    /// Runs a journaled job: journal, live writes, registry commit, journal removal. Call with
    /// the lock held. If a step fails (full disk, permissions), the live files get their
    /// `previous` content back and the journal goes: nothing is left half-written.
    func runJournaled(_ job: Journal, previous: [(rel: String, before: FileVersion?)]) throws {
        // The commit reads the registry's root tree and the image store's tree five to eight
        // times each (caching them saves 2% of a record's instructions at 1,000 patches).
        GitSettings.cacheLargeTrees(maxBytes: 32 << 20, treeLimit: 1 << 20)
        try refuseUnwritable(job.registryFile, action: job.action)
        var journal = job
        for i in journal.writes.indices {
            if let p = previous.first(where: { $0.rel == journal.writes[i].path }) { journal.writes[i].before = Journal.Write.describe(p.before) }
        }
        for w in journal.writes {
            try Self.refuseRegistryPath(w.path, root: journal.root, registry: path, source: "\(journal.action): path")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try writeStateFile("journal.json", Array(try encoder.encode(journal)), durable: true)
        let registryFile = path + "/" + journal.registryFile
        let registryBefore = POSIX.exists(registryFile) ? try? POSIX.readFile(registryFile) : nil
        var done = false
        do {
            try finish(journal, done: &done)
        } catch {
            if done {
                // Every live write was made and the registry holds the job's patch: the job
                // stands, and its live files are what the registry says. Only the journal's
                // removal can have failed; one left behind is found done by the next writer.
                // Rolling the live files back would leave the registry saying applied over
                // files that are not (review). (Decided by how far `finish` got, never by HEAD
                // alone: a reapply that rebuilds HEAD's own text is "committed" before it runs.)
                try? removeStateFile("journal.json", written: true)
                throw error
            }
            // The registry file too: left written but uncommitted (a full disk fails the commit),
            // the next writer's recovery would commit a job this run reported as failed.
            let committed = holdsPatch(of: journal)
            if !committed {
                if let registryBefore { try? AtomicFile.write(registryBefore, to: registryFile) } else { try? AtomicFile.remove(registryFile) }
            }
            // Each live file goes back only while it holds what this job wrote: a file the job
            // never reached is left alone, and so is one someone changed in the meantime (the
            // app's own user, a deploy) — their change is never overwritten by a rollback.
            var leftAlone: [String] = [], notRestored: [String] = []
            for p in previous.reversed() {
                guard let rel = try? SafePath.checked(p.rel, root: journal.root, source: "rollback") else { continue }
                let current = try? LiveTree.read(root: journal.root, relativePath: rel, repoPath: rel)
                if Journal.Write.same(current, p.before) { continue }
                guard let w = journal.writes.first(where: { $0.path == p.rel }), Journal.Write.same(current, w.version(path: rel)) else {
                    leftAlone.append(p.rel)
                    continue
                }
                do {
                    if let before = p.before { try LiveTree.write(before, root: journal.root, relativePath: rel) }
                    else { try LiveTree.remove(root: journal.root, relativePath: rel) }
                } catch {
                    notRestored.append(p.rel)
                }
            }
            try? removeStateFile("journal.json", written: true)
            if !leftAlone.isEmpty || !notRestored.isEmpty {
                var message = (error as? PatchKeeperError)?.message ?? "\(error)"
                func list(_ rels: [String]) -> String { rels.map { journal.root + "/" + $0 }.joined(separator: ", ") }
                if !leftAlone.isEmpty {
                    message += "; while rolling back, \(list(leftAlone)) had been changed by someone else and \(leftAlone.count == 1 ? "was" : "were") left as found"
                }
                if !notRestored.isEmpty {
                    message += "; \(list(notRestored)) could not be put back and still \(notRestored.count == 1 ? "holds" : "hold") this \(journal.action)'s content"
                }
                throw PatchKeeperError(message, hint: "check those files by hand ('patchkeeper diff' shows them against the deployed revision)")
            }
            throw error
        }
        let id = journal.registryFile.prefix { $0.isNumber }
        AuditLog.log(app: appName ?? "?", event: "\(journal.action) \(id)",
                     details: "registry=\(path) file=\(journal.registryFile)" + (journal.writes.isEmpty ? "" : " wrote=\(journal.writes.map(\.path).joined(separator: ","))"))
    }

    /// Performs (or completes) a journal's writes and commit, then removes it. Idempotent.
    func finish(_ journal: Journal) throws {
        var done = false
        try finish(journal, done: &done)
    }

    /// `finish`, setting `done` once every live write is made and the registry holds the patch
    /// (all that is left then is removing the journal).
    func finish(_ journal: Journal, done: inout Bool) throws {
        try requireLockedStateDirectory()
        let hooks = Self.testHooks.withLock { $0[path] }
        for w in journal.writes {
            let rel = try SafePath.checked(w.path, root: journal.root, source: "journal \(Journal.path(self))")
            LiveTree.removeStaleTemps(root: journal.root, relativePath: rel)
            try hooks?.beforeLiveWrite?(rel)
            if let file = w.version(path: rel) {
                if (try? LiveTree.read(root: journal.root, relativePath: rel, repoPath: rel)) != .some(file) {
                    try LiveTree.write(file, root: journal.root, relativePath: rel)
                }
            } else if try LiveTree.exists(root: journal.root, relativePath: rel) {
                try LiveTree.remove(root: journal.root, relativePath: rel)
            }
        }
        let patch: PatchFile
        do { patch = try PatchFile.parse(journal.registryText, fileName: journal.registryFile) } catch {
            throw PatchKeeperError("journal \(Journal.path(self)) holds a patch that does not parse: \(error.description)",
                                   hint: "move the journal aside and check the registry by hand")
        }
        if !isCommitted(patch) {
            do {
                try writeAndCommit(patch, action: journal.action, reason: journal.reason.isEmpty ? nil : journal.reason,
                                   author: journal.author, now: Date(timeIntervalSince1970: journal.time))
            } catch {
                // The commit can land and a step after it fail (the registry index's write):
                // then the job is done, and saying "cannot commit" would be false (review).
                guard isCommitted(patch) else { throw error }
                done = true
                try? removeStateFile("journal.json", written: true)
                let message = (error as? PatchKeeperError)?.message ?? "\(error)"
                var e = PatchKeeperError("\(journal.action) of \(journal.registryFile) was done and committed, but the step after the commit failed (\(message))",
                                         hint: "nothing to undo; if 'git -C \(path) status' shows \(journal.registryFile) as changed, run 'git -C \(path) reset -q -- \(journal.registryFile)' to bring the registry's index up to HEAD")
                e.jobDone = true
                throw e
            }
        }
        done = true
        hooks?.afterCommit?(path)
        do {
            try removeStateFile("journal.json", written: true)
        } catch {
            let message = (error as? PatchKeeperError)?.message ?? "\(error)"
            var e = PatchKeeperError("\(journal.action) of \(journal.registryFile) was done and committed, but its journal could not be removed: \(message)",
                                     hint: "nothing to undo: remove \(Journal.path(self)) by hand (the job it describes is done); until then the next writer finishes it again, or refuses if its live files have changed since")
            e.jobDone = true
            throw e
        }
    }

    /// Tests only, by registry path (tests run in parallel): `beforeLiveWrite` runs before each
    /// live write of a journaled job (a throw fails that write), `afterCommit` between a job's
    /// commit and its journal's removal.
    struct TestHooks: Sendable {
        var beforeLiveWrite: (@Sendable (String) throws -> Void)?
        var afterCommit: (@Sendable (String) -> Void)?
    }
    static let testHooks = Mutex<[String: TestHooks]>([:])

    /// True when the registry file `name` holds exactly HEAD's bytes.
    func holdsHEAD(_ name: String) -> Bool {
        guard let entry = try? repository.headEntry(path: name),
              let bytes = try? POSIX.readFile(path + "/" + name), let id = try? ObjectID.hashBlob(bytes) else { return false }
        return entry.id == id
    }

    /// True when HEAD (and the file) hold the patch a journal commits.
    func holdsPatch(of journal: Journal) -> Bool {
        (try? PatchFile.parse(journal.registryText, fileName: journal.registryFile)).map(isCommitted) ?? false
    }

    /// True when HEAD holds exactly this patch file.
    func isCommitted(_ patch: PatchFile) -> Bool {
        guard let entry = try? repository.headEntry(path: patch.fileName),
              let want = try? ObjectID.hashBlob(Array(patch.render().utf8)) else { return false }
        let onDisk = (try? POSIX.readFile(path + "/" + patch.fileName)).flatMap { try? ObjectID.hashBlob($0) }
        return entry.id == want && onDisk == want
    }

    /// Finishes what a crashed writer left: a pending journal. Returns what was done, for the CLI
    /// to mention. Call with the lock held.
    ///
    /// The journal is checked before anything in it is used (`validate`): it may only name this
    /// registry's patch files and this app's root, outside this registry. Patch files no journal
    /// names are never committed by recovery (a file someone else put in the registry is not
    /// approved by being there): they are only mentioned.
    public func recover() throws -> [String] {
        var done: [String] = []
        let journalPath = Journal.path(self)
        if let state = try stateDirectoryHandle(create: false), state.status("journal.json") != nil {
            let (data, st) = try state.readFile("journal.json", limit: POSIX.defaultReadLimit)
            if st.st_uid != geteuid() || st.st_mode & 0o022 != 0 {
                throw PatchKeeperError("journal \(journalPath) is owned by uid \(st.st_uid) with mode \(String(st.st_mode & 0o7777, radix: 8)); patchkeeper only finishes its own journals",
                                       hint: "move it aside and check the app root and the registry by hand")
            }
            guard let journal = try? JSONDecoder().decode(Journal.self, from: Data(data)) else {
                throw PatchKeeperError("journal \(journalPath) is unreadable", hint: "move it aside and check the app root and the registry by hand")
            }
            try validate(journal)
            try refuseChangedSince(journal)
            try finish(journal)
            // What recovery wrote is a write like any other: one audit line.
            AuditLog.log(app: appName ?? "?", event: "recover \(Text.singleLine(journal.action)) \(journal.registryFile.prefix { $0.isNumber })",
                         details: "registry=\(path) file=\(journal.registryFile)" + (journal.writes.isEmpty ? "" : " wrote=\(journal.writes.map(\.path).joined(separator: ","))"))
            let files = journal.writes.isEmpty ? "" : " (\(journal.writes.count) file\(journal.writes.count == 1 ? "" : "s"))"
            done.append("finished an interrupted \(journal.action) of \(journal.registryFile)\(files)")
        }
        var stray = try repository.dirtyPaths().filter { $0.hasSuffix(".patch") }
        // A file that holds HEAD's bytes is committed; only the registry's index is behind (an
        // index write that failed after its commit). Removing it, as the note below says of a
        // stray file, would drop a committed patch (review).
        let behind = stray.filter { holdsHEAD($0) }
        stray.removeAll { behind.contains($0) }
        if !behind.isEmpty {
            done.append("the registry's index differs from HEAD for \(behind.map(Text.singleLine).joined(separator: ", ")), whose file holds HEAD's content (an index write that failed after its commit, or a change staged by hand): 'git -C \(path) reset -q -- \(behind.joined(separator: " "))' brings the index to HEAD")
        }
        if !stray.isEmpty {
            done.append("left \(stray.map(Text.singleLine).joined(separator: ", ")) uncommitted in \(path): no journal names it; commit it by hand if you wrote it, or remove it")
        }
        return done
    }

    /// A journal may name only a patch file of this registry and live files under this app's root
    /// (never inside the registry or `.git`): one planted in `.patchkeeper/` must not make root
    /// write anywhere else.
    func validate(_ journal: Journal) throws {
        let file = Journal.path(self)
        let name = journal.registryFile
        let plainName = !name.isEmpty && !name.hasPrefix(".") && name.hasSuffix(".patch")
            && !name.unicodeScalars.contains { $0 == "/" || $0.value < 0x20 || $0.value == 0x7f }
        guard plainName else {
            throw PatchKeeperError("journal \(file) names registry file \(SafePath.quoted(name)), which is not a patch file in \(path)",
                                   hint: "move the journal aside and check the registry by hand")
        }
        guard !journal.writes.isEmpty else { return }
        guard let appRoot else {
            throw PatchKeeperError("journal \(file) holds an interrupted \(Text.singleLine(journal.action)) of live files in \(Text.singleLine(journal.root)), and this command does not name the app's root",
                                   hint: "finish it with a command that names the app (record, apply, reapply or motd with --app or --root)")
        }
        guard journal.root == appRoot || Self.canonical(journal.root) == Self.canonical(appRoot) else {
            throw PatchKeeperError("journal \(file) names root \(SafePath.quoted(journal.root)), not this app's root \(appRoot)",
                                   hint: "move the journal aside and check the app root and the registry by hand")
        }
        for w in journal.writes {
            let rel = try SafePath.relative(w.path, source: "journal \(file): path")
            try Self.refuseRegistryPath(rel, root: appRoot, registry: path, source: "journal \(file): path")
        }
    }

    /// Refuses to finish a journal whose live files changed since the job started: each must still
    /// hold what was there before, or already the new content. Otherwise a deploy (or an edit)
    /// made after the crash would be overwritten with the interrupted job's stale result.
    func refuseChangedSince(_ journal: Journal) throws {
        for w in journal.writes {
            guard let before = w.before else { continue }
            let rel = try SafePath.checked(w.path, root: journal.root, source: "journal \(Journal.path(self))")
            let now = Journal.Write.describe(try LiveTree.read(root: journal.root, relativePath: rel, repoPath: rel))
            var after: FileVersion?
            if let m = w.mode, let mode = FileMode(octal: m), let b64 = w.content, let data = Data(base64Encoded: b64) {
                after = FileVersion(path: rel, mode: mode, content: [UInt8](data))
            }
            if now != before && now != Journal.Write.describe(after) {
                // Whether the registry holds the job's patch (the crash came after its commit,
                // or the patch was there before: a reapply of HEAD's own text) — said as it is.
                let committed = holdsPatch(of: journal)
                let state = committed
                    ? "the registry holds \(journal.registryFile) as the job would have left it: 'patchkeeper scan' shows where its live files stand"
                    : "its registry commit was not made"
                throw PatchKeeperError("journal \(Journal.path(self)) holds an interrupted \(Text.singleLine(journal.action)) of \(journal.registryFile), but \(journal.root)/\(rel) changed since (a deploy or an edit after the crash); nothing was written",
                                       hint: "move the journal aside (\(state)), check \(journal.root)/\(rel), then run the command again")
            }
        }
    }

    /// Refuses a root-relative path that lies in the registry (when the registry is inside the
    /// root): patch files get there only through `record`/`apply`'s own registry writes.
    public static func refuseRegistryPath(_ rel: String, root: String, registry: String, source: String) throws {
        let reg = canonical(registry)
        let target = canonical(root + "/" + rel)
        if target == reg || SafePath.strip(prefix: reg, from: target) != nil {
            throw PatchKeeperError("\(source) \(SafePath.quoted(rel)) is inside the registry \(registry), which patchkeeper never writes through a patch")
        }
    }
}
