import Foundation
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
    /// Runs a journaled job: journal, live writes, registry commit, journal removal. Call with
    /// the lock held. If a step fails (full disk, permissions), the live files get their
    /// `previous` content back and the journal goes: nothing is left half-written.
    func runJournaled(_ journal: Journal, previous: [(rel: String, before: FileVersion?)]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(journal)), to: Journal.path(self), mode: 0o600)
        let registryFile = path + "/" + journal.registryFile
        let registryBefore = POSIX.exists(registryFile) ? try? POSIX.readFile(registryFile) : nil
        do {
            try finish(journal)
        } catch {
            // The registry file too: left written but uncommitted (a full disk fails the commit),
            // the next writer's recovery would commit a job this run reported as failed.
            let committed = (try? PatchFile.parse(journal.registryText, fileName: journal.registryFile)).map(isCommitted) ?? false
            if !committed {
                if let registryBefore { try? AtomicFile.write(registryBefore, to: registryFile) } else { try? AtomicFile.remove(registryFile) }
            }
            for p in previous.reversed() {
                // The same check as every write: a directory on the way may have become a link
                // out of the root since (that is often why `finish` failed).
                guard let rel = try? SafePath.checked(p.rel, root: journal.root, source: "rollback") else { continue }
                if let before = p.before { try? LiveTree.write(before, root: journal.root, relativePath: rel) }
                else { try? AtomicFile.remove(journal.root + "/" + rel) }
            }
            try? AtomicFile.remove(Journal.path(self))
            throw error
        }
    }

    /// Performs (or completes) a journal's writes and commit, then removes it. Idempotent.
    func finish(_ journal: Journal) throws {
        for w in journal.writes {
            let rel = try SafePath.checked(w.path, root: journal.root, source: "journal \(Journal.path(self))")
            AtomicFile.removeStaleTemps(for: journal.root + "/" + rel)
            if let modeText = w.mode, let mode = FileMode(octal: modeText), let b64 = w.content, let data = Data(base64Encoded: b64) {
                let file = FileVersion(path: rel, mode: mode, content: [UInt8](data))
                if (try? LiveTree.read(root: journal.root, relativePath: rel, repoPath: rel)) != .some(file) {
                    try LiveTree.write(file, root: journal.root, relativePath: rel)
                }
            } else if POSIX.exists(journal.root + "/" + rel) {
                try AtomicFile.remove(journal.root + "/" + rel)
            }
        }
        let patch: PatchFile
        do { patch = try PatchFile.parse(journal.registryText, fileName: journal.registryFile) } catch {
            throw PatchKeeperError("journal \(Journal.path(self)) holds a patch that does not parse: \(error.description)",
                                   hint: "move the journal aside and check the registry by hand")
        }
        if !isCommitted(patch) {
            try writeAndCommit(patch, action: journal.action, reason: journal.reason.isEmpty ? nil : journal.reason,
                               author: journal.author, now: Date(timeIntervalSince1970: journal.time))
        }
        try AtomicFile.remove(Journal.path(self))
    }

    /// True when HEAD holds exactly this patch file.
    func isCommitted(_ patch: PatchFile) -> Bool {
        guard !repository.isEmpty, let head = try? repository.resolveCommit("HEAD"),
              let entry = try? repository.entry(atPath: patch.fileName, inCommit: head),
              let want = try? ObjectID.hashBlob(Array(patch.render().utf8)) else { return false }
        let onDisk = (try? POSIX.readFile(path + "/" + patch.fileName)).flatMap { try? ObjectID.hashBlob($0) }
        return entry.id == want && onDisk == want
    }

    /// Finishes what a crashed writer left: a pending journal, or patch files written but not
    /// committed. Returns what was done, for the CLI to mention. Call with the lock held.
    public func recover() throws -> [String] {
        var done: [String] = []
        let journalPath = Journal.path(self)
        if POSIX.exists(journalPath) {
            let data = try POSIX.readFile(journalPath)
            guard let journal = try? JSONDecoder().decode(Journal.self, from: Data(data)) else {
                throw PatchKeeperError("journal \(journalPath) is unreadable", hint: "move it aside and check the app root and the registry by hand")
            }
            try finish(journal)
            let files = journal.writes.isEmpty ? "" : " (\(journal.writes.count) file\(journal.writes.count == 1 ? "" : "s"))"
            done.append("finished an interrupted \(journal.action) of \(journal.registryFile)\(files)")
        }
        let dirty = try repository.dirtyPaths().filter { $0.hasSuffix(".patch") || $0 == ".gitignore" }
        if !dirty.isEmpty {
            for name in dirty where name.hasSuffix(".patch") {
                AtomicFile.removeStaleTemps(for: path + "/" + name)
                if POSIX.exists(path + "/" + name) {
                    let text = String(decoding: try POSIX.readFile(path + "/" + name), as: UTF8.self)
                    do { _ = try PatchFile.parse(text, fileName: name) } catch {
                        throw PatchKeeperError("registry file \(path)/\(error.description)", hint: "fix or remove the file")
                    }
                }
            }
            let me = Person.current()
            let sig = Signature(name: me.name, email: me.email, time: Int64(Date().timeIntervalSince1970))
            do {
                try repository.commitWorkdirChanges(paths: dirty, message: "recover: commit \(dirty.joined(separator: ", ")) left by an interrupted write\n\nAction: recover\n",
                                                    author: sig, committer: sig)
            } catch let e as GitError {
                throw PatchKeeperError("cannot commit the registry's uncommitted files: \(e.message)", hint: "check 'git -C \(path) status'")
            }
            done.append("committed \(dirty.joined(separator: ", ")) left uncommitted by an interrupted write")
        }
        return done
    }
}
