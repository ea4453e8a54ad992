#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// Where an app runs and what it was deployed from: root, repository, subdir, deployed revision.
/// Resolving it checks all of them and says what was tried when something is missing.
public final class Deployment {
    public enum RevisionSource: Sendable, Equatable, CustomStringConvertible {
        /// `--deployed` or the config's `deployed`.
        case flag
        case revisionFile(String)
        case rootHead

        public var description: String {
            switch self {
            case .flag: return "--deployed/config 'deployed'"
            case .revisionFile(let p): return p
            case .rootHead: return "HEAD of the root's .git"
            }
        }
    }

    public let app: AppConfig
    public let root: String
    public let repoPath: String
    public let repository: Repository
    /// The repo path the root corresponds to ("" for the repository's top).
    public let subdir: String
    public let revision: ObjectID
    public let revisionSource: RevisionSource
    public let registryPath: String

    public static let defaultRegistryDirectory = "/var/lib/patchkeeper"

    public init(app: AppConfig) throws {
        self.app = app
        guard let rawRoot = app.root else {
            throw PatchKeeperError("app '\(app.name)' has no root", hint: "set root = \"DIR\" under [apps.\(app.name)] or pass --root DIR")
        }
        let root = Self.absolute(rawRoot)
        guard POSIX.isDirectory(root) else {
            throw PatchKeeperError("app root \(root) does not exist or is not a directory", hint: "check --root or 'root' in the config")
        }
        self.root = root
        self.registryPath = Self.absolute(app.registry ?? "\(Self.defaultRegistryDirectory)/\(app.name)")
        self.subdir = try app.subdir.flatMap { $0.isEmpty || $0 == "." ? nil : try SafePath.relative($0, source: "subdir") } ?? ""

        GitSettings.setOwnerValidation(!app.trusted)
        let repoPath: String
        if let repo = app.repo {
            repoPath = Self.absolute(repo)
        } else if POSIX.exists(root + "/.git") {
            repoPath = root
        } else {
            throw PatchKeeperError("no git repository for app '\(app.name)': \(root) has no .git",
                                   hint: "pass --repo DIR or set repo = \"DIR\" in the config (a clone or bare mirror of the app)")
        }
        self.repoPath = repoPath
        do {
            repository = try Repository.open(atPath: repoPath)
        } catch let e as GitError {
            if e.isOwnerMismatch {
                throw PatchKeeperError("repository \(repoPath) is owned by another user and libgit2 refuses it",
                                       hint: "if you trust it, pass --trust-repo or set trusted = true under [apps.\(app.name)]")
            }
            throw PatchKeeperError("cannot open git repository \(repoPath): \(e.message)", hint: "check --repo or 'repo' in the config")
        }

        // Deployed revision: flag/config, REVISION file, root's HEAD.
        let revisionFile = root + "/REVISION"
        var spec: String?
        var source: RevisionSource?
        if let d = app.deployed {
            spec = d
            source = .flag
        } else if POSIX.exists(revisionFile) {
            // In the app user's reach: a commit id, so a few bytes; refused by size before reading.
            let text = String(decoding: try POSIX.readFile(revisionFile, limit: 4096), as: UTF8.self)
            let trimmed = Text.trimmedWhitespace(text)
            guard !trimmed.isEmpty else {
                throw PatchKeeperError("\(revisionFile) is empty", hint: "write the deployed commit id into it, or pass --deployed REV")
            }
            spec = trimmed
            source = .revisionFile(revisionFile)
        } else if repoPath == root {
            spec = "HEAD"
            source = .rootHead
        }
        guard let spec, let source else {
            throw PatchKeeperError("cannot tell which revision is deployed in \(root): tried --deployed, 'deployed' in the config, \(revisionFile), and a .git in the root",
                                   hint: "pass --deployed REV")
        }
        do {
            revision = try repository.resolveCommit(spec)
        } catch let e as GitError {
            let from = source == .flag ? "deployed revision '\(spec)'" : "\(source) names '\(Self.printable(spec))', which"
            throw PatchKeeperError("\(from) is not a commit in \(repoPath) (\(e.message))",
                                   hint: "fetch the repository, or pass --deployed REV")
        }
        revisionSource = source
    }

    /// The repo path of a root-relative path (prefixes `subdir`).
    public func repoPath(forRootRelative rel: String) -> String {
        subdir.isEmpty ? rel : subdir + "/" + rel
    }

    /// The root-relative path of a repo path, nil when it lies outside `subdir`.
    public func rootRelative(forRepoPath path: String) -> String? {
        if subdir.isEmpty { return path }
        return SafePath.strip(prefix: subdir, from: path).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The file at a repo path in the deployed revision (nil when absent; throws for a directory).
    public func deployedFile(repoPath path: String, at commit: ObjectID? = nil) throws -> FileVersion? {
        guard let entry = try repository.entry(atPath: path, inCommit: commit ?? revision) else { return nil }
        guard let mode = entry.mode, mode != .tree, mode != .gitlink else {
            throw PatchKeeperError("\(path) is a directory or submodule in revision \((commit ?? revision).short)", hint: "name the files in it")
        }
        return FileVersion(path: path, mode: mode, content: try repository.blob(entry.id))
    }

    /// The live file for a root-relative path, labelled with its repo path, in repository form:
    /// converted as `git add` would by the deployed revision's `.gitattributes` (eol=crlf files
    /// compare line by line with the blobs, not as whole-file rewrites).
    public func liveFile(rootRelative rel: String) throws -> FileVersion? {
        guard let raw = try rawLiveFile(rootRelative: rel) else { return nil }
        return try repositoryForm(raw)
    }

    /// The live file's bytes as they are on disk.
    public func rawLiveFile(rootRelative rel: String) throws -> FileVersion? {
        try LiveTree.read(root: root, relativePath: rel, repoPath: repoPath(forRootRelative: rel))
    }

    /// Whether the deployed part of the tree (the root's subdirectory of the revision) holds a
    /// `.gitattributes` file. Only then are live files converted: a deploy of `REV:subdir` (as
    /// Capistrano's `git archive` does it) never applies attributes from outside the subdirectory,
    /// so neither does patchkeeper.
    public var hasAttributes: Bool { !attributeFiles.isEmpty }

    /// The deployed subdirectory's `.gitattributes` files, by their paths relative to it: the only
    /// attributes a conversion uses (not the ones above the subdirectory, not the app
    /// repository's `info/attributes` or its config's `core.attributesFile`).
    private lazy var attributeFiles: [FileVersion] = {
        guard let tree = try? repository.flatTree(commit: revision, prefix: subdir) else { return [] }
        return Self.attributeFiles(in: tree.files, repository: repository)
    }()

    private static func attributeFiles(in files: [FlatEntry], repository: Repository) -> [FileVersion] {
        files.filter { $0.path.utf8.last == UInt8(ascii: "s") && ($0.path == ".gitattributes" || $0.path.hasSuffix("/.gitattributes"))
                       && $0.mode != .symlink && $0.mode != .gitlink }
            .compactMap { e in (try? repository.blob(e.id)).map { FileVersion(path: e.path, mode: .regular, content: $0) } }
    }

    /// Takes the `.gitattributes` files from a listing of the deployed subdirectory already read
    /// (`flatTree(commit: revision, prefix: subdir)`, as scan reads it), so it is not read twice.
    func useDeployedListing(_ files: [FlatEntry]) {
        attributeFiles = Self.attributeFiles(in: files, repository: repository)
    }

    private lazy var attributeRepository: MemoryRepository? = try? MemoryRepository()

    private func convert(_ file: FileVersion, toRepository: Bool) throws -> [UInt8] {
        guard let rel = rootRelative(forRepoPath: file.path) else { return file.content }
        do {
            guard let memory = attributeRepository else { throw GitError(code: -1, message: "no in-memory repository", operation: "convert") }
            return try memory.convert(file.content, path: rel, toRepository: toRepository, attributeFiles: attributeFiles)
        } catch let e as GitError {
            throw PatchKeeperError("cannot convert \(file.path) by the deployed revision's .gitattributes: \(e.message)")
        }
    }

    /// The bytes a checkout of the deployed subdirectory writes for blob `content` at `repoPath`
    /// (CRLF, `ident` with the blob's id), by the subdirectory's `.gitattributes` only.
    public func checkoutContent(_ content: [UInt8], repoPath path: String) throws -> [UInt8] {
        guard hasAttributes, let rel = rootRelative(forRepoPath: path) else { return content }
        do {
            guard let memory = attributeRepository else { throw GitError(code: -1, message: "no in-memory repository", operation: "convert") }
            return try memory.checkoutContent(content, path: rel, attributeFiles: attributeFiles)
        } catch let e as GitError {
            throw PatchKeeperError("cannot convert \(path) by the deployed revision's .gitattributes: \(e.message)")
        }
    }

    /// `file` (working-tree bytes) in repository form, by the deployed revision's attributes.
    public func repositoryForm(_ file: FileVersion) throws -> FileVersion {
        guard file.mode != .symlink, hasAttributes else { return file }
        var f = file
        f.content = try convert(file, toRepository: true)
        return f
    }

    /// `file` (repository form) as a checkout of the deployed revision writes it.
    /// Written as a checkout writes a blob (so `ident` expands with the blob's id, which a
    /// plain buffer conversion cannot know).
    public func workingTreeForm(_ file: FileVersion?) throws -> FileVersion? {
        guard var f = file, f.mode != .symlink, hasAttributes else { return file }
        f.content = try checkoutContent(f.content, repoPath: f.path)
        return f
    }

    /// An absolute path with `.`, `..` and repeated slashes folded (lexically: symlinks kept).
    public static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : POSIX.currentDirectory() + "/" + path
        var parts: [Substring] = []
        for part in full.slashParts() {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func printable(_ s: String) -> String {
        String(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) }.prefix(80))
    }
}

extension Deployment {
    /// Refuses a root-relative path inside the registry (when the registry lies inside the root):
    /// a patch must never edit patch files, images or the registry's `.git` behind its back.
    func refuseRegistryPath(_ rel: String, registry: Registry) throws {
        var prefixes: [String] = []
        for r in [Self.absolute(root), POSIX.realPath(root)].compactMap({ $0 }) {
            for g in [registry.path, POSIX.realPath(registry.path)].compactMap({ $0 }) {
                if let p = SafePath.strip(prefix: r, from: Self.absolute(g)), !p.isEmpty, !prefixes.contains(p) { prefixes.append(p) }
            }
        }
        for p in prefixes where rel == p || rel.hasPrefix(p + "/") {
            throw PatchKeeperError("\(root)/\(rel) lies inside the patch registry \(registry.path)",
                                   hint: "patchkeeper never changes the registry's own files through the root; nothing was written")
        }
    }
}
