import Foundation
import Git
import Testing
import TestSupport

/// The registry keeps every patch image reachable from one branch (`keepBlobs`): each blob named
/// by its id in a directory named by the id's first two digits. Checked with the git CLI.
@Suite("image branch: blobs kept in two-digit directories")
struct ImageStoreTests {
    static let ref = "refs/heads/patchkeeper-images"
    static let sig = Signature(name: "Test", email: "test@example.org", time: 1_700_000_000)

    /// `path id` of every blob the branch names, from `git ls-tree -r`.
    static func kept(_ repo: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in git(["ls-tree", "-r", ref], in: repo).split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1)
            out[String(parts[1])] = String(parts[0].split(separator: " ")[2])
        }
        return out
    }

    static func repo(_ s: Scratch) throws -> (String, Repository) {
        let path = s.file("registry")
        git(["init", "-q", path], in: s.path)
        return (path, try Repository.open(atPath: path))
    }

    /// Points the branch at a commit of the tree `git mktree` makes of `lines`; returns the commit.
    static func commitTree(_ s: Scratch, _ lines: [String], message: String) -> String {
        s.write("mktree.txt", lines.joined(separator: "\n") + "\n")
        let made = run("/bin/sh", ["-c", "git -C registry mktree < mktree.txt"], cwd: s.path)
        precondition(made.status == 0, made.stderr)
        let commit = git(["commit-tree", "-m", message, made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)], in: s.file("registry"))
        git(["update-ref", ref, commit], in: s.file("registry"))
        return commit
    }

    @Test("new blobs go to ab/ab…, the root holds only directories, and keeping them again writes nothing")
    func sharded() throws {
        let s = Scratch()
        let (path, r) = try Self.repo(s)
        let ids = try (0..<40).map { try r.writeBlob(Array("image \($0)\n".utf8)) }
        try r.keepBlobs(Set(ids[0..<25]), ref: Self.ref, message: "keep\n", signature: Self.sig)
        try r.keepBlobs(Set(ids[20..<40]), ref: Self.ref, message: "keep\n", signature: Self.sig)
        let kept = Self.kept(path)
        #expect(kept.count == 40)
        for id in ids { #expect(kept[String(id.hex.prefix(2)) + "/" + id.hex] == id.hex) }
        for line in git(["ls-tree", Self.ref], in: path).split(separator: "\n") {
            #expect(line.hasPrefix("040000 tree "), "\(line)")
            #expect(line.split(separator: "\t")[1].count == 2, "\(line)")
        }
        let tip = git(["rev-parse", Self.ref], in: path)
        try r.keepBlobs(Set(ids.shuffled().prefix(30)), ref: Self.ref, message: "keep\n", signature: Self.sig)
        #expect(git(["rev-parse", Self.ref], in: path) == tip, "nothing new to keep, yet a commit was written")
        #expect(git(["rev-list", "--count", Self.ref], in: path).trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        git(["fsck", "--strict", "--no-dangling"], in: path)
    }

    @Test("a branch written before directories is moved into them by the next write; nothing it named is dropped")
    func movesFlatTree() throws {
        let s = Scratch()
        let (path, r) = try Self.repo(s)
        let old = try (0..<30).map { try r.writeBlob(Array("old image \($0)\n".utf8)) }
        let other = try r.writeBlob(Array("not ours\n".utf8))
        let fresh = try r.writeBlob(Array("new image\n".utf8))
        // The old layout, as earlier binaries wrote it, plus an entry patchkeeper never names
        // and one whose name is a blob id it does not hold.
        let impostor = try r.writeBlob(Array("impostor\n".utf8))
        var lines = old.map { "100644 blob \($0.hex)\t\($0.hex)" }
        lines.append("100644 blob \(other.hex)\tREADME")
        lines.append("100644 blob \(impostor.hex)\t\(fresh.hex)")
        let commit = Self.commitTree(s, lines, message: "flat")

        try r.keepBlobs([fresh, old[3]], ref: Self.ref, message: "keep\n", signature: Self.sig)
        let kept = Self.kept(path)
        for id in old { #expect(kept[String(id.hex.prefix(2)) + "/" + id.hex] == id.hex, "\(id.hex) was dropped") }
        #expect(kept[String(fresh.hex.prefix(2)) + "/" + fresh.hex] == fresh.hex, "a name holding another blob counted as kept")
        #expect(kept["README"] == other.hex, "an entry patchkeeper does not name was dropped")
        #expect(kept.count == 32)
        #expect(git(["rev-parse", Self.ref + "^"], in: path) == commit, "the move is a commit on top of the old tip")
        git(["fsck", "--strict", "--no-dangling"], in: path)
    }

    @Test("an old branch naming a blob the repository lost: that entry stays as it was, the rest move, the new blob is kept")
    func movesLostEntry() throws {
        let s = Scratch()
        let (path, r) = try Self.repo(s)
        let kept = try r.writeBlob(Array("kept\n".utf8))
        let lost = String(repeating: "cd", count: 20)
        s.write("mktree.txt", "100644 blob \(kept.hex)\t\(kept.hex)\n100644 blob \(lost)\t\(lost)\n")
        let made = run("/bin/sh", ["-c", "git -C registry mktree --missing < mktree.txt"], cwd: s.path)
        #expect(made.status == 0, "\(made.stderr)")
        let commit = git(["commit-tree", "-m", "flat", made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)], in: path)
        git(["update-ref", Self.ref, commit], in: path)
        let fresh = try r.writeBlob(Array("fresh\n".utf8))
        try r.keepBlobs([fresh], ref: Self.ref, message: "keep\n", signature: Self.sig)
        let names = Self.kept(path)
        #expect(names[lost] == lost, "an entry whose object is gone was moved (a broken tree written anew) or dropped")
        #expect(names["cd/" + lost] == nil)
        #expect(names[String(kept.hex.prefix(2)) + "/" + kept.hex] == kept.hex)
        #expect(names[String(fresh.hex.prefix(2)) + "/" + fresh.hex] == fresh.hex)
        // The entry left at the root does not make every later write commit again.
        let tip = git(["rev-parse", Self.ref], in: path)
        try r.keepBlobs([fresh], ref: Self.ref, message: "keep\n", signature: Self.sig)
        #expect(git(["rev-parse", Self.ref], in: path) == tip)
        // A blob asked for that the repository does not have is still refused.
        #expect(throws: GitError.self) {
            try r.keepBlobs([ObjectID(hex: String(repeating: "ef", count: 20))!], ref: Self.ref, message: "keep\n", signature: Self.sig)
        }
    }

    @Test("an entry in a directory's place stops the write and names it; the branch is left as it was")
    func refusesNonDirectory() throws {
        let s = Scratch()
        let (path, r) = try Self.repo(s)
        let id = try r.writeBlob(Array("an image\n".utf8))
        let blocker = try r.writeBlob(Array("in the way\n".utf8))
        let commit = Self.commitTree(s, ["100644 blob \(blocker.hex)\t\(id.hex.prefix(2))"], message: "odd")
        #expect {
            try r.keepBlobs([id], ref: Self.ref, message: "keep\n", signature: Self.sig)
        } throws: { ($0 as? GitError)?.message.contains("entry \(id.hex.prefix(2)) is not a directory") == true }
        #expect(git(["rev-parse", Self.ref], in: path) == commit)
    }
}

/// A registry commit's tree is written from an index; every entry's object must exist, as
/// `git write-tree` requires (checked with one existence query per entry).
@Suite("registry commit: objects must exist")
struct CommitObjectsTests {
    /// A registry repository with `files` committed: its path and HEAD.
    static func registry(_ s: Scratch, _ files: [String: String]) -> (path: String, head: String) {
        let path = s.file("registry")
        git(["init", "-q", path], in: s.path)
        for (name, text) in files { s.write("registry/" + name, text) }
        git(["add", "-A"], in: path)
        git(["commit", "-qm", "files"], in: path)
        return (path, git(["rev-parse", "HEAD"], in: path))
    }

    @Test("a commit on top of a tree whose blob the repository lost is refused, naming the path; HEAD stays")
    func lostBlobRefused() throws {
        let s = Scratch()
        let (path, head) = Self.registry(s, ["0001-a.patch": "a\n", "0002-b.patch": "b\n"])
        let blob = git(["rev-parse", "HEAD:0002-b.patch"], in: path)
        let r = try Repository.open(atPath: path)
        s.write("registry/0001-a.patch", "a, edited\n")
        unlink(path + "/.git/objects/" + blob.prefix(2) + "/" + blob.dropFirst(2))
        #expect {
            try r.commitWorkdirChanges(paths: ["0001-a.patch"], message: "edit\n", author: ImageStoreTests.sig, committer: ImageStoreTests.sig)
        } throws: { ($0 as? GitError)?.message.contains("object \(blob) of 0002-b.patch is missing") == true }
        #expect(git(["rev-parse", "HEAD"], in: path) == head)
        // With the object back, the same commit goes through.
        s.write("registry/restore", "b\n")
        #expect(git(["hash-object", "-w", "restore"], in: path) == blob)
        try r.commitWorkdirChanges(paths: ["0001-a.patch"], message: "edit\n", author: ImageStoreTests.sig, committer: ImageStoreTests.sig)
        #expect(git(["show", "HEAD:0001-a.patch"], in: path) == "a, edited")
    }

    @Test("a changed file whose stored object a power cut left empty is refused, not committed (libgit2 does not write it again)")
    func emptyObjectRefused() throws {
        let s = Scratch()
        let (path, head) = Self.registry(s, ["0001-a.patch": "a\n"])
        // The new bytes are stored once; their loose object is then cut to nothing.
        s.write("registry/0001-a.patch", "a, edited\n")
        let blob = git(["hash-object", "-w", "0001-a.patch"], in: path)
        let object = path + "/.git/objects/" + blob.prefix(2) + "/" + blob.dropFirst(2)
        chmod(object, 0o644)
        #expect(truncate(object, 0) == 0)
        let r = try Repository.open(atPath: path)
        #expect {
            try r.commitWorkdirChanges(paths: ["0001-a.patch"], message: "edit\n", author: ImageStoreTests.sig, committer: ImageStoreTests.sig)
        } throws: { ($0 as? GitError)?.message.contains("of 0001-a.patch is missing, unreadable or not a blob") == true }
        #expect(git(["rev-parse", "HEAD"], in: path) == head)
    }
}

/// A deployed tree is read with its entry names checked as git checks them on checkout.
@Suite("deployed tree entry names")
struct FlatTreeNameTests {
    @Test("a tree with an entry named '..', '.', '.GIT' or holding a slash is refused, naming it; an ordinary one reads", arguments: ["..", ".", ".GIT", "a/b"])
    func refusesUnsafeNames(_ name: String) throws {
        let s = Scratch()
        let path = s.file("app")
        git(["init", "-q", path], in: s.path)
        s.write("x.txt", "x\n")
        let blob = git(["hash-object", "-w", s.file("x.txt")], in: path)
        // git mktree refuses these names; hash-object --literally writes the tree anyway.
        var tree = Array("100644 ok.txt\0".utf8) + ObjectID(hex: blob)!.bytes
        tree += Array("100644 \(name)\0".utf8) + ObjectID(hex: blob)!.bytes
        s.writeBytes("tree.bin", Data(tree))
        let treeID = git(["hash-object", "-w", "-t", "tree", "--literally", s.file("tree.bin")], in: path)
        let commit = git(["commit-tree", "-m", "odd", treeID], in: path)
        let r = try Repository.open(atPath: path)
        #expect {
            _ = try r.flatTree(commit: ObjectID(hex: commit)!, prefix: "")
        } throws: { ($0 as? GitError)?.message.contains("has an entry named '\(name)'") == true }
        s.writeBytes("ok.bin", Data(Array("100644 ok.txt\0".utf8) + ObjectID(hex: blob)!.bytes))
        let fine = git(["commit-tree", "-m", "ok", git(["hash-object", "-w", "-t", "tree", s.file("ok.bin")], in: path)], in: path)
        #expect(try r.flatTree(commit: ObjectID(hex: fine)!, prefix: "").files.map(\.path) == ["ok.txt"])
    }

    @Test("names that only look like those read as ordinary files", arguments: [".gitx", "..a", "\u{0E}git", "git", ".g1t", "...", ".GIT."])
    func ordinaryNames(_ name: String) throws {
        let s = Scratch()
        let path = s.file("app")
        git(["init", "-q", path], in: s.path)
        s.write("x.txt", "x\n")
        let blob = ObjectID(hex: git(["hash-object", "-w", s.file("x.txt")], in: path))!
        s.writeBytes("tree.bin", Data(Array("100644 \(name)\0".utf8) + blob.bytes))
        let commit = git(["commit-tree", "-m", "odd", git(["hash-object", "-w", "-t", "tree", "--literally", s.file("tree.bin")], in: path)], in: path)
        #expect(try Repository.open(atPath: path).flatTree(commit: ObjectID(hex: commit)!, prefix: "").files.map(\.path) == [name])
    }
}
