#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// What the login banner shows for one app: its active patches and any unregistered drift.
/// Titles, names, paths and the app name are untrusted; `Motd.block` sanitises them.
public struct MotdSummary: Sendable, Equatable {
    /// One active patch as the banner shows it.
    public struct Line: Sendable, Equatable {
        /// The patch number, e.g. "0001".
        public var id: String
        /// Untrusted text from a patch file.
        public var title: String
        /// Untrusted: a person's name.
        public var author: String
        /// When the patch was recorded, for the age column ("5d"); nil shows "?".
        public var recordedAt: Date?
        /// The `Expires:` day, e.g. "2017-07-14", or nil for no expiry.
        public var expires: String?
        /// Past its expiry day: shown as `EXPIRED DATE`.
        public var expired: Bool
        /// "applied", "overwritten", "modified", "partial" or "unknown"; all but "applied" are shown upper-cased.
        public var state: String

        public init(id: String, title: String, author: String, recordedAt: Date?, expires: String?, expired: Bool, state: String) {
            self.id = id
            self.title = title
            self.author = author
            self.recordedAt = recordedAt
            self.expires = expires
            self.expired = expired
            self.state = state
        }
    }

    public var app: String
    /// Full or short commit id; the banner shows 7 characters.
    public var deployedRevision: String
    public var checkedAt: Date
    /// Active patches only.
    public var patches: [Line]
    /// Repo-relative paths of unregistered drift.
    public var unregistered: [String]
    /// When the oldest of them was first seen (a date on the banner: an age would be frozen).
    public var unregisteredSince: Date?

    public init(app: String, deployedRevision: String, checkedAt: Date, patches: [Line], unregistered: [String]) {
        self.app = app
        self.deployedRevision = deployedRevision
        self.checkedAt = checkedAt
        self.patches = patches
        self.unregistered = unregistered
    }
}
