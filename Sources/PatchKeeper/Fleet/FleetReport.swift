#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `patchkeeper fleet`: every distinct hot patch across the fleet (grouped by content, so the
/// same fix on 312 hosts is one row) and every host and app.
public struct FleetReport: Sendable {
    public struct PatchRow: Sendable {
        /// The content's patch-id (see `Fleet.Patch.key`).
        public var key: String
        public var titles: [String]
        public var tickets: [String]
        /// "host/app", sorted.
        public var hosts: [String]
        /// The registry ids the hosts gave it ("0007"), sorted.
        public var ids: [String]
        /// applied / overwritten / modified / partial / unscanned → number of hosts.
        public var states: [String: Int]
        public var expired: Int { expiredHosts.count }
        /// The hosts ("host/app", sorted) on which it is past its expiry.
        public var expiredHosts: [String]
        /// The earliest recording date.
        public var oldest: Date?
        /// Other keys with one of these titles or tickets: the same fix with different content.
        public var variants: [String]
        /// The patch-id ignores whitespace: when the hosts' diffs of this row differ (an indent in
        /// YAML is a different fix), the hosts of each distinct text ("host/app", sorted), largest
        /// first; empty when they all have the same text.
        public var textVariants: [[String]]
        public var redacted: Bool
    }

    public struct HostRow: Sendable {
        public var host: String
        public var app: String
        public var deployedRevision: String?
        public var lastScan: Date?
        public var stale: Bool
        public var patches: Int
        public var states: [String: Int]
        public var expired: Int { expiredIDs.count }
        /// Ids of the active patches past their Expires date.
        public var expiredIDs: [String]
        public var unregistered: Int?
        /// Patches the last gate found conflicting or removed (nil: no gate published).
        public var conflicts: Int?
        public var gateTarget: String?
        public var problems: [String]
        /// Problems the host's last published scan had (its own gate blocks on them); nil without one.
        public var scanProblems: Int? = nil
    }

    public var patches: [PatchRow]
    public var hosts: [HostRow]
    public var ignoredRefs: [String]
    public var staleAfter: TimeInterval

    public static let states = ["applied", "overwritten", "modified", "partial", "unscanned"]

    public init(fleet: Fleet, now: Date, staleAfter: TimeInterval) {
        self.staleAfter = staleAfter
        ignoredRefs = fleet.ignoredRefs
        var groups: [String: [Fleet.Patch]] = [:]
        var hostRows: [HostRow] = []
        var stateOf: [String: String] = [:]   // "host/app/id" → state
        for m in fleet.members {
            let scan = m.summary?.scan
            let checked = scan.flatMap { Text.parseISO($0.checkedAt) }
            var row = HostRow(host: m.host, app: m.app, deployedRevision: scan.map { Text.singleLine(String($0.deployedRevision.prefix(40))) },
                              lastScan: checked, stale: checked.map { now.timeIntervalSince($0) > staleAfter } ?? true,
                              patches: m.patches.count, states: [:], expiredIDs: [], unregistered: scan?.unregistered,
                              conflicts: m.summary?.gate.map { _ in m.summary!.conflicts }, gateTarget: m.summary?.gate.map { Text.singleLine($0.target) },
                              problems: m.problems)
            if m.registryTip == nil && m.missingSince == nil { row.problems.append("no registry published") }
            row.scanProblems = scan?.problems
            for p in m.patches {
                let state = scan?.states[p.id].flatMap { Self.states.contains($0) ? $0 : nil } ?? "unscanned"
                stateOf["\(m.host)/\(m.app)/\(p.id)"] = state
                row.states[state, default: 0] += 1
                if p.isExpired(now: now) { row.expiredIDs.append(p.id) }
                groups[p.key, default: []].append(p)
            }
            hostRows.append(row)
        }
        hosts = hostRows
        var byTitle: [String: Set<String>] = [:]
        var byTicket: [String: Set<String>] = [:]
        for (key, ps) in groups {
            for p in ps {
                byTitle[p.title, default: []].insert(key)
                if let t = p.ticket, !t.isEmpty { byTicket[t, default: []].insert(key) }
            }
        }
        patches = groups.map { key, ps in
            var states: [String: Int] = [:]
            for p in ps { states[stateOf["\(p.host)/\(p.app)/\(p.id)"] ?? "unscanned", default: 0] += 1 }
            let titles = Set(ps.map(\.title)).sorted()
            let tickets = Set(ps.compactMap(\.ticket).filter { !$0.isEmpty }).sorted()
            var variants = Set<String>()
            for t in titles { variants.formUnion(byTitle[t] ?? []) }
            for t in tickets { variants.formUnion(byTicket[t] ?? []) }
            variants.remove(key)
            // Redacted patches carry no text to compare (their diff was cut).
            var byText: [String: Set<String>] = [:]
            for p in ps where p.redacted.isEmpty { byText[FleetCache.diffPart(p.file), default: []].insert("\(p.host)/\(p.app)") }
            let textVariants = byText.count > 1 ? byText.values.map { $0.sorted() }.sorted { ($0.count, $1.first ?? "") > ($1.count, $0.first ?? "") } : []
            return PatchRow(key: key, titles: titles, tickets: tickets, hosts: Set(ps.map { "\($0.host)/\($0.app)" }).sorted(),
                            ids: Set(ps.map(\.id)).sorted(), states: states,
                            expiredHosts: Set(ps.filter { $0.isExpired(now: now) }.map { "\($0.host)/\($0.app)" }).sorted(),
                            oldest: ps.compactMap(\.date).min(), variants: variants.sorted(), textVariants: textVariants,
                            redacted: ps.contains { !$0.redacted.isEmpty })
        }.sorted { ($0.hosts.count, $1.key) > ($1.hosts.count, $0.key) }
    }

    /// Findings: a patch not applied somewhere, an expired one, a stale or drifting host, a conflict.
    public var hasFindings: Bool {
        hosts.contains { $0.stale || ($0.unregistered ?? 0) > 0 || ($0.conflicts ?? 0) > 0 || $0.expired > 0 || !$0.problems.isEmpty
            || ($0.scanProblems ?? 0) > 0 || $0.states.keys.contains { $0 != "applied" } }
    }
}

extension FleetReport {
    /// The fleet as Prometheus gauges with `host` and `app` labels (node_exporter's textfile
    /// collector), so existing dashboards alert on drift anywhere: every series is always present.
    public func prometheus(now: Date) -> String {
        var out = ""
        func gauge(_ name: String, _ help: String, _ samples: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for (labels, value) in samples { out += labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(labels)} \(value)\n" }
        }
        func l(_ h: HostRow) -> String { "host=\"\(Metrics.escapeLabel(h.host))\",app=\"\(Metrics.escapeLabel(h.app))\"" }
        gauge("patchkeeper_fleet_members", "Host and app pairs published to the fleet remote.", [("", String(hosts.count))])
        gauge("patchkeeper_fleet_distinct_patches", "Distinct active hot patches across the fleet (grouped by content).", [("", String(patches.count))])
        gauge("patchkeeper_fleet_patches", "Active patches on a host by the state its last published scan found.",
              hosts.flatMap { h in Self.states.map { s in (l(h) + ",state=\"\(s)\"", String(h.states[s] ?? 0)) } })
        gauge("patchkeeper_fleet_expired_patches", "Active patches past their Expires date.", hosts.map { (l($0), String($0.expired)) })
        gauge("patchkeeper_fleet_unregistered_changes", "Unregistered changes in the host's last published scan (-1: no scan).",
              hosts.map { (l($0), String($0.unregistered ?? -1)) })
        gauge("patchkeeper_fleet_conflicts", "Patches the host's last published gate found conflicting or on removed files (-1: no gate).",
              hosts.map { (l($0), String($0.conflicts ?? -1)) })
        gauge("patchkeeper_fleet_last_scan_timestamp_seconds", "Unix time of the host's last published scan (0: none).",
              hosts.map { (l($0), String(Int64($0.lastScan.map { $0.timeIntervalSince1970.rounded(.down) } ?? 0))) })
        gauge("patchkeeper_fleet_stale", "The host's last published scan is older than --stale-after, or missing (1).",
              hosts.map { (l($0), $0.stale ? "1" : "0") })
        return out
    }
}
