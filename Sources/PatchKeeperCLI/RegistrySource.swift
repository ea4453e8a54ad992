#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import PatchKeeper

/// What a reading command works from: the registry itself, or, for a user who may not read the
/// private registry (0700), the metadata-only public summary beside it (DESIGN §9, "Readers who are not root").
enum RegistrySource {
    case registry(Registry)
    case summary(PublicSummary, path: String)

    static func open(_ app: AppConfig) throws -> RegistrySource {
        let path = GlobalOptions.registryPath(app)
        var dirStat = stat()
        if stat(path, &dirStat) == 0, (dirStat.st_mode & S_IFMT) == S_IFDIR, access(path, R_OK | X_OK) != 0 {
            if !app.publicSummary {
                throw PatchKeeperError("registry \(path) is private to its owner, and public_summary = false keeps its summary private too",
                                       hint: "run as the registry's owner (sudo)")
            }
            if let summary = try PublicSummary.load(registryPath: path) { return .summary(summary, path: path) }
            throw PatchKeeperError("registry \(path) is private to its owner and has no public summary (\(PublicSummary.path(registry: path)))",
                                   hint: "run as the registry's owner (sudo); every scan and registry write updates the summary")
        }
        // Reading needs no ownership trust for a user who is not root when root owns the
        // registry: that is the registry such a reader is meant to look at, and these commands
        // write nothing. A registry another user owns still needs --trust-repo (it may be
        // planted), and root keeps libgit2's owner check.
        var st = stat()
        let trusted = app.trusted || (geteuid() != 0 && lstat(path, &st) == 0 && st.st_uid == 0)
        return .registry(try Registry(path: path, trusted: trusted, app: app.nameFromRegistryPath ? nil : app.name,
                                      publishesSummary: app.publicSummary))
    }

    var registryPath: String {
        switch self {
        case .registry(let r): r.path
        case .summary(let s, let path): s.registry.isEmpty ? path : s.registry
        }
    }

    func patches() throws -> [PatchFile] {
        switch self {
        case .registry(let r): try r.load()
        case .summary(let s, _): s.patches.map(\.patchFile)
        }
    }

    var lastScan: LastScan? {
        switch self {
        case .registry(let r):
            // A reader who may enter the registry but not its private state directory: the
            // last scan from the public summary.
            LastScan.load(registry: r) ?? (r.publishesSummary == false ? nil : (try? PublicSummary.load(registryPath: r.path))??.lastScan)
        case .summary(let s, _): s.lastScan
        }
    }

    /// Registry files edited by hand and not committed (unknown from the summary: empty), and
    /// why they could not be told (then nobody may take the registry for clean).
    var handEdits: (files: [String], error: String?) {
        guard case .registry(let r) = self else { return ([], nil) }
        do { return (try r.handEdits(), nil) } catch { return ([], "\(error)") }
    }

    /// The number of files `patch` touches, nil when it cannot be told.
    func fileCount(_ patch: PatchFile) -> Int? {
        switch self {
        case .registry: (try? patch.files().count)
        case .summary(let s, _): s.patches.first { $0.fileName == patch.fileName }?.files.count
        }
    }

    func find(_ idOrName: String, in patches: [PatchFile]) throws -> PatchFile {
        try Registry.find(idOrName, in: patches, registry: registryPath)
    }

    func dto(_ patch: PatchFile, now: Date) throws -> PatchDTO {
        if case .summary(let s, _) = self, let entry = s.patches.first(where: { $0.fileName == patch.fileName }) {
            return try PatchDTO(summary: entry, now: now)
        }
        return try PatchDTO(patch, now: now)
    }

    /// Registry commits, newest first (the summary keeps the latest 200).
    func history(fileName: String? = nil) throws -> [Registry.Entry] {
        switch self {
        case .registry(let r): return try r.history(fileName: fileName)
        case .summary(let s, _):
            return s.log.compactMap(\.entry).filter { fileName == nil || $0.files.contains(fileName!) }
        }
    }

    /// A line for text output saying where the data came from, nil for the registry itself.
    var note: String? {
        guard case .summary(let s, _) = self else { return nil }
        return "from the public summary written \(Text.isoTimestamp(s.writtenAt)): the registry is readable by its owner only (sudo shows the diffs)"
    }

    /// For JSON: "public-summary" when read from the summary.
    var sourceName: String? {
        if case .summary = self { return "public-summary" }
        return nil
    }
}
