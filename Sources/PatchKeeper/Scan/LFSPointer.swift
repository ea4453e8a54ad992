#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Git LFS pointer file (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md): the blob
/// git stores for a file whose content lives elsewhere. A deploy that fetched LFS objects writes
/// the real content, so the live file matches the pointer when its sha256 and size do.
struct LFSPointer: Equatable {
    /// Pointer files are under 1024 bytes (the spec's limit).
    static let maxSize = 1023
    static let versionLine = Array("version https://git-lfs.github.com/spec/v1\n".utf8)

    var oid: String   // 64 lower-case hex digits
    var size: Int64

    /// Parses a pointer: `version https://git-lfs.github.com/spec/v1` first, then `key value`
    /// lines with `oid sha256:<hex>` and `size <n>`; nil for anything else.
    init?(_ bytes: [UInt8]) {
        // The first line, by bytes first: nearly every blob asked about is no pointer (the check
        // below, on Characters, rejects what this rejects).
        guard bytes.count <= Self.maxSize, bytes.last == 10, bytes.starts(with: Self.versionLine) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard lines.first == "version https://git-lfs.github.com/spec/v1" else { return nil }
        var oid: String?
        var size: Int64?
        for line in lines.dropFirst() {
            guard let space = line.firstIndex(of: " ") else { return nil }
            let key = line[..<space], value = line[line.index(after: space)...]
            switch key {
            case "oid":
                guard value.hasPrefix("sha256:") else { return nil }
                let hex = value.dropFirst(7)
                guard hex.count == 64, hex.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) }) else { return nil }
                oid = String(hex)
            case "size":
                guard !value.isEmpty, value.allSatisfy({ ("0"..."9").contains($0) }), let n = Int64(value) else { return nil }
                size = n
            default:
                continue
            }
        }
        guard let oid, let size else { return nil }
        self.oid = oid
        self.size = size
    }

    /// True when the regular file at `path` has this pointer's size and sha256. Opened without
    /// blocking and checked on the descriptor; any error is "no".
    func matches(file path: String) -> Bool {
        guard let (fd, st) = try? POSIX.openRegular(path) else { return false }
        defer { close(fd) }
        guard Int64(st.st_size) == size else { return false }
        var digest = SHA256()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var total: Int64 = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            if n == 0 { break }
            total += Int64(n)
            if total > size { return false }
            digest.update(chunk[0..<n])
        }
        return total == size && digest.hexDigest() == oid
    }
}
