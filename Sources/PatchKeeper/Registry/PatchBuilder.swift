#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// Builds a registry patch file from file changes: the diff and stat come from libgit2.
public enum PatchBuilder {
    public struct Metadata: Sendable {
        public var id: String
        public var title: String
        public var reason: String
        public var ticket: String?
        public var expires: String?
        public var author: Person
        public var base: ObjectID
        public var extraTrailers: [PatchFile.Trailer] = []

        public init(id: String, title: String, reason: String, ticket: String?, expires: String?, author: Person, base: ObjectID) {
            self.id = id
            self.title = title
            self.reason = reason
            self.ticket = ticket
            self.expires = expires
            self.author = author
            self.base = base
        }
    }

    /// Checks user-supplied metadata: a title, a reason, a valid expiry date.
    public static func validate(title: String, reason: String, expires: String?, now: Date = Date()) throws {
        if Text.singleLine(title).isEmpty { throw PatchKeeperError("--title is empty", hint: "say in a few words what the patch does") }
        if Text.sanitizedBlock(reason).trimmedWhitespace().isEmpty {
            throw PatchKeeperError("--reason is empty", hint: "say why the hot patch is needed; whoever deploys next will read it")
        }
        if let expires { try validate(expires: expires, now: now) }
    }

    /// An expiry is a date (YYYY-MM-DD, valid through that day, UTC) that has not passed yet.
    public static func validate(expires: String, now: Date) throws {
        guard Text.parseDay(expires) != nil, let end = Text.endOfDay(expires) else {
            throw PatchKeeperError("--expires '\(Text.singleLine(expires))' is not a date", hint: "use YYYY-MM-DD, e.g. 2026-12-31")
        }
        if end <= now {
            throw PatchKeeperError("--expires \(expires) is in the past", hint: "give a date from today on; a patch that is no longer wanted is retired")
        }
    }

    /// The largest file a patch may carry (either side). A patch holds whole binary files and every
    /// scan, list and gate parses every patch: one 100 MB file made each scan take over a minute and
    /// 1.4 GB of memory. Hot patches are small edits; big files go out with a deploy.
    public static let maxFileSize = 16 << 20

    static func tooBig(_ path: String, size: Int) -> PatchKeeperError {
        PatchKeeperError("\(path) is \(size >> 20) MiB; patchkeeper keeps hot patches of files up to \(maxFileSize >> 20) MiB",
                         hint: "ship big files with a deploy, and record only the small files")
    }

    public static func make(_ meta: Metadata, changes: [FileChange], now: Date) throws -> PatchFile {
        for c in changes {
            for v in [c.old, c.new].compactMap({ $0 }) where v.content.count > maxFileSize { throw tooBig(v.path, size: v.content.count) }
        }
        let made: (diff: String, stat: String)
        do {
            made = try MemoryRepository().makePatch(changes.sorted { $0.path < $1.path })
        } catch let e as GitError {
            throw PatchKeeperError("cannot build the patch: \(e.message)")
        }
        let body = Text.sanitizedBlock(meta.reason)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0 == "---" ? "- - -" : String($0) }
            .joined(separator: "\n")
            .trimmedWhitespace()
        var trailers = [PatchFile.Trailer("Patch-Id", meta.id), PatchFile.Trailer("Base", meta.base.hex)]
        if let t = meta.ticket.map(Text.singleLine), !t.isEmpty { trailers.append(.init("Ticket", t)) }
        if let e = meta.expires { trailers.append(.init("Expires", e)) }
        trailers.append(contentsOf: meta.extraTrailers)
        trailers.append(.init("Status", PatchFile.Status.active.rawValue))
        let title = Text.singleLine(meta.title)
        return PatchFile(
            fileName: "\(meta.id)-\(Text.slug(title)).patch",
            fromLine: "From \(meta.base.hex) Mon Sep 17 00:00:00 2001",
            author: Person(name: Text.singleLine(meta.author.name), email: Text.singleLine(meta.author.email)),
            dateText: Text.rfc2822(now),
            subject: title,
            body: body,
            trailers: trailers,
            tail: made.stat + "\n" + made.diff)
    }
}

extension PatchFile {
    /// The diff split into one `diff --git` section per file.
    public func diffSections() -> [String] {
        var sections: [String] = []
        var current = ""
        for line in diffText.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("diff --git "), !current.isEmpty {
                sections.append(current)
                current = ""
            }
            current += line + "\n"
        }
        if !current.trimmedWhitespace().isEmpty {
            if current.hasSuffix("\n\n") { current.removeLast() }
            sections.append(current)
        }
        return sections
    }

    /// Repo paths this patch touches (old and new names).
    /// `touchedPaths` by bytes: a rename between two spellings of one name touches two paths.
    func touchedPathKeys() throws -> Set<PathKey> {
        var out = Set<PathKey>()
        for f in try files() {
            if f.status != .added { out.insert(PathKey(f.oldPath)) }
            if f.status != .deleted { out.insert(PathKey(f.newPath)) }
        }
        return out
    }

    public func touchedPaths() throws -> Set<String> {
        var out = Set<String>()
        for f in try files() {
            if f.status != .added { out.insert(f.oldPath) }
            if f.status != .deleted { out.insert(f.newPath) }
        }
        return out
    }
}
