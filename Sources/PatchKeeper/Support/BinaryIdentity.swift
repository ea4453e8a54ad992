import CProcess
import Git
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Which build is running, for caches that hold what *this* build's checks decided
/// (`validated`, `headers`): a SHA-1 of the GNU build ids of every object loaded in the process
/// (the program, and libgit2 and each library under it: libgit2's diff parser does the diff
/// checks `validated` vouches for, and Debian updates it apart from patchkeeper). A rebuild,
/// another toolchain (the Swift runtime is linked in, and with it the Unicode rules
/// `PatchFile.parse` reads by) or a library update gives another identity, and what older
/// builds wrote is read as none: a check made stricter never meets a file a laxer one let
/// through. nil when some loaded object has no build id: those caches are then neither read
/// nor written.
enum BinaryIdentity {
    static let current: String? = {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var n = pk_loaded_build_ids(&buffer, buffer.count)
        if n > buffer.count {
            buffer = [UInt8](repeating: 0, count: n)
            n = pk_loaded_build_ids(&buffer, buffer.count)
        }
        guard n > 0, n <= buffer.count, let id = try? ObjectID.hashBlob(Array(buffer[..<n])) else { return nil }
        return id.hex
    }()
}
