import Foundation
import Testing
import TestSupport
@testable import PatchKeeper

/// What the CProcess shim reports about this process.
@Suite("process facts")
struct ProcessFactsTests {
    @Test("the CPU count is the affinity mask's, as nproc counts it")
    func cpuCount() throws {
        let nproc = run("/usr/bin/nproc", []).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int(nproc) == Threads.cpuCount)
        #expect(Threads.cpuCount >= 1)
    }

    @Test("the build identity is stable within a run and names every loaded object")
    func identity() {
        #expect(BinaryIdentity.current != nil)
        #expect(BinaryIdentity.current == BinaryIdentity.current)
    }
}
