#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Crash testing: with `PATCHKEEPER_FAULT_AFTER=k` in the environment, the process dies with
/// `_exit(97)` at the k-th durable write step (a rename, a removal, a registry commit, ...),
/// as a power cut would stop it. Tests use it to prove every file ends old or new, never torn,
/// and that rerunning the command finishes the job. Without the variable it does nothing.
public enum FaultInjector {
    static let limit: Int? = Environment.value("PATCHKEEPER_FAULT_AFTER").flatMap(Int.init)
    static let count = Mutex(0)

    /// Marks one durable step; dies here if this is the step the environment asked for.
    public static func step(_ label: String) {
        guard let limit else { return }
        let n = count.withLock { c -> Int in
            c += 1
            return c
        }
        if n == limit {
            if Environment.value("PATCHKEEPER_FAULT_VERBOSE") != nil {
                StandardStream.err("patchkeeper: fault injected at step \(n): \(label)\n")
            }
            _exit(97)
        }
    }
}
