#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Git

/// `scan`: hashes the live tree as git blobs and compares it with the deployed revision's tree,
/// then decides each active patch's state and which drift no patch explains.
public struct TreeScanner {
    public struct Options: Sendable {
        public var useCache = true
        public var writeCache = true
        public var threads = Threads.cpuCount
        public var now = Date()
        /// Keep the large structures of the scan (the tree listing, the walk) alive for the rest
        /// of the process instead of freeing them entry by entry: for a command-line process that
        /// exits soon after (freeing 100k paths and their strings cost about a tenth of a warm scan).
        public var keepLargeStructures = false
        public init() {}
    }

    /// Library users may watch long scans: phase name, done, total.
    public typealias Progress = @Sendable (String, Int, Int) -> Void

    let deployment: Deployment
    let registry: Registry
    var options: Options
    var progress: Progress?
    /// Test hook: called for each file between its stat and its hashing.
    var beforeHash: (@Sendable (String) -> Void)?

    public init(deployment: Deployment, registry: Registry, options: Options = Options(), progress: Progress? = nil) {
        self.deployment = deployment
        self.registry = registry
        self.options = options
        self.progress = progress
    }

    /// Directories nested deeper than this below the root are not entered (a problem names the
    /// first one): a chain of thousands of empty directories made every scan slow.
    public static let maxDepth = 256

    public func scan() throws -> ScanReport {
        let started = Date()
        let root = deployment.root
        let repo = deployment.repository
        let tree: (files: DeployedFiles, directories: Set<String>)
        let treeKey = StatCache.treeKey(revision: deployment.revision, subdir: deployment.subdir)
        let listingPath = registry.stateDirectory + "/deployed-listing"
        var listingRead = false
        // The caches decide what a scan compares and what it skips: they are believed, and
        // written, only where the registry and its state directory are this user's and nobody
        // else may write them (a reader allowed another owner's registry gets a cold scan, never
        // that owner's word on the deployed tree; review: the registry's owner could swap a
        // root-owned `.patchkeeper` for one of their own).
        let ownState = registry.stateDirectoryIsOwn
        let useCache = options.useCache && ownState
        if useCache, let kept = DeployedListing.load(path: listingPath, key: treeKey) {
            tree = kept
        } else {
            do {
                var files = DeployedFiles()
                let dirs = try repo.flatTree(commit: deployment.revision, prefix: deployment.subdir) { path, id, raw in
                    files.paths.append(path)
                    files.ids.append(id)
                    files.rawModes.append(raw)
                }
                tree = (files, dirs)
                listingRead = true
            } catch let e as GitError {
                throw PatchKeeperError("cannot read the deployed tree \(deployment.revision.short):\(deployment.subdir): \(e.message)")
            }
        }
        deployment.useDeployedListing(tree.files.entries(where: { PathBytes.isFile($0, named: ".gitattributes") }))
        // path -> index into tree.files, built only when the stat cache cannot tell (a cold scan,
        // another deployed revision, a walk that parts ways with the cached one).
        let deployedIndex = LazyIndex(tree.files)
        var gitlinks = Set<[UInt8]>()  // raw bytes: a lossy `String` of an invalid name is another live name
        for t in tree.files.indices where tree.files.mode(t) == .gitlink { gitlinks.insert(tree.files.paths.withPath(t) { Array($0) }) }

        // Ignore rules. Whatever hides drift comes only from places the app's own user cannot
        // write: the config's `ignore` list and the deployed revision's tree (its
        // .patchkeeperignore for every path, its .gitignore files for paths the tree does not
        // have). The live tree's copies of those files are compared like any other file.
        let rules = deployment.app.ignore + deployedIgnoreFile(tree.files)
        let listOnly: IgnoreRules
        let untracked: UntrackedIgnores
        do {
            listOnly = try IgnoreRules(rulesOnly: rules)
            let gitignores = try IgnoreRules(rulesOnly: try deployedGitignoreRules(tree.files))
            untracked = UntrackedIgnores(listOnly: rules.isEmpty ? nil : listOnly, gitignores: gitignores, subdir: deployment.subdir)
        } catch let e as GitError {
            throw PatchKeeperError("cannot set up ignore rules: \(e.message)", hint: "check 'ignore' in the config and the deployed .patchkeeperignore and .gitignore files")
        }

        // The top's .git (a checkout's own repository) is never looked at; one further down is
        // drift like any other directory.
        var skip: Set<[UInt8]> = [Array(".git".utf8)]
        if case .revisionFile = deployment.revisionSource { skip.insert(Array("REVISION".utf8)) }
        if let rel = SafePath.strip(prefix: Deployment.absolute(root), from: registry.path), !rel.isEmpty { skip.insert(Array(rel.utf8)) }
        skip.formUnion(gitlinks)
        // Directory decisions come from several walker threads: one lock guards the ignore
        // handles (libgit2 handles are not shared across threads) and the skipped list.
        let decisions = DirectoryDecisions(tracked: tree.directories, listOnly: rules.isEmpty ? nil : listOnly, untracked: untracked)
        var walker = LiveWalker(root: root, skip: skip, threads: options.threads, maxDepth: Self.maxDepth) { dir in decisions.descend(dir) }

        // What the comparison needs hashed: files in the deployed tree, and any file an active
        // patch touches.
        let patches = try registry.load().filter { $0.status == .active }
        var patchPaths = Set<PathKey>()
        for p in patches {
            for key in try p.touchedPathKeys() { if let rel = deployment.rootRelative(forRepoPath: key.path) { patchPaths.insert(PathKey(rel)) } }
        }
        let patchFilter = PathFilter(patchPaths)
        let cachePath = registry.stateDirectory + "/statcache"
        // The cache is read after the walk (the two are not held at the walk's end together);
        // its header says now whether there will be stat data to trust.
        let probed = useCache ? StatCache.probe(path: cachePath, root: root) : (usable: false, discarded: false)
        if !probed.usable {
            // No stat data to trust: every file the comparison needs is hashed, so hash it at the
            // walk, on the directory descriptor and the walk's threads (see `BlobHasher`).
            let deployedPaths = tree.files.paths, index = deployedIndex.built()
            walker.hashing = .init(wanted: { path in
                patchFilter.contains(path) || deployedPaths.find(path, in: index) != nil
            }, beforeHash: beforeHash)
        }

        // 1. Walk.
        progress?("walking", 0, 0)
        var walked = walker.walk()
        let entries = walked.entries
        let paths = walked.paths
        let walkProblems = walked.problems
        let skippedDirs = decisions.skipped
        // Directories the walk could not read (reported as problems): their files are not "deleted".
        let unread = walkProblems.map { $0.path + "/" }
        // By bytes: `hasPrefix` on `String` takes another spelling of a skipped directory for it.
        let isSkipped = { (path: [UInt8]) -> Bool in
            skippedDirs.contains { path.starts(with: $0.utf8) } || unread.contains { path.starts(with: $0.utf8) }
        }

        // 2. Hash what the comparison needs and the walk has not hashed: files whose stat data
        //    does not match the cache.
        // Destructured so that `cache` holds the only reference: emptying it below frees it.
        var (cache, cacheDiscarded) = probed.usable ? StatCache.load(path: cachePath, root: root) : (StatCache(root: root), probed.discarded)
        let loadedCount = cache.count
        let sameTree = cache.treeKey == treeKey
        var stats = ScanReport.Stats()
        stats.files = entries.count
        stats.cacheDiscarded = cacheDiscarded
        // The walk's ids when it hashed (moved out, so that filling in more does not copy them).
        let hashedAtWalk = walker.hashing != nil
        var ids = hashedAtWalk ? walked.ids : [ObjectID?](repeating: nil, count: entries.count)
        walked.ids = []
        var walkHashed = 0
        var walkOutcomes: [(Int, HashOutcome)] = []
        var treeIndex = [Int](repeating: -1, count: entries.count)
        var isPatchPath = [Bool](repeating: false, count: entries.count)
        var toHash: [Int] = []
        for (i, e) in entries.enumerated() {
            let row = paths.withPath(i) { p -> Int? in
                let row = loadedCount > 0 ? cache.row(for: p) : nil
                // The cached tree index is the deployed listing's when the cache was written for
                // this very commit and subdirectory (its path checked again); otherwise look it up.
                if let row, sameTree, case let t = cache.treeIndex(row: row), t < tree.files.count,
                   t < 0 || tree.files.paths.equals(t, p) {
                    treeIndex[i] = t
                } else {
                    treeIndex[i] = deployedIndex[p] ?? -1
                }
                isPatchPath[i] = patchFilter.contains(p)
                return row
            }
            if treeIndex[i] < 0 && !isPatchPath[i] { continue }
            if hashedAtWalk {
                if ids[i] != nil { walkHashed += 1; continue }
                if let o = walked.otherOutcomes[i] { walkHashed += 1; walkOutcomes.append((i, o)); continue }
            }
            if let row, let id = cache.lookup(e, row: row) { ids[i] = id; stats.cacheHits += 1 } else { toHash.append(i) }
        }
        let cacheInOrder = cache.inOrder
        cache = StatCache(root: root)  // no longer needed: free it before hashing
        // Deployed entries of the patches' paths (few): from the walk, or looked up.
        var deployedOfPatch: [PathKey: FlatEntry] = [:]
        for i in entries.indices where isPatchPath[i] && treeIndex[i] >= 0 { deployedOfPatch[PathKey(paths[i])] = tree.files[treeIndex[i]] }
        let deployed = { (path: String) -> FlatEntry? in
            if let d = deployedOfPatch[PathKey(path)] { return d }
            var path = path
            return path.withUTF8 { deployedIndex[UnsafeRawBufferPointer($0)] }.map { tree.files[$0] }
        }
        let hashed = hashInParallel(entries: entries, paths: paths, indices: toHash)
        // An entry gone between the listing and its fstatat is a problem (the walk cannot tell a
        // deletion from a rename away and back), unless nothing would have been said of it had it
        // stayed: an ignored file that is neither deployed nor a patch's (a pid file, an editor's
        // swap file coming and going in a tracked directory).
        let goneUnseen = { (path: String) -> Bool in
            if patchPaths.contains(PathKey(path)) { return false }
            if !rules.isEmpty && listOnly.isIgnored(path) { return true }
            return deployed(path) == nil && untracked.isIgnored(path)
        }
        var problems = walkProblems.compactMap { p -> ScanReport.Problem? in
            if p.gone && goneUnseen(p.path) { return nil }
            return ScanReport.Problem(path: deployment.repoPath(forRootRelative: p.path), message: p.message)
        }
        // A submodule's files are another repository's: say that they were not compared.
        for t in tree.files.indices where tree.files.mode(t) == .gitlink {
            problems.append(.init(path: deployment.repoPath(forRootRelative: tree.files.paths[t]),
                                  message: "submodule (commit \(tree.files.ids[t].short)): its files are not compared"))
        }
        var vanished = Set<Int>()
        func take(_ i: Int, _ outcome: HashOutcome) {
            switch outcome {
            case .id(let id): ids[i] = id
            case .vanished: vanished.insert(i)
            case .failed(let message):
                problems.append(.init(path: deployment.repoPath(forRootRelative: paths[i]), message: message))
            case .changed:
                problems.append(.init(path: deployment.repoPath(forRootRelative: paths[i]), message: "changed while it was being scanned; scan again"))
            }
        }
        for (k, i) in toHash.enumerated() { take(i, hashed[k]) }
        for (i, o) in walkOutcomes { take(i, o) }
        stats.hashed = toHash.count + walkHashed

        // 3. Compare with the deployed tree. Checkout filters (CRLF, ident) only apply where a
        //    deployed .gitattributes file says so (the filter reads attributes from the deployed
        //    commit only, never from the live tree).
        let hasAttributes = deployment.hasAttributes
        var live: [PathKey: (id: ObjectID?, kind: LiveEntry.Kind)] = [:]  // only files of active patches
        var seen = [Bool](repeating: false, count: tree.files.count)
        var drift: [ScanReport.Drift] = []
        for (i, e) in entries.enumerated() {
            if vanished.contains(i) { continue }  // gone since the walk: absent, like any deleted file
            if isPatchPath[i] {
                var id = ids[i]
                if hasAttributes, e.kind != .symlink, id != nil, let v = try? deployment.liveFile(rootRelative: paths[i]) {
                    id = try? v.blobID()  // patches hold repository form (eol=crlf files)
                }
                live[PathKey(paths[i])] = (id, e.kind)
            }
            if treeIndex[i] >= 0 { seen[treeIndex[i]] = true }
            guard treeIndex[i] >= 0 else {
                let path = paths[i]
                if untracked.isIgnored(path) { continue }
                if e.kind == .other {
                    // A FIFO, socket or device holds no content git could record: a problem to look
                    // at, not drift that `diff` and `record --all` would then fail to read. (On a
                    // patch's path the hashing step has reported it already.)
                    if !isPatchPath[i] { problems.append(.init(path: deployment.repoPath(forRootRelative: path), message: "not a regular file or symlink")) }
                } else {
                    drift.append(.init(path: path, kind: .added))
                }
                continue
            }
            guard let id = ids[i] else { continue }
            let t = treeIndex[i]
            let treeMode = tree.files.mode(t)
            let liveIsLink = e.kind == .symlink
            let treeIsLink = treeMode == .symlink
            var kind: ScanReport.DriftKind?
            if liveIsLink != treeIsLink || e.kind == .other {
                kind = .type
            } else if id != tree.files.ids[t], liveIsLink || !sameContent(paths[i], liveID: id, deployed: tree.files[t], attributes: hasAttributes) {
                kind = .modified
            } else if !liveIsLink, (e.kind == .executable) != (treeMode == .executable) {
                kind = .mode
            }
            if let kind, case let path = paths[i], !listOnly.isIgnored(path) { drift.append(.init(path: path, kind: kind)) }
        }
        for t in tree.files.indices where !seen[t] && tree.files.mode(t) != .gitlink {
            let raw = tree.files.paths.withPath(t) { Array($0) }, path = tree.files.paths[t]
            if !isSkipped(raw) && !skip.contains(raw) && !listOnly.isIgnored(path) { drift.append(.init(path: path, kind: .deleted)) }
        }

        // 4. Patch states; drift on files of active patches is theirs to explain — when the live
        //    file is one of the contents the patch stack gives it (the deployed file, or an active
        //    patch's postimage there). Anything else is an unregistered change on top.
        var results: [ScanReport.PatchResult] = []
        var explained = Set<PathKey>()
        let shared = sharedPaths(patches)
        let source = BlobSource([registry.repository, repo])
        var recorded: [PathKey: Image] = [:]
        var stackStates: [PathKey: Set<Image?>] = [:]  // root-relative path → contents the stack explains
        var unbuildable: [(PatchFile, String)] = []
        let baseTrees = BaseTrees(repo)
        // First every patch's images (registry order), then each path's chain of postimages: on
        // a file several patches share, patch k is applied when the live file is its postimage
        // or a later patch's there (the later ones are stacked on it).
        var imaged: [(PatchFile, [(ParsedFilePatch, PatchImages.File?)])] = []
        for p in patches {
            let base = p.base.flatMap { baseTrees.tree($0) }
            let logical = PatchImages.logicalFiles(try p.files())
            imaged.append((p, (try? PatchImages.images(of: p, source: source, recorded: &recorded, base: base)) ?? logical.map { ($0, nil) }))
        }
        var laterPosts: [PathKey: [(Int, Image?)]] = [:]  // root-relative path → (patch index, postimage)
        for (k, (_, images)) in imaged.enumerated() {
            for (f, img) in images {
                guard let rel = deployment.rootRelative(forRepoPath: f.path) else { continue }
                laterPosts[PathKey(rel), default: []].append((k, img.map { $0.post } ?? (f.status == .deleted ? nil : Image(id: f.newID, mode: f.newMode ?? .regular))))
            }
        }
        var hunksVerified = Set<ObjectID>()
        for (k, (p, images)) in imaged.enumerated() {
            var files: [ScanReport.PatchResult.File] = []
            var hunksMakeAll = !p.hunksVerified
            for (parsed, img) in images {
                var f = parsed
                // (An earlier scan found these exact hunks to make f.newID: nothing to check.)
                let made = p.hunksVerified ? nil : Self.hunksMake(f, repository: repo)
                if made.map({ $0 != f.newID }) ?? !Self.hunksNotChecked(f) {
                    hunksMakeAll = false  // made another blob, or the preimage is missing, or the hunks do not apply
                }
                // The note lets gate and reapply skip their own check (`PatchDecider.handEdited`),
                // which also judges a text file whose index line has no preimage id (its preimage
                // then comes from an earlier patch or the Base tree): a file not checked here is
                // not noted (a hand edit that zeroed the preimage id and changed the hunks passed).
                if made == nil, !f.isBinary, !f.hunks.isEmpty, f.status != .deleted, !f.newID.isZero { hunksMakeAll = false }
                if let made, made != f.newID {
                    // A registry file edited by hand: judge by what its hunks make, and say so.
                    problems.append(.init(path: f.path, message: "\(p.fileName): the index line says the patch makes blob \(f.newID.short), but its hunks make \(made.short); re-record the patch or fix the index line"))
                    f.newID = made
                }
                if img == nil { unbuildable.append((p, f.path)) }
                guard let rel = deployment.rootRelative(forRepoPath: f.path) else {
                    files.append(.init(path: f.path, state: .missing))
                    continue
                }
                let key = PathKey(rel)
                var state = try fileState(f, rel: rel, live: live[key], deployed: deployed(rel), shared: shared.contains(PathKey(f.path)))
                if state != .applied, shared.contains(PathKey(f.path)), let l = live[key], let id = l.id {
                    let now = Image(id: id, mode: l.kind == .symlink ? .symlink : l.kind == .executable ? .executable : .regular)
                    if (laterPosts[key] ?? []).contains(where: { $0.0 >= k && $0.1 == now }) { state = .applied }
                }
                files.append(.init(path: f.path, state: state))
                var allowed = stackStates[key] ?? [deployed(rel).map { Image(id: $0.id, mode: $0.mode ?? .regular) }]
                if let img { allowed.insert(img.post) } else { allowed.insert(f.status == .deleted ? nil : Image(id: f.newID, mode: f.newMode ?? .regular)) }
                stackStates[key] = allowed
                if f.status == .renamed, let old = deployment.rootRelative(forRepoPath: f.oldPath) { explained.insert(PathKey(old)) }
            }
            let states = Set(files.map(\.state))
            let state: ScanReport.PatchState
            if states == [.applied] { state = .applied }
            else if states == [.overwritten] { state = .overwritten }
            else if states.contains(.modified) || states.contains(.missing) { state = .modified }
            else { state = .partial }
            results.append(.init(id: p.id, title: p.subject, author: p.author.name, recordedAt: p.date, expires: p.expires,
                                 expired: p.isExpired(now: options.now), state: state, files: files))
            if hunksMakeAll, let id = p.contentID { hunksVerified.insert(id) }
        }
        registry.noteHunksVerified(hunksVerified)
        for (key, allowed) in stackStates {
            let rel = key.path
            let now: Image? = live[key].flatMap { l in
                l.id.map { Image(id: $0, mode: l.kind == .symlink ? .symlink : l.kind == .executable ? .executable : .regular) }
            }
            if live[key] != nil && now == nil { explained.insert(key); continue }  // not hashed: reported as a problem already
            if allowed.contains(now) {
                explained.insert(key)
            } else if !drift.contains(where: { $0.path.utf8.elementsEqual(rel.utf8) }) {
                drift.append(.init(path: rel, kind: now == nil ? .deleted : .modified))
            }
        }
        // A registry written before images existed is upgraded from what is still there (a live
        // file that carries the patch, checked by id); what stays missing is a finding now, so
        // gate blocks before the deploy rather than reapply failing after it.
        if !unbuildable.isEmpty {
            if options.writeCache, let lock = try? registry.lock(wait: 0, recover: false) {
                let still = registry.missingImages(patches, repository: repo, live: { path in
                    guard let rel = deployment.rootRelative(forRepoPath: path) else { return nil }
                    return (try? deployment.liveFile(rootRelative: rel))??.content
                }, now: options.now)
                unbuildable = still
                withExtendedLifetime(lock) {}
            }
            for (p, path) in unbuildable {
                problems.append(.init(path: path, message: "\(p.fileName): cannot be rebuilt from the registry (its pre- or postimage is in no repository); a deploy would lose it: retire it and record it again while the live file still carries it"))
            }
        }
        do {
            for file in try registry.handEdits() {
                let fix = registry.handEditCommands(file)
                problems.append(.init(path: registry.path + "/" + file,
                                      message: "uncommitted change in the registry (edited by hand?): commit it with a reason (\(fix.commit)), or undo it (\(fix.undo))"))
            }
        } catch let e as PatchKeeperError {
            problems.append(.init(path: registry.path, message: e.description))
        }
        let unregistered = drift.filter { !explained.contains(PathKey($0.path)) }
            .map { ScanReport.Drift(path: deployment.repoPath(forRootRelative: $0.path), kind: $0.kind) }
            .sorted { $0.path < $1.path }

        // 5. Remember stat data for the next scan (best effort: a held lock just skips it).
        // Nothing hashed and nothing gone: the cache on disk is already right.
        // (Every walked entry met its own row in order, under the same deployed tree, and every
        // id it needed was a hit: the rows, their ids and tree indexes are what a write would give.)
        let unchanged = toHash.isEmpty && walkHashed == 0 && !cacheDiscarded && sameTree && loadedCount == entries.count && cacheInOrder == entries.count
        if options.writeCache, ownState, listingRead, let bytes = DeployedListing.serialized(key: treeKey, files: tree.files, directories: tree.directories),
           let lock = try? registry.lock(wait: 0, recover: false) {
            try? registry.writeStateFile("deployed-listing", bytes, durable: false)
            withExtendedLifetime(lock) {}
        }
        if options.writeCache, ownState, !unchanged, let lock = try? registry.lock(wait: 0, recover: false) {
            let now = Int64(Date().timeIntervalSince1970 * 1e9)
            try? registry.writeStateFile("statcache", StatCache.serialized(root: root, treeKey: treeKey, now: now, entries: entries, paths: paths, ids: ids, treeIndex: treeIndex),
                                         durable: false)
            withExtendedLifetime(lock) {}
        }
        stats.seconds = Date().timeIntervalSince(started)
        if options.keepLargeStructures {
            KeptAlive.keep([tree, entries, paths, ids, treeIndex, walked, deployedIndex, decisions, seen])
        }
        return ScanReport(app: deployment.app.name, root: root, deployedRevision: deployment.revision,
                          revisionSource: deployment.revisionSource.description, checkedAt: options.now,
                          patches: results, unregistered: unregistered,
                          problems: problems.sorted { $0.path < $1.path }, stats: stats)
    }

    /// The rules of the deployed tree's `.patchkeeperignore` at the root (none when absent).
    func deployedIgnoreFile(_ files: DeployedFiles) -> [String] {
        guard let e = files.entries(where: { PathBytes.equals($0, ".patchkeeperignore") }).first, e.mode == .regular || e.mode == .executable,
              let bytes = try? deployment.repository.blob(e.id) else { return [] }
        // Split on the scalar: "\r\n" is one Character.
        return String(decoding: bytes, as: UTF8.self).unicodeScalars.split(separator: "\n")
            .map { String(String.UnicodeScalarView($0.filter { $0 != "\0" && $0 != "\r" })) }
    }

    /// The rules of the deployed revision's `.gitignore` files that can match under the root:
    /// those in the root's parent directories (up to the repository's top) and those inside it,
    /// shallowest first, each scoped to its own directory and matching repo paths.
    func deployedGitignoreRules(_ files: DeployedFiles) throws -> [String] {
        var sources: [(dir: String, id: ObjectID)] = []
        let repo = deployment.repository
        let subdir = deployment.subdir
        if !subdir.isEmpty {
            let parts = subdir.slashParts().map(String.init)
            for n in 0..<parts.count {
                let dir = parts.prefix(n).joined(separator: "/")
                let path = dir.isEmpty ? ".gitignore" : dir + "/.gitignore"
                if let e = try? repo.entry(atPath: path, inCommit: deployment.revision), e.mode == .regular || e.mode == .executable {
                    sources.append((dir, e.id))
                }
            }
        }
        for e in files.entries(where: { PathBytes.isFile($0, named: ".gitignore") }) where e.mode == .regular || e.mode == .executable {
            let dir = POSIX.parentDirectory(e.path)
            sources.append((dir == "." ? deployment.subdir : deployment.repoPath(forRootRelative: dir), e.id))
        }
        sources.sort { depth($0.dir) < depth($1.dir) || (depth($0.dir) == depth($1.dir) && $0.dir < $1.dir) }
        var rules: [String] = []
        for s in sources {
            guard let bytes = try? repo.blob(s.id) else { continue }
            rules += IgnoreRules.scopedRules(gitignore: String(decoding: bytes, as: UTF8.self), directory: s.dir)
        }
        return rules
    }

    private func depth(_ dir: String) -> Int { dir.isEmpty ? 0 : dir.slashParts().count }

    /// Whether a regular live file whose blob id differs from the deployed one still holds what
    /// the deploy wrote: the deployed blob after checkout filters (CRLF, `ident`, by the deployed
    /// .gitattributes), or the object a Git LFS pointer names (sha256 and size).
    func sameContent(_ rel: String, liveID: ObjectID, deployed d: FlatEntry, attributes: Bool) -> Bool {
        let repo = deployment.repository
        if attributes {
            // By the deployed subdirectory's attributes only, as reapply writes and the deploy
            // (`git archive REV:subdir`) wrote: never the ones above it or the repository's own.
            if let blob = try? repo.blob(d.id), let bytes = try? deployment.checkoutContent(blob, repoPath: deployment.repoPath(forRootRelative: rel)),
               let id = try? ObjectID.hashBlob(bytes), id == liveID { return true }
        }
        if let size = repo.objectSize(d.id), size <= LFSPointer.maxSize, let bytes = try? repo.blob(d.id), let pointer = LFSPointer(bytes) {
            return pointer.matches(file: deployment.root + "/" + rel)
        }
        return false
    }

    /// The files `hunksMake` does not check (binary, no hunks, a deletion, no postimage id, a
    /// missing preimage id that is not a creation): the same files `PatchDecider.handEdited` skips.
    static func hunksNotChecked(_ f: ParsedFilePatch) -> Bool {
        f.isBinary || f.hunks.isEmpty || f.newID.isZero || f.status == .deleted || (f.oldID.isZero && f.status != .added)
    }

    /// The blob id a text patch's hunks make from its preimage (looked up by the index line's id;
    /// empty for a new file), or nil when that cannot be told (binary, stacked, preimage unknown).
    static func hunksMake(_ f: ParsedFilePatch, repository: Repository) -> ObjectID? {
        guard !f.isBinary, !f.hunks.isEmpty, !f.newID.isZero, f.status != .deleted else { return nil }
        let pre: [UInt8]
        if f.oldID.isZero {
            guard f.status == .added else { return nil }
            pre = []
        } else {
            guard repository.contains(f.oldID), let bytes = try? repository.blob(f.oldID) else { return nil }
            pre = bytes
        }
        guard let post = HunkApplier.apply(f, to: pre) else { return nil }
        return try? ObjectID.hashBlob(post)
    }

    /// Repo paths touched by more than one active patch.
    func sharedPaths(_ patches: [PatchFile]) -> Set<PathKey> {
        var count: [PathKey: Int] = [:]
        for p in patches { for key in (try? p.touchedPathKeys()) ?? [] { count[key, default: 0] += 1 } }
        return Set(count.filter { $0.value > 1 }.keys)
    }

    func fileState(_ f: ParsedFilePatch, rel: String, live: (id: ObjectID?, kind: LiveEntry.Kind)?,
                   deployed: FlatEntry?, shared: Bool) throws -> ScanReport.FileState {
        let liveMode: FileMode? = live.map { $0.kind == .symlink ? .symlink : $0.kind == .executable ? .executable : .regular }
        // Applied: the file is what the patch made.
        let applied: Bool
        if f.status == .deleted {
            applied = live == nil
        } else if let live, let id = live.id {
            let contentMatches = f.newID.isZero ? (f.hunks.isEmpty && !f.isBinary && id == (deployed?.id ?? f.oldID)) : id == f.newID
            applied = contentMatches && (f.newMode == nil || f.newMode == liveMode)
        } else {
            applied = false
        }
        if applied { return .applied }
        // Overwritten: back at the deployed content (absent when the deployed tree lacks it).
        let overwritten: Bool
        if let deployed {
            overwritten = live?.id == deployed.id && liveMode == deployed.mode
        } else {
            overwritten = live == nil
        }
        if overwritten { return .overwritten }
        if live == nil { return .missing }
        // Several patches on one file: this one is applied when its hunks are present.
        if shared, !f.isBinary, let content = try? deployment.liveFile(rootRelative: rel),
           HunkApplier.apply(f, to: content.content, reverse: true) != nil {
            return .applied
        }
        return .modified
    }

    /// Hashes files the walk did not (a warm scan's changed files) on `threads` cores; each
    /// result slot is written by exactly one worker. Each worker takes a contiguous run of the
    /// (walk-ordered) entries, so files of one directory share one opened directory.
    func hashInParallel(entries: [LiveEntry], paths: PathList, indices: [Int]) -> [HashOutcome] {
        let results = ResultSlots<HashOutcome>(count: indices.count, initial: .vanished)
        let root = deployment.root
        let total = indices.count
        let chunks = max(1, min(total, options.threads * 16))
        let progress = self.progress
        let hook = beforeHash
        let hashers = BlobHasherPool()
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            hashers.with { hasher in
                var parent = ParentDirectory(root: root)
                defer { parent.done() }
                for k in (chunk * total / chunks)..<((chunk + 1) * total / chunks) {
                    let e = entries[indices[k]], path = paths[indices[k]]
                    hook?(path)
                    results[k] = Self.hash(e, path: path, parent: &parent, hasher: hasher)
                    if chunk == 0, k % 2048 == 0 { progress?("hashing", k, total) }
                }
            }
        }
        return results.values
    }

    /// One entry by its name in its directory, the directory opened from the root one component
    /// at a time without following a symlink (as the walk reached it): a directory swapped for a
    /// link since the walk is "changed", and nothing outside the root is opened.
    static func hash(_ e: LiveEntry, path: String, parent: inout ParentDirectory, hasher: BlobHasher) -> HashOutcome {
        let slash = path.utf8.lastIndex(of: UInt8(ascii: "/"))
        let dir = slash.map { path[..<$0] } ?? ""
        let name = slash.map { path[path.index(after: $0)...] } ?? path[...]
        guard let fd = parent.open(dir) else {
            let code = errno
            if code == ENOENT { return .vanished }
            if code == ELOOP || code == ENOTDIR { return .changed }
            return .failed("cannot open its directory: \(POSIX.errorText(code))")
        }
        return String(name).withCString { hasher.hash(dirfd: fd, name: $0, seen: e.seen, checkDevice: false) }
    }
}

/// The directory of the entries a hashing worker is at, kept open while they share it.
struct ParentDirectory {
    let root: String
    private var rel: Substring?
    private var fd: Int32 = -1
    private var code: Int32 = 0

    init(root: String) { self.root = root }

    /// The descriptor of `root/rel` (opened by `LiveWalker.openBeneath`), or nil with errno set.
    mutating func open(_ rel: Substring) -> Int32? {
        if let current = self.rel, current.utf8.elementsEqual(rel.utf8) {
            if fd < 0 { errno = code }
            return fd >= 0 ? fd : nil
        }
        done()
        self.rel = rel
        if let opened = LiveWalker.openBeneath(root: root, rel) {
            fd = opened
            return fd
        }
        code = errno
        return nil
    }

    /// Closes the directory held.
    mutating func done() {
        if fd >= 0 { close(fd) }
        fd = -1
        rel = nil
    }
}

/// Whether the walker enters a directory: tracked ones unless the app's list ignores them,
/// untracked ones unless any ignore rule (the app's .gitignore files included) does.
final class DirectoryDecisions: @unchecked Sendable {
    private let lock = PlainLock()
    private let tracked: Set<String>
    private let listOnly: IgnoreRules?
    private let untracked: UntrackedIgnores
    private var skippedDirs: [String] = []

    /// `listOnly` nil: the app has no ignore rules, so no tracked directory is ignored.
    init(tracked: Set<String>, listOnly: IgnoreRules?, untracked: UntrackedIgnores) {
        self.tracked = tracked
        self.listOnly = listOnly
        self.untracked = untracked
    }

    func descend(_ dir: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let ignored = tracked.contains(dir) ? (listOnly?.isIgnored(dir + "/") ?? false) : untracked.isIgnored(dir + "/")
        if ignored { skippedDirs.append(dir + "/") }
        return !ignored
    }

    var skipped: [String] {
        lock.lock()
        defer { lock.unlock() }
        return skippedDirs
    }
}

/// Whether a path the deployed tree does not have is ignored: by the app's list (and the deployed
/// .patchkeeperignore), root-relative, or by the deployed .gitignore files, matched on the repo
/// path. Nothing under a `.git` below the top is ignored (libgit2 ignores `.git` everywhere, which
/// hid a nested repository's files, and a directory named `.git` is as good a hiding place as any).
final class UntrackedIgnores {
    let listOnly: IgnoreRules?
    let gitignores: IgnoreRules
    let subdir: String

    init(listOnly: IgnoreRules?, gitignores: IgnoreRules, subdir: String) {
        self.listOnly = listOnly
        self.gitignores = gitignores
        self.subdir = subdir
    }

    /// `rel` root-relative; a directory ends in `/`.
    func isIgnored(_ rel: String) -> Bool {
        if rel.slashParts().contains(".git") { return false }
        if listOnly?.isIgnored(rel) == true { return true }
        return gitignores.isIgnored(subdir.isEmpty ? rel : subdir + "/" + rel)
    }
}

/// Fixed-size result slots filled concurrently, one writer per index (so no locking), read after
/// all writers have finished (`concurrentPerform` returns only then).
final class ResultSlots<T>: @unchecked Sendable {
    private let buffer: UnsafeMutableBufferPointer<T>

    init(count: Int, initial: T) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: initial)
    }

    deinit {
        buffer.deinitialize()
        buffer.deallocate()
    }

    subscript(i: Int) -> T {
        get { buffer[i] }
        set { buffer[i] = newValue }
    }

    var values: [T] { Array(buffer) }
}

/// path → index into a deployed listing, built on first use (a warm scan of the same revision
/// takes the indexes from the stat cache and never builds it).
///
/// Keyed by the path's bytes: Swift's `String` equality is Unicode canonical equivalence, so a
/// live `café` spelled decomposed would find the deployed composed `café` and a rename between
/// the two would scan clean. Git, and the file system, compare bytes.
final class LazyIndex {
    private let files: DeployedFiles
    private var index: BytesIndex?

    init(_ files: DeployedFiles) { self.files = files }

    subscript(path: UnsafeRawBufferPointer) -> Int? {
        files.paths.find(path, in: built())
    }

    /// The whole index (built now if it was not): a value that threads may read together, with
    /// `files.paths`.
    func built() -> BytesIndex {
        if let index { return index }
        let made = files.paths.index(include: { files.mode($0) != .gitlink })
        index = made
        return made
    }
}

/// Membership in a set of paths (the active patches' files), by bytes: a bitmap of a cheap
/// fingerprint (the length and the last eight bytes) answers nearly every other path in a few
/// instructions; a hit is checked against the paths themselves. (A `Set<Int>` of such keys cost
/// more than the rest of a warm scan's comparison.)
struct PathFilter: Sendable {
    let paths: Set<PathKey>
    private let bits: [UInt64]
    private static let bitCount = 1 << 16

    init(_ paths: Set<PathKey>) {
        self.paths = paths
        var bits = [UInt64](repeating: 0, count: Self.bitCount / 64)
        for p in paths {
            let b = Self.bit(Array(p.path.utf8).withUnsafeBytes { Self.fingerprint($0) })
            bits[b >> 6] |= 1 << UInt64(b & 63)
        }
        self.bits = bits
    }

    @inline(__always)
    private static func fingerprint(_ p: UnsafeRawBufferPointer) -> UInt64 {
        var tail: UInt64 = 0
        if p.count >= 8 {
            tail = p.loadUnaligned(fromByteOffset: p.count - 8, as: UInt64.self)
        } else {
            for b in p { tail = tail << 8 | UInt64(b) }
        }
        return tail ^ UInt64(p.count) &* 0x9E37_79B9_7F4A_7C15
    }

    @inline(__always)
    private static func bit(_ f: UInt64) -> Int { Int(truncatingIfNeeded: (f &* 0xBF58_476D_1CE4_E5B9) >> 48) }

    /// Whether these bytes are one of the paths, byte for byte (a decomposed spelling of a
    /// patch's composed path is another file, as git and the file system see it).
    func contains(_ path: UnsafeRawBufferPointer) -> Bool {
        guard !paths.isEmpty else { return false }
        let b = Self.bit(Self.fingerprint(path))
        guard bits[b >> 6] & (1 << UInt64(b & 63)) != 0 else { return false }
        return paths.contains(PathKey(String(decoding: path, as: UTF8.self)))
    }
}

/// Holds what `Options.keepLargeStructures` keeps: the last scan's structures only (a process
/// scanning several apps frees the previous app's when it keeps the next), so memory stays bounded.
final class KeptAlive: @unchecked Sendable {
    private static let shared = KeptAlive()
    private let lock = PlainLock()
    private var values: [Any] = []

    static func keep(_ values: [Any]) {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        shared.values = values
    }
}
