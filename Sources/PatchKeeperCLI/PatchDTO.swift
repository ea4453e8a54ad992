#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git
import PatchKeeper

/// A patch as the JSON contract shows it (keys become snake_case).
struct PatchDTO: Encodable {
    struct FileDTO: Encodable {
        var path: String
        var oldPath: String?
        /// The rest is nil (left out) only for a patch read from the public summary, which
        /// carries the paths and nothing of the diff.
        var change: String?
        var oldMode: String?
        var newMode: String?
        /// Absent when the patch carries no blob id for that side: an added file has no old
        /// blob, a deleted file no new one, a mode-only change neither (git writes no index line).
        var oldBlob: String?
        var newBlob: String?
        var binary: Bool?
        var additions: Int?
        var deletions: Int?
    }

    var id: String
    var title: String
    var file: String
    var author: Person
    var date: String?
    var base: String?
    var status: String
    var reason: String
    var ticket: String?
    var expires: String?
    var expired: Bool
    var files: [FileDTO]
    var trailers: [String: String]
    /// The live state the last scan saw (list only; absent before the first scan and for a
    /// patch that is not active): applied, overwritten, modified or partial, as in scan.
    var state: String?

    static let knownTrailers: Set<String> = ["patch-id", "base", "status", "ticket", "expires", "reason"]

    /// A patch from the public summary (a reader without access to the registry): metadata and paths.
    init(summary entry: PublicSummary.Patch, now: Date) throws {
        try self.init(entry.patchFile, now: now)
        files = entry.files.map { FileDTO(path: $0) }
    }

    init(_ p: PatchFile, now: Date) throws {
        id = p.id
        title = p.subject
        file = p.fileName
        author = p.author
        date = p.date.map(Text.isoTimestamp)
        base = p.base?.hex
        status = p.status.rawValue
        reason = p.reason
        ticket = p.ticket
        expires = p.expires
        expired = p.status == .active && p.isExpired(now: now)
        files = try p.files().map { f in
            FileDTO(path: f.path, oldPath: f.status == .renamed ? f.oldPath : nil, change: f.status.rawValue,
                    oldMode: f.oldMode?.description, newMode: f.newMode?.description,
                    oldBlob: f.oldID.isZero ? nil : f.oldID.hex,
                    newBlob: f.newID.isZero ? nil : f.newID.hex, binary: f.isBinary,
                    additions: f.additions, deletions: f.deletions)
        }
        var extra: [String: String] = [:]
        for t in p.trailers where !Self.knownTrailers.contains(t.key.lowercased()) {
            extra[t.key] = t.value
        }
        trailers = extra
    }
}

/// A registry commit in JSON.
struct HistoryDTO: Encodable {
    var commit: String
    var author: Person
    var date: String
    var subject: String
    /// The registry files the commit changed.
    var files: [FileDTO]

    struct FileDTO: Encodable { var path: String }

    init(_ e: Registry.Entry) {
        commit = e.commit.hex
        author = e.author
        date = Text.isoTimestamp(e.date)
        subject = e.subject
        files = e.files.map { FileDTO(path: $0) }
    }
}

/// Renders a patch's one-line summary of its files: `config/clock.rb (+1 -2)`.
func filesSummary(_ p: PatchFile) -> [String] {
    guard let files = try? p.files() else { return [] }
    return files.map { f in
        let what: String
        switch f.status {
        case .added: what = "new file"
        case .deleted: what = "deleted"
        case .renamed: what = "renamed from \(f.oldPath)"
        default:
            if f.oldMode != f.newMode, f.hunks.isEmpty, !f.isBinary { what = "mode \(f.oldMode?.description ?? "?") → \(f.newMode?.description ?? "?")" }
            else { what = "modified" }
        }
        let counts = f.isBinary ? "binary" : "+\(f.additions) -\(f.deletions)"
        return "\(f.path) (\(what), \(counts))"
    }
}

/// One file of a patch as gate and reapply judge it: the verdict for that file, the path in the
/// target when it moved, why, and the conflicting regions.
struct FileVerdictDTO: Encodable {
    var path: String
    var newPath: String?
    var verdict: String
    var detail: String?
    var conflicts: [String]

    init(_ f: GateReport.FileResult) {
        path = f.path
        newPath = f.newPath
        verdict = f.result.rawValue
        detail = f.detail
        conflicts = f.conflicts
    }
}
