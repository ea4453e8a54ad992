import CProcess
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Threads of the process's own, not the dispatch pool's: called from a thread of that pool (a
/// Swift concurrency task, a library caller's queue) `concurrentPerform` may find the pool busy
/// and run every iteration on the caller, one after another.
enum Threads {
    /// The CPUs this process may run on (its affinity mask), at least 1.
    static var cpuCount: Int { Int(pk_cpu_count()) }

    private final class Job {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Runs `body(i)` for i in 0..<count: 0 on the calling thread, the others each on a thread of
    /// its own; returns when all have returned. A thread that cannot be started leaves its `i`
    /// not run, so `body` must be a share of work that the others can finish without it.
    static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        var started: [pthread_t] = []
        for i in 1..<max(1, count) {
            let job = Unmanaged.passRetained(Job { body(i) })
            var thread = pthread_t()
            let made = pthread_create(&thread, nil, { context in
                Unmanaged<Job>.fromOpaque(context!).takeRetainedValue().body()
                return nil
            }, job.toOpaque())
            if made == 0 { started.append(thread) } else { job.release() }
        }
        body(0)
        for thread in started { pthread_join(thread, nil) }
    }
}

/// A mutex and its condition variable, straight from pthreads.
final class Condition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Unlocks, waits for a signal, locks again (called locked).
    func wait() { pthread_cond_wait(cond, mutex) }
    func signal() { pthread_cond_signal(cond) }
    func broadcast() { pthread_cond_broadcast(cond) }
}
