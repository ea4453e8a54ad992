import Git
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns paths from users, patches and config into clean root-relative paths, refusing anything
/// that would reach outside the app root: `..`, absolute paths elsewhere, NUL and control
/// characters, and symlinked directories on the way.
public enum SafePath {
    /// Normalises a root-relative path (`a//b/./c` → `a/b/c`); throws for `..`, absolute
    /// paths, NUL, newlines or an empty path. `source` names where the path came from.
    public static func relative(_ path: String, source: String) throws -> String {
        if path.isEmpty { throw PatchKeeperError("\(source) is empty") }
        if path.utf8.contains(where: { $0 == 0 || $0 == 10 || $0 == 13 }) {
            throw PatchKeeperError("\(source) \(quoted(path)) contains a NUL or newline character")
        }
        if path.utf8.first == UInt8(ascii: "/") {  // the byte: "/" + a combining mark is no "/" Character
            throw PatchKeeperError("\(source) \(quoted(path)) is absolute", hint: "paths are relative to the app root")
        }
        var parts: [Substring] = []
        for part in path.slashParts() {
            if part.utf8.elementsEqual(".".utf8) { continue }
            if part.utf8.elementsEqual("..".utf8) {
                throw PatchKeeperError("\(source) \(quoted(path)) leaves the app root (contains '..')")
            }
            parts.append(part)
        }
        if parts.isEmpty { throw PatchKeeperError("\(source) \(quoted(path)) names the app root itself") }
        if parts.first.map({ $0.utf8.elementsEqual(".git".utf8) }) == true {
            throw PatchKeeperError("\(source) \(quoted(path)) is inside .git, which patchkeeper never touches")
        }
        return parts.joined(separator: "/")
    }

    /// Resolves a path typed on the command line: absolute paths must lie inside `root`;
    /// relative ones are taken from the current directory when it is inside root, else from root.
    public static func fromCommandLine(_ path: String, root: String) throws -> String {
        let rootReal = POSIX.realPath(root) ?? root
        var candidate = path
        if !path.hasPrefix("/") {
            let cwd = POSIX.currentDirectory()
            if let rel = strip(prefix: rootReal, from: cwd) {
                // Typed from inside the root: `../x` may climb within the root, never above it.
                var parts: [Substring] = rel.isEmpty ? [] : rel.slashParts()
                for part in path.slashParts() {
                    if part == "." { continue }
                    if part == ".." {
                        if parts.isEmpty { throw PatchKeeperError("path \(quoted(path)) is outside the app root \(root)", hint: "name files under the root") }
                        parts.removeLast()
                    } else {
                        parts.append(part)
                    }
                }
                candidate = parts.joined(separator: "/")
                return try checked(candidate, root: root, source: "path")
            }
            return try checked(path, root: root, source: "path")
        }
        // Absolute: compare against root, both literally and with symlinks of the parent resolved.
        for base in [root, rootReal] {
            let b = base.hasSuffix("/") ? String(base.dropLast()) : base
            if let rel = strip(prefix: b, from: path) {
                return try checked(rel, root: root, source: "path")
            }
        }
        let parentReal = POSIX.realPath(POSIX.parentDirectory(path)) ?? POSIX.parentDirectory(path)
        if let rel = strip(prefix: rootReal, from: parentReal) {
            let joined = (rel.isEmpty ? "" : rel + "/") + POSIX.baseName(path)
            return try checked(joined, root: root, source: "path")
        }
        throw PatchKeeperError("path \(quoted(path)) is outside the app root \(root)", hint: "name files under the root")
    }

    /// Normalises `path` and checks that no directory on the way to it inside `root` is a
    /// symlink (the file itself may be one: it is then recorded as a link).
    public static func checked(_ path: String, root: String, source: String) throws -> String {
        let rel = try relative(path, source: source)
        let parts = rel.slashParts()
        var current = root
        for part in parts.dropLast() {
            current += "/" + part
            guard let st = POSIX.lstat(current) else { break }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                throw PatchKeeperError("\(source) \(quoted(path)): \(current) is a symbolic link; patchkeeper does not follow links out of the app root")
            }
            if (st.st_mode & S_IFMT) != S_IFDIR {
                throw PatchKeeperError("\(source) \(quoted(path)): \(current) is not a directory")
            }
        }
        return rel
    }

    static func strip(prefix: String, from path: String) -> String? {
        // Bytes, not Characters (`==` and `hasPrefix` on `String` are Unicode-aware; see `slashParts`).
        let p = prefix.utf8.last == UInt8(ascii: "/") ? Array(prefix.utf8.dropLast()) : Array(prefix.utf8)
        if path.utf8.elementsEqual(p) { return "" }
        if path.utf8.starts(with: p + [UInt8(ascii: "/")]) { return String(Substring(path.utf8.dropFirst(p.count + 1))) }
        return nil
    }

    static func quoted(_ s: String) -> String {
        var out = "'"
        for scalar in s.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                let hex = String(scalar.value, radix: 16)
                out += "\\x" + (hex.count < 2 ? "0" + hex : hex)  // "\x0a" + "b", never "\xab"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "'"
    }
}
