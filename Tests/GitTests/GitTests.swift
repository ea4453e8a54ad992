import Foundation
import Git
import Testing
import TestSupport

@Suite("Git layer")
struct GitTests {
    @Test("blob ids equal git hash-object's")
    func blobIDsMatchGit() throws {
        let s = Scratch()
        let samples = ["", "hello\n", "no newline", "crlf\r\nline\r\n", String(repeating: "x", count: 100_000)]
        for (i, text) in samples.enumerated() {
            s.write("f\(i)", text)
            let ours = try ObjectID.hashBlob(Array(text.utf8))
            let fromFile = try ObjectID.hashFile(atPath: s.file("f\(i)"))
            let reference = git(["hash-object", "f\(i)"], in: s.path)
            #expect(ours.hex == reference)
            #expect(fromFile.hex == reference)
        }
    }

    @Test("object ids parse 40 hex digits and nothing else")
    func objectIDParsing() {
        let hex = "8c1f0e2d6b0f0000000000000000000000000abc"
        #expect(ObjectID(hex: hex)?.hex == hex)
        #expect(ObjectID(hex: hex.uppercased())?.hex == hex)
        #expect(ObjectID(hex: "8c1f0e2") == nil)
        #expect(ObjectID(hex: String(repeating: "g", count: 40)) == nil)
        #expect(ObjectID.zero.isZero)
        #expect(ObjectID(hex: hex + "0") == nil && ObjectID(hex: String(hex.dropLast()) + "\u{E9}") == nil)
    }

    @Test("object ids sort as their hex digits do, and parse the same from bytes")
    func objectIDOrder() {
        var state: UInt64 = 0x1D
        let ids = (0..<500).map { _ -> ObjectID in
            ObjectID(bytes: (0..<20).map { i in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                // Few distinct values, so that ids share long prefixes.
                return i < 18 ? UInt8(state >> 62) : UInt8(truncatingIfNeeded: state >> 33)
            })
        }
        #expect(ids.sorted().map(\.hex) == ids.map(\.hex).sorted())
        for id in ids.prefix(50) {
            #expect(Array(id.hex.utf8).withUnsafeBufferPointer { ObjectID(hexDigits: $0) } == id)
            #expect(!(id < id))
        }
    }

    @Test("a repository resolves revisions and reads tree entries and blobs")
    func repositoryReads() throws {
        let app = AppFixture(deploy: false)
        let repo = try Repository.open(atPath: app.repo)
        let head = try repo.resolveCommit("HEAD")
        #expect(head.hex == app.v1)
        #expect(try repo.resolveCommit("v1") == head)
        let entry = try #require(try repo.entry(atPath: "src/api/config/clock.rb", inCommit: head))
        #expect(entry.mode == .regular)
        #expect(String(decoding: try repo.blob(entry.id), as: UTF8.self) == AppFixture.clock)
        #expect(try repo.entry(atPath: "src/api/bin/setup", inCommit: head)?.mode == .executable)
        #expect(try repo.entry(atPath: "nope/x", inCommit: head) == nil)
        let error = #expect(throws: GitError.self) { try repo.resolveCommit("no-such-rev") }
        #expect(error?.isNotFound == true)
    }

    @Test("opening a directory that is not a repository fails without searching parents")
    func openDoesNotSearchParents() throws {
        let app = AppFixture(deploy: false)
        #expect(throws: GitError.self) { try Repository.open(atPath: app.repo + "/src/api") }
    }

    @Test("makePatch writes full-index git diffs that git apply accepts")
    func makePatchMatchesGitApply() throws {
        let app = AppFixture(deploy: false)
        let changes = [
            FileChange(old: FileVersion(path: "src/api/config/clock.rb", mode: .regular, content: Array(AppFixture.clock.utf8)),
                       new: FileVersion(path: "src/api/config/clock.rb", mode: .regular, content: Array("every 1.hour do\n  # off\nend\n".utf8))),
            FileChange(old: nil, new: FileVersion(path: "src/api/new.txt", mode: .executable, content: Array("n\n".utf8))),
            FileChange(old: FileVersion(path: "src/api/README", mode: .regular, content: Array("The API.\n".utf8)), new: nil),
        ]
        let made = try MemoryRepository().makePatch(changes)
        #expect(made.diff.contains("index 36658bbda4b13ec3d0b6ab7fdb22ac53f542f2be.."))
        #expect(made.stat.contains("3 files changed"))
        let s = Scratch()
        s.write("p.diff", made.diff)
        let check = run("/usr/bin/git", ["apply", "--check", s.file("p.diff")], cwd: app.repo)
        #expect(check.status == 0, "\(check.stderr)")
        let files = try PatchParser.parse(made.diff)
        #expect(files.map(\.status) == [.deleted, .modified, .added])
        #expect(files[1].oldID.hex == "36658bbda4b13ec3d0b6ab7fdb22ac53f542f2be")
        #expect(files[2].newMode == .executable)
        #expect(files[1].additions == 1 && files[1].deletions == 1)
    }

    @Test("apply to buffers applies clean hunks and refuses ones whose context is gone")
    func applyToBuffers() throws {
        let old = FileVersion(path: "a.txt", mode: .regular, content: Array("1\n2\n3\n".utf8))
        let new = FileVersion(path: "a.txt", mode: .regular, content: Array("1\ntwo\n3\n".utf8))
        let diff = try MemoryRepository().makePatch([FileChange(old: old, new: new)]).diff
        let result = try MemoryRepository().apply(diff: diff, to: [old])
        #expect(result["a.txt"]??.content == new.content)
        let other = FileVersion(path: "a.txt", mode: .regular, content: Array("x\ny\nz\n".utf8))
        #expect(throws: GitError.self) { try MemoryRepository().apply(diff: diff, to: [other]) }
    }

    @Test("a 3-way merge is clean for separate edits and marks overlapping ones")
    func mergeFile() throws {
        func v(_ s: String) -> FileVersion { FileVersion(path: "f", mode: .regular, content: Array(s.utf8)) }
        let base = v("a\nb\nc\nd\ne\n")
        let clean = try FileMerge.merge(ancestor: base, ours: v("A\nb\nc\nd\ne\n"), theirs: v("a\nb\nc\nd\nE\n"))
        #expect(clean.automergeable)
        #expect(String(decoding: clean.content, as: UTF8.self) == "A\nb\nc\nd\nE\n")
        let conflict = try FileMerge.merge(ancestor: base, ours: v("a\nX\nc\nd\ne\n"), theirs: v("a\nY\nc\nd\ne\n"))
        #expect(!conflict.automergeable)
        #expect(String(decoding: conflict.content, as: UTF8.self).contains("<<<<<<<"))
    }

    @Test("a new file whose path has a space round-trips through the parser (libgit2 #6294)")
    func spaceInNewFilePath() throws {
        let diff = try MemoryRepository().makePatch([FileChange(old: nil, new: FileVersion(path: "dir/with space.txt", mode: .regular, content: Array("x\n".utf8)))]).diff
        let parsed = try PatchParser.parse(diff)
        #expect(parsed.count == 1)
        #expect(parsed.first?.newPath == "dir/with space.txt")
        #expect(parsed.first?.status == .added)
    }

    @Test("creating and deleting an empty file parses and applies, as git does (libgit2 #5713)", arguments: [true, false])
    func emptyFileCreation(create: Bool) throws {
        let empty = FileVersion(path: "dir/empty file.txt", mode: .regular, content: [])
        let change = create ? FileChange(old: nil, new: empty) : FileChange(old: empty, new: nil)
        let diff = try MemoryRepository().makePatch([change]).diff
        let parsed = try PatchParser.parse(diff)
        #expect(parsed.first?.status == (create ? .added : .deleted))
        #expect(parsed.first?.path == "dir/empty file.txt")
        let applied = try MemoryRepository().apply(diff: diff, to: create ? [] : [empty])
        if create { #expect(applied["dir/empty file.txt"]??.content == []) } else { #expect(applied["dir/empty file.txt"]! == nil) }
        // git agrees with the text we write.
        let s = Scratch()
        if !create { s.write("r/dir/empty file.txt", "") }
        git(["init", "-q", "r"], in: s.path)
        s.write("p.diff", diff)
        let check = run("/usr/bin/git", ["apply", "--check", s.file("p.diff")], cwd: s.file("r"))
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test("the raw libgit2 parser still rejects git's empty-file patch, so the workaround is needed")
    func emptyFileWorkaroundIsNeeded() {
        let raw = "diff --git a/e b/e\nnew file mode 100644\nindex 0000000000000000000000000000000000000000..e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\n"
        #expect(PatchText.normalized(raw) != raw)
        #expect(PatchText.normalized(raw).contains("+++ b/e"))
    }

    @Test("committing work-tree changes creates one commit per call with the given author")
    func commitWorkdirChanges() throws {
        let s = Scratch()
        let repo = try Repository.create(atPath: s.file("r"))
        s.write("r/a.patch", "one\n")
        let sig = Signature(name: "Jane", email: "jane@example.org", time: 1_700_000_000)
        let c1 = try repo.commitWorkdirChanges(paths: ["a.patch"], message: "first\n", author: sig, committer: sig)
        s.write("r/a.patch", "two\n")
        let c2 = try repo.commitWorkdirChanges(paths: ["a.patch"], message: "second\n", author: sig, committer: sig)
        #expect(c1 != c2)
        let log = try repo.log()
        #expect(log.map(\.summary) == ["second", "first"])
        #expect(log[0].parents == [c1])
        #expect(log[0].author.name == "Jane")
        #expect(git(["log", "--format=%an %s"], in: s.file("r")) == "Jane second\nJane first")
        #expect(git(["status", "--porcelain"], in: s.file("r")) == "")
    }
}

@Suite("Hunk applier")
struct HunkApplierTests {
    func patch(_ old: String, _ new: String) throws -> ParsedFilePatch {
        let diff = try MemoryRepository().makePatch([FileChange(old: FileVersion(path: "f", mode: .regular, content: Array(old.utf8)),
                                                                new: FileVersion(path: "f", mode: .regular, content: Array(new.utf8)))]).diff
        return try #require(try PatchParser.parse(diff).first)
    }

    @Test("a hunk applies at an offset, as git apply does, where libgit2's own apply refuses")
    func offset() throws {
        let p = try patch("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n")
        let shifted = Array("x\ny\na\nb\nc\nd\ne\nf\ng\n".utf8)
        #expect(HunkApplier.apply(p, to: shifted).map { String(decoding: $0, as: UTF8.self) } == "x\ny\na\nb\nc\nD\ne\nf\ng\n")
        let old = FileVersion(path: "f", mode: .regular, content: shifted)
        let diff = try MemoryRepository().makePatch([FileChange(old: FileVersion(path: "f", mode: .regular, content: Array("a\nb\nc\nd\ne\nf\ng\n".utf8)),
                                                                new: FileVersion(path: "f", mode: .regular, content: Array("a\nb\nc\nD\ne\nf\ng\n".utf8)))]).diff
        #expect(throws: GitError.self) { try MemoryRepository().apply(diff: diff, to: [old]) }
    }

    @Test("reverse application tells whether a patch's changes are present")
    func reverse() throws {
        let p = try patch("1\n2\n3\n4\n5\n", "1\n2\nthree\n4\n5\n")
        #expect(HunkApplier.apply(p, to: Array("0\n1\n2\nthree\n4\n5\n".utf8), reverse: true) != nil)
        #expect(HunkApplier.apply(p, to: Array("0\n1\n2\n3\n4\n5\n".utf8), reverse: true) == nil)
    }

    @Test("a missing newline at end of file is kept or added as the patch says")
    func noNewline() throws {
        let add = try patch("a\nb", "a\nb\n")
        #expect(HunkApplier.apply(add, to: Array("a\nb".utf8)) == Array("a\nb\n".utf8))
        let drop = try patch("a\nb\n", "a\nc")
        #expect(HunkApplier.apply(drop, to: Array("a\nb\n".utf8)) == Array("a\nc".utf8))
    }

    @Test("results agree with git apply on a file with several hunks", arguments: [0, 1, 5])
    func agreesWithGit(shift: Int) throws {
        let base = (1...40).map { "line \($0)\n" }.joined()
        var changed = base.replacingOccurrences(of: "line 5\n", with: "LINE 5\n").replacingOccurrences(of: "line 30\n", with: "")
        changed += "tail\n"
        let p = try patch(base, changed)
        let prefix = (0..<shift).map { "pre \($0)\n" }.joined()
        let target = prefix + base
        let ours = try #require(HunkApplier.apply(p, to: Array(target.utf8)))
        let s = Scratch()
        s.write("f", target)
        let diff = try MemoryRepository().makePatch([FileChange(old: FileVersion(path: "f", mode: .regular, content: Array(base.utf8)),
                                                                new: FileVersion(path: "f", mode: .regular, content: Array(changed.utf8)))]).diff
        s.write("p.diff", diff)
        git(["init", "-q", "r"], in: s.path)
        s.write("r/f", target)
        git(["apply", s.file("p.diff")], in: s.file("r"))
        #expect(String(decoding: ours, as: UTF8.self) == s.read("r/f"))
    }
}

/// libgit2's mbedTLS init would parse the whole CA bundle in every process; it is deferred to the
/// first remote operation.
@Suite("CA bundle loaded only for remotes")
struct CertificateDeferralTests {
    /// Whether this libgit2 was built on mbedTLS (Debian's is): only then is there anything to defer.
    static var mbedTLS: Bool {
        // (procfs files have no size: read to the end, not by stat)
        let maps = FileHandle(forReadingAtPath: "/proc/self/maps").map { String(decoding: $0.readDataToEndOfFile(), as: UTF8.self) }
        return (maps ?? "").contains("libmbedx509")
    }

    @Test("init parses no certificate; loading hands the noted bundle to the real parser once")
    func deferredThenLoaded() throws {
        _ = try? Repository.open(atPath: "/nonexistent")  // libgit2 initialised
        guard Self.mbedTLS, FileManager.default.fileExists(atPath: "/etc/ssl/certs/ca-certificates.crt") else {
            #expect(CertificateLoading.deferredFile == nil || Self.mbedTLS)
            return
        }
        #expect(CertificateLoading.deferredFile == "/etc/ssl/certs/ca-certificates.crt")
        let before = CertificateLoading.parses
        #expect(CertificateLoading.load())
        #expect(CertificateLoading.load())
        // Once, however often asked (other tests may have loaded it already in this process).
        #expect(CertificateLoading.parses == max(before, 1))
        #expect(CertificateLoading.parses <= 1)
    }
}

@Suite("Git layer: fetching many references into an empty repository")
struct FetchIntoEmptyTests {
    /// A bare remote with `hosts` x 3 references under refs/patchkeeper/, and a branch that must not come.
    static func remote(_ s: Scratch, hosts: Int) -> String {
        let work = s.file("work")
        git(["init", "-q", work], in: s.path)
        s.write("work/f", "one\n")
        git(["add", "f"], in: work)
        git(["commit", "-qm", "one"], in: work)
        let remote = s.file("remote.git")
        git(["clone", "-q", "--bare", work, remote], in: s.path)
        var refs = ""
        let head = git(["rev-parse", "HEAD"], in: work)
        for h in 0..<hosts { for kind in ["registry", "images", "summary"] { refs += "create refs/patchkeeper/web\(h)/api/\(kind) \(head)\n" } }
        s.write("refs.txt", refs)
        let r = run("/bin/sh", ["-c", "git -C '\(remote)' update-ref --stdin < '\(s.file("refs.txt"))'"])
        precondition(r.status == 0, r.stderr)
        return remote
    }

    /// Every file under refs/ of a bare repository (loose references).
    static func looseRefs(_ repo: String) -> [String] {
        run("/usr/bin/find", [repo + "/refs", "-type", "f"]).stdout.split(separator: "\n").map(String.init)
    }

    @Test("the fetched references arrive packed (no loose file each), equal to the remote's, the objects in this repository's own pack; a second fetch transfers nothing")
    func packedOnArrival() throws {
        let s = Scratch()
        let remote = Self.remote(s, hosts: 20)
        let cache = s.file("cache.git")
        let repo = try Repository.create(atPath: cache, bare: true)
        var advertised: [String] = []
        let stats = try repo.fetchIntoEmpty(url: remote, refspecs: ["+refs/patchkeeper/*:refs/patchkeeper/*"]) { advertised = $0 }
        #expect(stats.receivedObjects == 3)
        #expect(advertised.filter { $0.hasPrefix("refs/patchkeeper/") }.count == 60)
        #expect(Self.looseRefs(cache).isEmpty, "\(Self.looseRefs(cache))")
        // Not even the directories of loose references were made here (the plain fetch leaves
        // refs/patchkeeper/HOST/APP/ behind after packing).
        #expect(!FileManager.default.fileExists(atPath: cache + "/refs/patchkeeper"))
        let want = git(["for-each-ref", "--format=%(objectname) %(refname)", "refs/patchkeeper/"], in: remote)
        #expect(git(["for-each-ref", "--format=%(objectname) %(refname)"], in: cache) == want)
        #expect(try repo.references(prefix: "refs/patchkeeper/").count == 60)
        #expect(run("/usr/bin/git", ["-C", cache, "fsck", "--connectivity-only", "--no-dangling"]).status == 0)
        #expect(run("/bin/sh", ["-c", "ls '\(cache)'/objects/pack/*.pack"]).status == 0)
        // The staging directory is gone.
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: "/dev/shm")).contains { $0.hasPrefix("patchkeeper-fetch-") && FileManager.default.fileExists(atPath: "/dev/shm/\($0)/packed-refs") })
        // Not empty any more: the plain fetch (which writes nothing when nothing changed).
        let again = try repo.fetchIntoEmpty(url: remote, refspecs: ["+refs/patchkeeper/*:refs/patchkeeper/*"])
        #expect(again.receivedObjects == 0)
        #expect(Self.looseRefs(cache).isEmpty)
    }

    @Test("without a usable staging directory it fetches the plain way and packs afterwards: the same references")
    func fallback() throws {
        let s = Scratch()
        let remote = Self.remote(s, hosts: 5)
        let cache = s.file("cache.git")
        let repo = try Repository.create(atPath: cache, bare: true)
        try repo.fetchIntoEmpty(url: remote, refspecs: ["+refs/patchkeeper/*:refs/patchkeeper/*"], stagingParent: s.file("no-such-dir"))
        #expect(Self.looseRefs(cache).isEmpty)
        #expect(FileManager.default.fileExists(atPath: cache + "/refs/patchkeeper"))   // the plain path was taken
        let want = git(["for-each-ref", "--format=%(objectname) %(refname)", "refs/patchkeeper/"], in: remote)
        #expect(git(["for-each-ref", "--format=%(objectname) %(refname)"], in: cache) == want)
    }

    @Test("a refusal from checkAdvertised leaves the repository empty")
    func refused() throws {
        let s = Scratch()
        let remote = Self.remote(s, hosts: 5)
        let cache = s.file("cache.git")
        let repo = try Repository.create(atPath: cache, bare: true)
        struct No: Error {}
        var asked = 0
        #expect(throws: No.self) { try repo.fetchIntoEmpty(url: remote, refspecs: ["+refs/patchkeeper/*:refs/patchkeeper/*"]) { _ in asked += 1; throw No() } }
        #expect(asked == 1)      // final: no second attempt the plain way
        #expect(try repo.references(prefix: "refs/").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: cache + "/packed-refs"))
    }
}

extension FetchIntoEmptyTests {
    @Test("with too little room in the staging directory for the advertised refs, the plain way: same references, packed")
    func noRoom() throws {
        let s = Scratch()
        let remote = Self.remote(s, hosts: 5)
        let cache = s.file("cache.git")
        let repo = try Repository.create(atPath: cache, bare: true)
        var asked = 0
        let stats = try repo.fetchIntoEmpty(url: remote, refspecs: ["+refs/patchkeeper/*:refs/patchkeeper/*"], stagingBytesPerRef: 1e18) { _ in asked += 1 }
        #expect(stats.receivedObjects == 3)
        #expect(asked == 2)      // the staged attempt, then the plain fetch
        #expect(Self.looseRefs(cache).isEmpty)
        #expect(FileManager.default.fileExists(atPath: cache + "/refs/patchkeeper"))   // the plain path was taken
        let want = git(["for-each-ref", "--format=%(objectname) %(refname)", "refs/patchkeeper/"], in: remote)
        #expect(git(["for-each-ref", "--format=%(objectname) %(refname)"], in: cache) == want)
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: "/dev/shm")).contains { $0.hasPrefix("patchkeeper-fetch-") && FileManager.default.fileExists(atPath: "/dev/shm/\($0)/HEAD") })
    }
}
