import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

/// An entry the listing named and the walk then could not find was renamed away (and maybe back
/// after the walk) or deleted: the walk cannot tell which, so it is a problem, never "absent".
/// Otherwise an untracked file or subtree renamed away while the walk was busy elsewhere (hashing
/// a big file) and back after it is seen by neither scan nor gate.
@Suite("Live walk: entries gone since the listing")
struct LiveWalkerGoneTests {
    /// The walk of `root` on one thread, hashing every file; `hook` runs before the first hash.
    static func walk(_ root: String, hook: @escaping @Sendable (String) -> Void) -> LiveWalker.Walk {
        let fired = Flag()
        var w = LiveWalker(root: root, skip: [], threads: 1) { _ in true }
        w.hashing = .init(wanted: { _ in true }, beforeHash: { path in if fired.setOnce() { hook(path) } })
        return w.walk()
    }

    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var done = false
        func setOnce() -> Bool { lock.lock(); defer { lock.unlock() }; if done { return false }; done = true; return true }
    }

    @Test("a subdirectory renamed away after its parent was listed is a problem")
    func directory() throws {
        let s = Scratch()
        s.write("root/a.rb", "a\n")
        s.write("root/victim/evil.rb", "untracked\n")
        let away = s.file("away")
        let w = Self.walk(s.file("root")) { _ in
            _ = rename(s.file("root/victim"), away)
        }
        #expect(!(0..<w.paths.count).contains { w.paths[$0].hasPrefix("victim") })
        #expect(w.problems.contains { $0.path == "victim" && $0.message == LiveWalker.goneMessage }, "\(w.problems)")
    }

    @Test("a file renamed away after its directory was listed is a problem")
    func file() throws {
        let s = Scratch()
        for name in ["a", "b", "c", "d", "e"] { s.write("root/\(name).rb", "\(name)\n") }
        // The listing's order (the file system's, not the names'): the first file hashed renames
        // the last one listed away before the walk gets to it.
        let order = try FileManager.default.contentsOfDirectory(atPath: s.file("root"))
        let last = try #require(order.last)
        let w = Self.walk(s.file("root")) { path in
            if path != last { _ = rename(s.file("root/" + last), s.file("away")) }
        }
        #expect(w.problems.contains { $0.path == last && $0.message == LiveWalker.goneMessage }, "\(order): \(w.problems)")
    }
}
