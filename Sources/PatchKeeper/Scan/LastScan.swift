import Git
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of the latest scan, kept in the registry's state directory so `list` and the motd
/// can show each patch's last known state without scanning again.
public struct LastScan: Codable, Sendable, Equatable {
    public var checkedAt: Date
    public var deployedRevision: String
    public var states: [String: String]
    public var unregistered: [String]
    /// When each finding was first seen, carried from scan to scan: "drift PATH" for an
    /// unregistered change, "patch ID STATE" for a patch not applied. Drift age.
    public var firstSeen: [String: Date]?
    /// Problems (unreadable files, patches that cannot be rebuilt) in the last scan.
    public var problems: Int?
    public var expired: [String]?

    /// Writes the scan's outcome and updates the public summary; returns what it wrote.
    @discardableResult
    public static func save(_ report: ScanReport, registry: Registry) throws -> LastScan {
        var value = LastScan(checkedAt: report.checkedAt, deployedRevision: report.deployedRevision.hex,
                             states: Dictionary(uniqueKeysWithValues: report.patches.map { ($0.id, $0.state.rawValue) }),
                             unregistered: report.unregistered.map(\.path))
        let keys = report.unregistered.map({ "drift \($0.path)" }) + report.patches.filter({ $0.state != .applied }).map({ "patch \($0.id) \($0.state.rawValue)" })
        // Nothing to carry over (a clean scan): the previous file is not read at all.
        let before = keys.isEmpty ? [:] : load(registry: registry)?.firstSeen ?? [:]
        var seen: [String: Date] = [:]
        for key in keys { seen[key] = before[key] ?? report.checkedAt }
        value.firstSeen = seen
        value.problems = report.problems.count
        value.expired = report.patches.filter(\.expired).map(\.id)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970
        let lock = try registry.lock(wait: 0, recover: false)
        defer { withExtendedLifetime(lock) {} }
        try registry.writeStateFile("last-scan.json", Array(try encoder.encode(value)), durable: false)
        registry.updateSummary { try PublicSummary.noteScan(registry, scan: value, now: report.checkedAt) }
        return value
    }

    /// The last scan, or nil when there is none or it does not read back.
    public static func load(registry: Registry) -> LastScan? {
        guard let data = registry.readStateFile("last-scan.json").map({ Data($0) }) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try? decoder.decode(LastScan.self, from: data)
    }
}

extension LastScan {
    /// The oldest unregistered change: its path and when it was first seen.
    public var oldestDrift: (path: String, since: Date)? {
        unregistered.compactMap { p in firstSeen?["drift \(p)"].map { (p, $0) } }.min { $0.1 < $1.1 }
    }
}
