#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// `edit`: changes a patch's metadata — expiry, ticket, reason, owner, title — in one registry
/// commit that says what changed; the diff, id and history are kept (`log ID` shows the edit).
public enum Editor {
    public struct Change: Sendable {
        public var expires: String?
        public var removeExpiry = false
        public var ticket: String?
        public var reason: String?
        public var owner: Person?
        public var title: String?
        public init() {}
        var isEmpty: Bool { expires == nil && !removeExpiry && ticket == nil && reason == nil && owner == nil && title == nil }
    }

    public static func edit(id: String, change: Change, by: Person?, now: Date = Date(), lockWait: Double = 0,
                            registry: Registry) throws -> PatchFile {
        if change.isEmpty {
            throw PatchKeeperError("nothing to change", hint: "give --expires, --no-expires, --ticket, --reason, --owner or --title")
        }
        if let e = change.expires { try PatchBuilder.validate(expires: e, now: now) }
        if let t = change.title, Text.singleLine(t).isEmpty { throw PatchKeeperError("--title is empty") }
        if let t = change.ticket, Text.singleLine(t).trimmedSpaces().isEmpty {
            throw PatchKeeperError("--ticket is empty", hint: "give the ticket's id, e.g. --ticket OPS-123")
        }
        if let r = change.reason, Text.sanitizedBlock(r).trimmedWhitespace().isEmpty {
            throw PatchKeeperError("--reason is empty")
        }
        let lock = try registry.lock(wait: lockWait)
        defer { withExtendedLifetime(lock) {} }
        var patch = try registry.find(id, in: try registry.load())
        guard patch.status == .active else {
            throw PatchKeeperError("patch \(patch.id) is \(patch.status.rawValue)", hint: "only an active patch is edited")
        }
        var what: [String] = []
        if let e = change.expires, e != patch.expires { what.append("expires \(patch.expires ?? "never") → \(e)"); patch.setTrailer("Expires", e) }
        if change.removeExpiry, let old = patch.expires { what.append("expires \(old) → never"); patch.setTrailer("Expires", nil) }
        if let t = change.ticket.map(Text.singleLine), t != patch.ticket { what.append("ticket → \(t)"); patch.setTrailer("Ticket", t) }
        // As record writes a reason: a '---' line would end the message (and cut off the trailers).
        let reason = change.reason.map {
            Text.sanitizedBlock($0).split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0 == "---" ? "- - -" : String($0) }.joined(separator: "\n")
                .trimmedWhitespace()
        }
        if let r = reason, r != patch.reason {
            what.append("reason changed")
            if patch.trailer("Reason") != nil { patch.setTrailer("Reason", Text.singleLine(r)) } else { patch.body = r }
        }
        if let o = change.owner, o != patch.author { what.append("owner \(patch.author.formatted) → \(o.formatted)"); patch.author = o }
        if let t = change.title.map(Text.singleLine), t != patch.subject { what.append("title → \(t)"); patch.subject = t }
        if what.isEmpty { throw PatchKeeperError("patch \(patch.id) already has these values: nothing changed") }
        let who = by ?? Person.current()
        patch.setTrailer("Edited-By", who.formatted)
        patch.setTrailer("Edited-At", Text.isoTimestamp(now))
        try registry.save(patch, action: "edit", reason: what.joined(separator: "; "), author: who, now: now)
        return patch
    }
}
