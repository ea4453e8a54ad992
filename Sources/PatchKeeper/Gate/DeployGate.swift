#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// What deploying a revision would do to each active patch and to the unregistered drift.
public struct GateReport: Sendable {
    public enum Result: String, Sendable, Codable {
        case upstreamed
        case reapplies
        case reappliesRenamed = "reapplies-renamed"
        case conflicts
        case removed
    }

    public enum Policy: String, Sendable, Codable, CaseIterable {
        /// Any patch that is not upstreamed, and any unregistered drift, blocks.
        case strict
        /// Only conflicts, removed files and unregistered drift block: `reapply` restores the rest.
        case reapply
    }

    public struct FileResult: Sendable {
        public var path: String
        public var newPath: String?
        public var result: Result
        public var detail: String?
        public var conflicts: [String]
    }

    public struct PatchResult: Sendable {
        public var id: String
        public var title: String
        public var result: Result
        /// How `upstreamed` was decided: "patch-id", "commit" or "content".
        public var rule: String?
        public var commit: ObjectID?
        public var files: [FileResult]
        /// Past its `Expires:` date.
        public var expired = false
        public var expires: String?
    }

    public var app: String
    public var deployedRevision: ObjectID
    public var target: String
    public var targetRevision: ObjectID
    public var policy: Policy
    public var patches: [PatchResult]
    /// Unregistered drift the deploy would overwrite.
    public var lost: [ScanReport.Drift]
    public var problems: [ScanReport.Problem]
    /// `--allow-expired`: an expired patch blocks only like any other.
    public var allowExpired = false

    public func blocks(_ p: PatchResult) -> Bool {
        // Expiry bites: a patch past its date that the deploy would carry on blocks under both
        // policies (renew it with 'edit --expires', retire it, or pass --allow-expired).
        if p.expired, !allowExpired, p.result != .upstreamed { return true }
        switch policy {
        case .strict: return p.result != .upstreamed
        case .reapply: return p.result == .conflicts || p.result == .removed
        }
    }

    public var isBlocked: Bool { patches.contains(where: blocks) || !lost.isEmpty || !problems.isEmpty }
}

/// `gate`: reapply's dry run against the target tree (`PatchDecider`, the same code and inputs
/// `reapply` uses), plus the unregistered drift a deploy would overwrite. Reads blobs straight
/// from the registry's and the repository's object databases: no checkout, no live file.
public struct DeployGate {
    let deployment: Deployment
    let registry: Registry

    public init(deployment: Deployment, registry: Registry) {
        self.deployment = deployment
        self.registry = registry
    }

    public func run(target spec: String, policy: GateReport.Policy, scan: ScanReport, allowExpired: Bool = false,
                    now: Date = Date()) throws -> GateReport {
        let repo = deployment.repository
        let target: ObjectID
        do { target = try repo.resolveCommit(spec) } catch let e as GitError {
            throw PatchKeeperError("target '\(Deployment.printable(spec))' is not a commit in \(deployment.repoPath) (\(e.message))",
                                   hint: "fetch the repository, or check the revision")
        }
        let patches = try registry.load().filter { $0.status == .active }
        var decider = try PatchDecider(repository: repo, registry: registry, target: target,
                                       targetLabel: "\(Text.singleLine(spec)) (\(target.short))")
        decider.deploys = { [deployment] in deployment.rootRelative(forRepoPath: $0) != nil }
        let results = try decider.decide(patches).map { d in
            var r = Self.result(d)
            r.expired = d.patch.isExpired(now: now)
            r.expires = d.patch.expires
            return r
        }
        var report = GateReport(app: deployment.app.name, deployedRevision: deployment.revision, target: spec, targetRevision: target,
                                policy: policy, patches: results, lost: scan.unregistered, problems: scan.problems)
        report.allowExpired = allowExpired
        return report
    }

    static func result(_ d: PatchDecider.Decision) -> GateReport.PatchResult {
        let files = d.files.map { f in
            GateReport.FileResult(path: f.file.path, newPath: f.renamedFrom == nil ? nil : f.path, result: f.result,
                                  detail: f.detail, conflicts: f.conflicts)
        }
        return .init(id: d.patch.id, title: d.patch.subject, result: d.result, rule: d.result == .upstreamed ? d.rule : nil,
                     commit: d.result == .upstreamed ? d.commit : nil, files: files)
    }
}
