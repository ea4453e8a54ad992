import Git
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// What a host says about one app besides its registry: the latest scan and gate, as JSON in the
/// parentless commit of `refs/patchkeeper/HOST/APP/summary` (force-updated: an hourly scan does
/// not grow history). Read by `patchkeeper fleet` as hostile input: every field is bounded and
/// optional there.
public struct FleetSummary: Codable, Sendable, Equatable {
    public struct Scan: Codable, Sendable, Equatable {
        public var checkedAt: String
        public var deployedRevision: String
        /// Patch-Id → state (applied, overwritten, modified, partial).
        public var states: [String: String]
        public var expired: [String]
        public var unregistered: Int
        /// The first 100 unregistered paths.
        public var unregisteredPaths: [String]
        public var problems: Int
    }

    public struct Gate: Codable, Sendable, Equatable {
        public var checkedAt: String
        public var target: String
        public var targetRevision: String
        public var policy: String
        public var blocked: Bool
        /// Patch-Id → result (upstreamed, reapplies, reapplies-renamed, conflicts, removed).
        public var results: [String: String]
        public var lost: Int

        public init(report: GateReport, now: Date) {
            checkedAt = Text.isoTimestamp(now)
            target = report.target
            targetRevision = report.targetRevision.hex
            policy = report.policy.rawValue
            blocked = report.isBlocked
            results = Dictionary(report.patches.map { ($0.id, $0.result.rawValue) }, uniquingKeysWith: { a, _ in a })
            lost = report.lost.count
        }
    }

    public var schemaVersion = 1
    public var host: String
    public var app: String
    public var publishedAt: String
    /// The registry commit this summary goes with.
    public var registryHead: String?
    public var scan: Scan?
    public var gate: Gate?

    public var conflicts: Int { gate?.results.values.filter { $0 == "conflicts" || $0 == "removed" }.count ?? 0 }

    static func scan(_ last: LastScan) -> Scan {
        Scan(checkedAt: Text.isoTimestamp(last.checkedAt), deployedRevision: last.deployedRevision, states: last.states,
             expired: last.expired ?? [], unregistered: last.unregistered.count, unregisteredPaths: Array(last.unregistered.prefix(100)),
             problems: last.problems ?? 0)
    }

    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        e.keyEncodingStrategy = .convertToSnakeCase
        return Array(try e.encode(self)) + [10]
    }

    public static func decode(_ bytes: [UInt8]) -> FleetSummary? {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return try? d.decode(FleetSummary.self, from: Data(bytes))
    }
}
