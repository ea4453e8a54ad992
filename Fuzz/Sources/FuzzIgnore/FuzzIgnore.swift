import Foundation
import Git

/// An empty directory for the in-memory handles' work tree (never written).
let emptyDirectory: String = {
    let dir = NSTemporaryDirectory() + "/pk-fuzz-ignore-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

/// libFuzzer entry: the first line names the directory a `.gitignore` sits in (repo-relative),
/// the rest is its text. `IgnoreRules.scopedRules` rewrites it to rules matching repo paths
/// (what scan does with the deployed revision's .gitignore files) and libgit2 parses and matches
/// them; the raw text also goes in as `.patchkeeperignore` rules. Must never crash, and rules
/// scoped to a directory must never ignore a path outside it (that would let a .gitignore deep
/// in the tree hide files elsewhere).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let firstLine = text.prefix { $0 != "\n" }
    let body = String(text.dropFirst(firstLine.count))
    let parts = firstLine.split(separator: "/").filter { $0 != "." && $0 != ".." && !$0.contains("\0") && $0.count <= 40 }.prefix(4)
    let directory = parts.joined(separator: "/")
    let scoped = IgnoreRules.scopedRules(gitignore: body, directory: directory)
    guard let rules = try? IgnoreRules(rulesOnly: scoped, emptyDirectory: emptyDirectory) else { return 0 }
    let inside = directory.isEmpty ? "" : directory + "/"
    for p in [inside + "x", inside + "a/b.log", inside + "tmp/", inside + ".keep", inside + "a/b/c/"] { _ = rules.isIgnored(p) }
    if !directory.isEmpty {
        // Paths outside the directory: a sibling whose name starts with the directory's, its
        // parent's files, an unrelated top-level path.
        let outside = [directory + "x/y", directory + "-/y.log", "zz-outside/x", "x", "tmp/", ".keep"]
        // libgit2 ignores anything under a `.git` component by its own default rule (scan
        // never asks it about such paths), so those prove nothing here.
        for p in outside where !p.split(separator: "/").contains(".git") && rules.isIgnored(p) {
            fatalError("rules scoped to '\(directory)' ignore '\(p)' outside it: \(scoped)")
        }
    }
    // As scan splits a .patchkeeperignore; IgnoreRules splits any "\n" left in a rule itself.
    let raw = body.unicodeScalars.split(separator: "\n").map { String(String.UnicodeScalarView($0)) } + [body]
    if let plain = try? IgnoreRules(rulesOnly: raw, emptyDirectory: emptyDirectory) {
        for p in ["x", "a/b.log", "tmp/", "a/b/c/"] { _ = plain.isIgnored(p) }
    }
    return 0
}
