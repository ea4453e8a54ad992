import Foundation
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

    public func blocks(_ p: PatchResult) -> Bool {
        switch policy {
        case .strict: return p.result != .upstreamed
        case .reapply: return p.result == .conflicts || p.result == .removed
        }
    }

    public var isBlocked: Bool { patches.contains(where: blocks) || !lost.isEmpty || !problems.isEmpty }
}

/// `gate`: predicts each patch's fate on a target revision by reading blobs straight from the
/// object database (no checkout): patch-id and `Commit:` trailers first, then content, then a
/// 3-way merge per file; renames come from one tree diff per patch base.
public struct DeployGate {
    let deployment: Deployment
    let registry: Registry

    public init(deployment: Deployment, registry: Registry) {
        self.deployment = deployment
        self.registry = registry
    }

    public func run(target spec: String, policy: GateReport.Policy, scan: ScanReport) throws -> GateReport {
        let repo = deployment.repository
        let target: ObjectID
        do { target = try repo.resolveCommit(spec) } catch let e as GitError {
            throw PatchKeeperError("target '\(Deployment.printable(spec))' is not a commit in \(deployment.repoPath) (\(e.message))",
                                   hint: "fetch the repository, or check the revision")
        }
        let targetTree = try repo.tree(of: target)
        let patches = try registry.load().filter { $0.status == .active }
        let projection = PatchProjection(repository: repo)
        var upstream = UpstreamIndex(repository: repo, target: target)
        var results: [GateReport.PatchResult] = []
        for p in patches {
            // Fast path (most patches): every file it changes is byte-identical in REV to the
            // patch's preimage, so REV neither has the change nor conflicts with it.
            let files = try p.files()
            if !files.isEmpty, try files.allSatisfy({ f in
                guard f.status == .modified, !f.oldID.isZero, let e = try targetTree.entry(f.path) else { return false }
                return e.id == f.oldID && e.mode == (f.oldMode ?? e.mode)
            }) {
                results.append(.init(id: p.id, title: p.subject, result: .reapplies, rule: nil, commit: nil,
                                     files: files.map { .init(path: $0.path, newPath: nil, result: .reapplies, detail: nil, conflicts: []) }))
                continue
            }
            if let (rule, commit) = try upstream.match(p) {
                let files = try p.files().map { GateReport.FileResult(path: $0.path, newPath: nil, result: .upstreamed, detail: nil, conflicts: []) }
                results.append(.init(id: p.id, title: p.subject, result: .upstreamed, rule: rule, commit: commit, files: files))
                continue
            }
            let base = p.base.flatMap { try? repo.tree(of: $0) }
            let renames = try upstream.renames(from: p.base)
            let plans = try projection.plan(p, other: { try targetTree.file($0) }, live: { path in
                deployment.rootRelative(forRepoPath: path).flatMap { try? deployment.liveFile(rootRelative: $0) }
            }, renames: renames, base: base)
            results.append(Self.summarize(p, plans))
        }
        return GateReport(app: deployment.app.name, deployedRevision: deployment.revision, target: spec, targetRevision: target,
                          policy: policy, patches: results, lost: scan.unregistered, problems: scan.problems)
    }

    static func summarize(_ p: PatchFile, _ plans: [PatchProjection.FilePlan]) -> GateReport.PatchResult {
        let files = plans.map { plan -> GateReport.FileResult in
            switch plan.outcome {
            case .upstreamed: return .init(path: plan.file.path, newPath: plan.renamedFrom == nil ? nil : plan.path, result: .upstreamed, detail: plan.detail, conflicts: [])
            case .removed: return .init(path: plan.file.path, newPath: nil, result: .removed, detail: plan.detail, conflicts: [])
            case .conflicts(let c): return .init(path: plan.file.path, newPath: plan.renamedFrom == nil ? nil : plan.path, result: .conflicts, detail: plan.detail, conflicts: c)
            case .reapplies:
                return .init(path: plan.file.path, newPath: plan.renamedFrom == nil ? nil : plan.path,
                             result: plan.renamedFrom == nil ? .reapplies : .reappliesRenamed, detail: plan.detail, conflicts: [])
            }
        }
        let set = Set(files.map(\.result))
        let result: GateReport.Result
        if set == [.upstreamed] { result = .upstreamed }
        else if set.contains(.conflicts) { result = .conflicts }
        else if set.contains(.removed) { result = .removed }
        else if set.contains(.reappliesRenamed) { result = .reappliesRenamed }
        else { result = .reapplies }
        return .init(id: p.id, title: p.subject, result: result, rule: result == .upstreamed ? "content" : nil, commit: nil, files: files)
    }
}

/// Upstream evidence between a patch's base and a target: patch-ids of the commits in base..target
/// (as `git cherry` does) and the `Commit:` trailer's ancestry. Computed once per distinct base.
struct UpstreamIndex {
    let repository: Repository
    let target: ObjectID
    private var patchIDs: [ObjectID: [ObjectID: ObjectID]] = [:]
    private var renameMaps: [ObjectID: [String: String]] = [:]

    init(repository: Repository, target: ObjectID) {
        self.repository = repository
        self.target = target
    }

    /// ("patch-id" | "commit", the commit) when the patch is already in the target's history.
    mutating func match(_ p: PatchFile) throws -> (String, ObjectID)? {
        if let base = p.base, repository.contains(base), let id = try? PatchParser.patchID(p.diffText) {
            if patchIDs[base] == nil { patchIDs[base] = (try? repository.patchIDs(from: base, to: target)) ?? [:] }
            if let commit = patchIDs[base]?[id] { return ("patch-id", commit) }
        }
        if let c = p.trailer("Commit").flatMap({ try? repository.resolveCommit($0) }),
           (try? repository.isAncestor(c, of: target)) == true {
            return ("commit", c)
        }
        return nil
    }

    mutating func renames(from base: ObjectID?) throws -> [String: String] {
        guard let base, repository.contains(base) else { return [:] }
        if let known = renameMaps[base] { return known }
        let map = (try? repository.renames(from: base, to: target)) ?? [:]
        renameMaps[base] = map
        return map
    }
}
