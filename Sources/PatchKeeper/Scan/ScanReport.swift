#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// What a scan found: each active patch's state, the drift no patch explains, and problems.
public struct ScanReport: Sendable {
    public enum PatchState: String, Sendable, Codable, CaseIterable {
        /// Every file carries the patch's changes.
        case applied
        /// The changes are gone: every file is back at the deployed content (a deploy overwrote it).
        case overwritten
        /// Someone edited on top, or a file is neither patched nor deployed content.
        case modified
        /// Some files carry the patch, others are back at the deployed content.
        case partial
    }

    public enum FileState: String, Sendable, Codable {
        case applied, overwritten, modified, missing
    }

    public struct PatchResult: Sendable {
        public struct File: Sendable {
            public var path: String      // repo-relative
            public var state: FileState
        }
        public var id: String
        public var title: String
        public var author: String
        public var recordedAt: Date?
        public var expires: String?
        public var expired: Bool
        public var state: PatchState
        public var files: [File]
    }

    public enum DriftKind: String, Sendable, Codable {
        case added, modified, deleted, mode, type
    }

    public struct Drift: Sendable, Equatable {
        public var path: String         // repo-relative
        public var kind: DriftKind
    }

    public struct Problem: Sendable, Equatable {
        public var path: String
        public var message: String
    }

    public struct Stats: Sendable {
        public var files = 0
        public var hashed = 0
        public var cacheHits = 0
        public var cacheDiscarded = false
        public var seconds = 0.0
    }

    public var app: String
    public var root: String
    public var deployedRevision: ObjectID
    public var revisionSource: String
    public var checkedAt: Date
    public var patches: [PatchResult]
    public var unregistered: [Drift]
    public var problems: [Problem]
    public var stats: Stats

    /// Nothing to report: every active patch applied and unexpired, no unregistered drift, no problem.
    public var isClean: Bool {
        patches.allSatisfy { $0.state == .applied && !$0.expired } && unregistered.isEmpty && problems.isEmpty
    }
}
