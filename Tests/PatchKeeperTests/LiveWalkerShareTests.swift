import Foundation
import Git
import Testing
import TestSupport
@testable import PatchKeeper

/// The walk shares subtrees out to idle threads as it comes to them (`LiveWalker.walk`); the
/// stat cache is written and read in walk order, and reports list problems in it, so however the
/// work was shared the result must be exactly what one thread walks.
@Suite("Live walk shared across threads")
struct LiveWalkerShareTests {
    /// A lopsided tree (one directory holds most of it, nested, as a real app's `app/` or
    /// `test/` does), with the things the walk treats specially on every level: a skipped path,
    /// a directory `descend` refuses, a name that is not UTF-8, a symlink, an executable, and
    /// directories past the depth cap.
    static func makeTree(_ s: Scratch) {
        var rng = SplitMix64(seed: 7)
        for i in 0..<3 { s.write("root/small\(i)/f.txt", "small \(i)\n") }
        func fill(_ dir: String, depth: Int) {
            for f in 0..<Int(rng.next() % 6) { s.write("\(dir)/f\(f).rb", "x\(f)\(dir)\n") }
            guard depth < 7 else { return }
            for d in 0..<Int(2 + rng.next() % 3) { fill("\(dir)/d\(d)", depth: depth + 1) }
        }
        fill("root/big", depth: 0)
        s.write("root/big/d0/skipme", "skipped\n")
        s.write("root/big/d1/refused/inside.txt", "not entered\n")
        s.write("root/big/d1/d0/run.sh", "#!/bin/sh\n")
        chmod(s.file("root/big/d1/d0/run.sh"), 0o755)
        symlink("../f0.rb", s.file("root/big/d0/d1/link"))
        // A name with the byte 0xFF (not UTF-8): made through the C API.
        let raw: [CChar] = Array(s.file("root/big/d1/d1/bad").utf8CString.dropLast()) + [CChar(bitPattern: 0xFF), 0]
        let fd = open(raw, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        if fd >= 0 { close(fd) }
        s.write("root/big/d2/d0/d0/d0/d0/d0/d0/d0/deep.txt", "too deep\n")
        // Files the walk wants hashed and cannot (FIFOs), in several subtrees: their outcomes
        // go into the walk by entry index, across the splices of subtrees handed over.
        for dir in ["root/small0", "root/big", "root/big/d0/d1", "root/big/d1/d0", "root/big/d2/d0/d0"] {
            mkfifo(s.file(dir + "/pipe"), 0o644)
            mkfifo(s.file(dir + "/pipe2"), 0o644)
        }
    }

    static func walker(_ root: String, threads: Int, hashing: Bool) -> LiveWalker {
        var w = LiveWalker(root: root, skip: [Array("big/d0/skipme".utf8)], threads: threads, maxDepth: 7) { dir in
            !dir.hasSuffix("/refused")
        }
        if hashing { w.hashing = .init(wanted: { p in p.last != UInt8(ascii: "h") }, beforeHash: nil) }
        return w
    }

    struct Seen: Equatable {
        var paths: [String]
        var kinds: [UInt8]
        var inodes: [UInt64]
        var problems: [String]
        var ids: [String]
        var others: [Int]
    }

    static func seen(_ w: LiveWalker.Walk) -> Seen {
        Seen(paths: (0..<w.paths.count).map { w.paths[$0] },
             kinds: w.entries.map(\.kind.rawValue),
             inodes: w.entries.map(\.inode),
             problems: w.problems.map { $0.path + ": " + $0.message },
             ids: w.ids.map { $0?.hex ?? "-" },
             others: w.otherOutcomes.keys.sorted())
    }

    @Test("shared across 2, 3 and 8 threads, the walk is the one-thread walk, entry for entry and problem for problem", arguments: [false, true])
    func sameAsOneThread(hashing: Bool) throws {
        let s = Scratch()
        Self.makeTree(s)
        let root = s.file("root")
        let alone = Self.walker(root, threads: 1, hashing: hashing).walk()
        #expect(alone.shared == 0)
        let one = Self.seen(alone)
        // What one thread walks is what is there (apart from what the walk leaves out on purpose).
        #expect(one.paths.count > 100)
        #expect(one.paths.contains("big/d1/d0/run.sh") && one.paths.contains("big/d0/d1/link"))
        #expect(!one.paths.contains("big/d0/skipme") && !one.paths.contains { $0.contains("refused") })
        #expect(one.problems.contains { $0.contains("not UTF-8") })
        #expect(one.problems.contains { $0.contains("more than 7 levels") })
        if hashing {
            #expect(one.ids.filter { $0 != "-" }.count > 90)
            // Every FIFO has its outcome, at its own entry.
            #expect(one.others.count == 10)
            #expect(one.others.allSatisfy { one.paths[$0].hasSuffix("/pipe") || one.paths[$0].hasSuffix("/pipe2") })
        }
        var shared = 0
        for threads in [2, 3, 8] {
            for _ in 0..<15 {
                let w = Self.walker(root, threads: threads, hashing: hashing).walk()
                shared += w.shared
                let got = Self.seen(w)
                // The first difference only: the whole walk is too long to print.
                let firstPath = (0..<min(got.paths.count, one.paths.count)).first { got.paths[$0] != one.paths[$0] }
                    .map { "path \($0): \(got.paths[$0]) instead of \(one.paths[$0])" }
                let same = got == one
                #expect(same, "threads \(threads), \(w.shared) subtrees shared; \(firstPath ?? "paths in the same order, other fields differ")")
            }
        }
        // The comparison above is only worth something if the work was in fact shared.
        #expect(shared > 0)
    }

    @Test("the walk's threads fit in the descriptor limit: each may hold one a directory level")
    func threadsWithinDescriptors() {
        #expect(LiveWalker.threads(8, maxDepth: 256, descriptorLimit: 1024) == 3)
        #expect(LiveWalker.threads(8, maxDepth: 256, descriptorLimit: 65536) == 8)
        #expect(LiveWalker.threads(2, maxDepth: 256, descriptorLimit: 1024) == 2)
        #expect(LiveWalker.threads(4, maxDepth: 256, descriptorLimit: 200) == 1)
        #expect(LiveWalker.threads(4, maxDepth: 7, descriptorLimit: 1024) == 4)
    }
}
