import Foundation
import Testing
import TestSupport
@testable import Git

/// The staged first fetch (`fetchIntoEmpty`) against a hostile local user: the staging parent is
/// world-writable, and whatever another user can put or swap there must not make root write,
/// read or remove anything outside its own scratch repository.
@Suite("Fleet staging: hostile staging directory")
struct FleetStagingHostileTests {
    static let refspecs = ["+refs/patchkeeper/*:refs/patchkeeper/*"]

    /// The staging directories of ours in `parent` right now.
    static func stagingDirs(_ parent: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).filter { $0.hasPrefix("patchkeeper-fetch-") }
    }

    @Test("removing the staging repository never follows a symlink: not one put in place of the staging directory, not one inside it")
    func removeStagingFollowsNoLink() throws {
        let s = Scratch()
        let victim = s.file("victim")
        try FileManager.default.createDirectory(atPath: victim + "/sub", withIntermediateDirectories: true)
        s.write("victim/keep", "precious\n")
        s.write("victim/sub/keep", "precious\n")
        // The staging name swapped for a link to someone's directory.
        symlink(victim, s.file("staging"))
        Repository.removeStaging(s.file("staging"))
        #expect(FileManager.default.fileExists(atPath: victim + "/keep"))
        #expect(FileManager.default.fileExists(atPath: victim + "/sub/keep"))
        // Links inside a real staging directory: the links go, not what they point to.
        try FileManager.default.createDirectory(atPath: s.file("staging2/objects"), withIntermediateDirectories: true)
        s.write("staging2/objects/x", "ours\n")
        symlink(victim, s.file("staging2/dirlink"))
        symlink(victim + "/keep", s.file("staging2/objects/filelink"))
        Repository.removeStaging(s.file("staging2"))
        #expect(!FileManager.default.fileExists(atPath: s.file("staging2")))
        #expect(FileManager.default.fileExists(atPath: victim + "/keep"))
        #expect(FileManager.default.fileExists(atPath: victim + "/sub/keep"))
    }

    @Test("no staging in a parent others can write without the sticky bit (our directory could be renamed away and a link put in its place): the plain way")
    func noStagingInUnsafeParent() throws {
        let s = Scratch()
        let remote = FetchIntoEmptyTests.remote(s, hosts: 3)
        let parent = s.file("open")
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        chmod(parent, 0o777)  // world-writable, no sticky bit
        let repo = try Repository.create(atPath: s.file("cache.git"), bare: true)
        var seen: [String] = []
        try repo.fetchIntoEmpty(url: remote, refspecs: Self.refspecs, stagingParent: parent) { _ in seen += Self.stagingDirs(parent) }
        #expect(seen.isEmpty, "staged in \(parent): \(seen)")
        #expect(try repo.references(prefix: "refs/patchkeeper/").count == 9)
    }

    @Test("no staging in a parent owned by another user (they could swap what we make there): the plain way", .enabled(if: geteuid() == 0, "needs root to chown"))
    func noStagingInOthersParent() throws {
        let s = Scratch()
        let remote = FetchIntoEmptyTests.remote(s, hosts: 3)
        let parent = s.file("theirs")
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        chmod(parent, 0o755)
        #expect(chown(parent, 65534, 65534) == 0)
        let repo = try Repository.create(atPath: s.file("cache.git"), bare: true)
        var seen: [String] = []
        try repo.fetchIntoEmpty(url: remote, refspecs: Self.refspecs, stagingParent: parent) { _ in seen += Self.stagingDirs(parent) }
        #expect(seen.isEmpty, "staged in \(parent): \(seen)")
        #expect(try repo.references(prefix: "refs/patchkeeper/").count == 9)
    }

    @Test("in a sticky world-writable parent (as /dev/shm): the staging directory is a fresh 0700 directory of ours, other users' look-alike names and links are neither used nor touched, and it is gone after a fetch, a refusal and a failed staged attempt")
    func stagingInStickyParent() throws {
        let s = Scratch()
        let remote = FetchIntoEmptyTests.remote(s, hosts: 3)
        let parent = s.file("shm")
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        chmod(parent, 0o1777)
        // Another user's traps: names that look like ours, links to a victim directory.
        let victim = s.file("victim")
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        s.write("victim/keep", "precious\n")
        var traps: [String] = []
        for i in 0..<20 {
            let name = "patchkeeper-fetch-" + String(format: "%06d", i)
            symlink(victim, parent + "/" + name)
            traps.append(name)
        }
        let before = Set(Self.stagingDirs(parent))

        func attempt(bytesPerRef: Double, refuse: Bool) throws -> [String] {
            let repo = try Repository.create(atPath: s.file("cache-\(UUID().uuidString.prefix(6)).git"), bare: true)
            var during: [String] = []
            struct No: Error {}
            do {
                try repo.fetchIntoEmpty(url: remote, refspecs: Self.refspecs, stagingParent: parent, stagingBytesPerRef: bytesPerRef) { _ in
                    let ours = Set(Self.stagingDirs(parent)).subtracting(before)
                    for name in ours {
                        var st = stat()
                        #expect(lstat(parent + "/" + name, &st) == 0)
                        #expect(st.st_mode & S_IFMT == S_IFDIR, "\(name) is not a directory")
                        #expect(st.st_mode & 0o7777 == 0o700, "\(name) has mode \(String(st.st_mode & 0o7777, radix: 8))")
                        #expect(st.st_uid == geteuid())
                    }
                    during += ours
                    if refuse { throw No() }
                }
                #expect(!refuse)
                #expect(try repo.references(prefix: "refs/patchkeeper/").count == 9)
            } catch is No {
                #expect(refuse)
            }
            return during
        }
        // A fetch, a refused one, and one whose staged attempt fails (too little room): it
        // staged each time, and left nothing behind.
        #expect(Set(try attempt(bytesPerRef: 8192, refuse: false)).count == 1)
        #expect(Set(try attempt(bytesPerRef: 8192, refuse: true)).count == 1)
        #expect(Set(try attempt(bytesPerRef: 1e18, refuse: false)).count == 1)
        #expect(Set(Self.stagingDirs(parent)) == before)
        for name in traps {
            var st = stat()
            #expect(lstat(parent + "/" + name, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK, "\(name) was touched")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim) == ["keep"])
    }
}
