#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// `fleet gate --target REV`: what deploying REV would do on every host, decided once per
/// distinct patch and base with the same procedure as `gate` (`PatchDecider`), from the images
/// the hosts published and the app repository given here, then mapped to the hosts.
///
/// Where that would be a guess, the verdict is "decide on the host" (and blocks): a patch whose
/// secret paths were redacted, a patch sharing a file with another patch on the same host (the
/// chain depends on the host's order), no published scan or a stale one (the drift is unknown).
public struct FleetGateReport: Sendable {
    public static let decideOnHost = "decide-on-host"

    public struct PatchVerdict: Sendable {
        public var key: String
        public var titles: [String]
        /// verdict (a `GateReport.Result` or `decide-on-host`) → "host/app", sorted.
        public var verdicts: [String: [String]]
        /// Why some hosts must decide themselves.
        public var notes: [String]
    }

    public struct HostPatch: Sendable {
        public var id: String
        public var title: String
        public var key: String
        public var verdict: String
        public var blocks: Bool
        public var expired: Bool
        public var detail: String?
    }

    public struct HostVerdict: Sendable {
        public var host: String
        public var app: String
        public var patches: [HostPatch]
        public var unregistered: Int?
        /// Reasons this host's deploy is blocked (empty: safe).
        public var reasons: [String]
        /// How old the host's last published scan is (nil: none): the verdict holds as of then.
        public var scanAge: TimeInterval?
        public var blocked: Bool { !reasons.isEmpty }
        /// "as of scan 12m ago" (or "no scan").
        public var asOf: String {
            guard let scanAge else { return "no scan" }
            return "as of scan \(Text.shortAge(since: Date(timeIntervalSince1970: 0), now: Date(timeIntervalSince1970: max(0, scanAge)))) ago"
        }
    }

    public var app: String?
    public var target: String
    public var targetRevision: ObjectID
    public var policy: GateReport.Policy
    public var patches: [PatchVerdict]
    public var hosts: [HostVerdict]
    /// How many (patch, base) pairs the decision procedure ran for.
    public var decisions: Int
    public var isBlocked: Bool { hosts.contains(where: \.blocked) }
}

public enum FleetGate {
    public static func run(fleet: Fleet, cache: FleetCache, repository repoPath: String, trusted: Bool, target spec: String,
                           policy: GateReport.Policy, app: String?, allowExpired: Bool, staleAfter: TimeInterval, now: Date) throws -> FleetGateReport {
        let apps = Set(fleet.members.map(\.app))
        if app == nil, apps.count > 1 {
            throw PatchKeeperError("the fleet holds \(apps.count) apps (\(apps.sorted().prefix(5).joined(separator: ", ")))); a gate is for one app's repository",
                                   hint: "pass --app NAME")
        }
        GitSettings.setOwnerValidation(!trusted)
        let repo: Repository
        do { repo = try Repository.open(atPath: repoPath) } catch let e as GitError {
            if e.isOwnerMismatch { throw PatchKeeperError("repository \(repoPath) is owned by another user and libgit2 refuses it", hint: "pass --trust-repo if you trust it") }
            throw PatchKeeperError("cannot open repository \(repoPath): \(e.message)", hint: "pass --repo with a clone of the app's repository")
        }
        let target: ObjectID
        do { target = try repo.resolveCommit(spec) } catch let e as GitError {
            throw PatchKeeperError("target '\(Deployment.printable(spec))' is not a commit in \(repoPath) (\(e.message))", hint: "fetch the repository, or check the revision")
        }
        var decider = try PatchDecider(repository: repo, images: cache.repository, target: target,
                                       targetLabel: "\(Text.singleLine(spec)) (\(target.short))")
        // Keyed by base and exact diff text (the same content on many hosts parses and decides once).
        var decided: [String: (GateReport.Result, String?)] = [:]
        var parsedDiffs: [String: [ParsedFilePatch]?] = [:]
        var verdicts: [String: (titles: Set<String>, verdicts: [String: [String]], notes: Set<String>)] = [:]
        var hosts: [FleetGateReport.HostVerdict] = []
        for m in fleet.members where app == nil || m.app == app {
            var hv = FleetGateReport.HostVerdict(host: m.host, app: m.app, patches: [], unregistered: m.summary?.scan?.unregistered, reasons: [])
            // Paths touched by more than one active patch on this host.
            var touching: [String: Int] = [:]
            // By position: a hostile host may repeat a Patch-Id.
            var filesOf: [[ParsedFilePatch]?] = Array(repeating: nil, count: m.patches.count)
            var diffOf: [String?] = Array(repeating: nil, count: m.patches.count)
            for (i, p) in m.patches.enumerated() where p.redacted.isEmpty {
                let diff = FleetCache.diffPart(p.file)
                diffOf[i] = diff
                if parsedDiffs[diff] == nil { parsedDiffs[diff] = .some(try? p.file.files()) }
                guard let files = parsedDiffs[diff] ?? nil else { continue }
                filesOf[i] = files
                for path in Set(files.flatMap { [$0.oldPath, $0.newPath] }.filter { !$0.isEmpty }) { touching[path, default: 0] += 1 }
            }
            for (i, p) in m.patches.enumerated() {
                var result: String
                var detail: String?
                if !p.redacted.isEmpty {
                    result = FleetGateReport.decideOnHost
                    detail = "secret paths redacted (\(p.redacted.joined(separator: ", "))): run 'patchkeeper gate' on the host"
                } else if let files = filesOf[i] {
                    let shared = files.flatMap { [$0.oldPath, $0.newPath] }.filter { !$0.isEmpty && (touching[$0] ?? 0) > 1 }
                    if let path = shared.first {
                        result = FleetGateReport.decideOnHost
                        detail = "another patch on this host changes \(path) too: the chain depends on the host's registry"
                    } else if let base = p.file.base {
                        let k = base.hex + "\n" + (diffOf[i] ?? p.key)
                        if decided[k] == nil {
                            let d = try decider.decide([p.file])
                            decided[k] = (d.first?.result ?? .conflicts, d.first?.files.compactMap(\.detail).first)
                        }
                        result = decided[k]!.0.rawValue
                        detail = decided[k]!.1
                    } else {
                        result = FleetGateReport.decideOnHost
                        detail = "no Base: trailer"
                    }
                } else {
                    result = FleetGateReport.decideOnHost
                    detail = "its diff does not parse"
                }
                let expired = p.isExpired(now: now)
                let blocks: Bool
                switch result {
                case FleetGateReport.decideOnHost: blocks = true
                case GateReport.Result.upstreamed.rawValue: blocks = false
                default:
                    if expired && !allowExpired { blocks = true } else {
                        switch policy {
                        case .strict: blocks = true
                        case .reapply: blocks = result == GateReport.Result.conflicts.rawValue || result == GateReport.Result.removed.rawValue
                        }
                    }
                }
                hv.patches.append(.init(id: p.id, title: p.title, key: p.key, verdict: result, blocks: blocks, expired: expired, detail: detail.map(Text.singleLine)))
                var v = verdicts[p.key] ?? ([], [:], [])
                v.titles.insert(p.title)
                v.verdicts[result, default: []].append("\(m.host)/\(m.app)")
                if result == FleetGateReport.decideOnHost, let detail { v.notes.insert(Text.singleLine(detail)) }
                verdicts[p.key] = v
            }
            let blocking = hv.patches.filter(\.blocks)
            if !blocking.isEmpty {
                hv.reasons.append(blocking.map { "\($0.id) \($0.verdict)" }.joined(separator: ", "))
            }
            if let seen = m.missingSince {
                hv.reasons.append("its refs disappeared from the remote (last seen \(seen)): decide on the host")
            } else if let scan = m.summary?.scan, let at = Text.parseISO(scan.checkedAt) {
                hv.scanAge = now.timeIntervalSince(at)
                // The host's own gate blocks on these (a FIFO, an unreadable file): so does this one.
                if scan.problems > 0 { hv.reasons.append("decide on the host (\(scan.problems) problem\(scan.problems == 1 ? "" : "s") in its last scan)") }
                if scan.unregistered > 0 { hv.reasons.append("\(scan.unregistered) unregistered change\(scan.unregistered == 1 ? "" : "s") would be lost") }
                if now.timeIntervalSince(at) > staleAfter { hv.reasons.append("last scan \(Text.shortAge(since: at, now: now)) ago is stale: decide on the host") }
            } else {
                hv.reasons.append("no scan published: the drift is unknown, decide on the host")
            }
            hosts.append(hv)
        }
        let patches = verdicts.map { key, v in
            FleetGateReport.PatchVerdict(key: key, titles: v.titles.sorted(), verdicts: v.verdicts.mapValues { $0.sorted() }, notes: v.notes.sorted())
        }.sorted { ($0.verdicts.values.reduce(0) { $0 + $1.count }, $1.key) > ($1.verdicts.values.reduce(0) { $0 + $1.count }, $0.key) }
        return FleetGateReport(app: app, target: spec, targetRevision: target, policy: policy, patches: patches, hosts: hosts, decisions: decided.count)
    }
}
