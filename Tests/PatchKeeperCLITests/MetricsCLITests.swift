import Foundation
import Testing
import TestSupport

@Suite("CLI scan --metrics-file")
struct MetricsCLITests {
    @Test("scan --metrics-file writes the metrics with mode 0644, also when the scan has findings")
    func writesMetrics() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        let prom = app.scratch.file("patchkeeper-live.prom")

        let clean = pk(["scan", "--metrics-file", prom] + app.flags)
        #expect(clean.status == 0, "\(clean.stderr)")
        let first = try #require(app.scratch.read("patchkeeper-live.prom"))
        #expect(first.contains("patchkeeper_active_patches{app=\"live\"} 0\n"))
        #expect(first.contains("# TYPE patchkeeper_scan_duration_seconds gauge\n"))
        var st = stat()
        lstat(prom, &st)
        #expect(st.st_mode & 0o777 == 0o644)

        app.scratch.write("live/config/clock.rb", "every 1.hour do\nend\n")
        #expect(pk(["record", "config/clock.rb", "--title", "t", "--reason", "r"] + app.flags).status == 0)
        app.deploy("v1")
        app.scratch.write("live/config/workers.yml", "timeout: 90\n")
        let findings = pk(["scan", "--metrics-file", prom] + app.flags)
        #expect(findings.status == 1)
        let text = try #require(app.scratch.read("patchkeeper-live.prom"))
        #expect(text.contains("patchkeeper_patches{app=\"live\",state=\"overwritten\"} 1\n"))
        #expect(text.contains("patchkeeper_unregistered_changes{app=\"live\"} 1\n"))
        let stamp = text.split(separator: "\n").first { $0.hasPrefix("patchkeeper_last_scan_timestamp_seconds") }
        let seconds = try #require(stamp.flatMap { Double($0.split(separator: " ").last ?? "") })
        #expect(abs(seconds - Date().timeIntervalSince1970) < 600)
        // No temp file is left next to it for the collector to trip over.
        let names = try FileManager.default.contentsOfDirectory(atPath: app.scratch.path)
        #expect(!names.contains { $0.contains("pk-tmp") })
    }

    @Test("a metrics file in a missing directory is trouble: exit 2 with the path")
    func missingDirectory() {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        let r = pk(["scan", "--metrics-file", app.scratch.file("nope/x.prom")] + app.flags)
        #expect(r.status == 2)
        #expect(r.stderr.contains("nope/x.prom"))
    }

    @Test("a scan that fails still writes the metrics file: success 0, the last success kept")
    func failedScanIsVisible() throws {
        let app = AppFixture()
        #expect(pk(["init"] + app.flags).status == 0)
        let prom = app.scratch.file("pk.prom")
        #expect(pk(["scan", "--metrics-file", prom] + app.flags).status == 0)
        let ok = try #require(app.scratch.read("pk.prom"))
        #expect(ok.contains("patchkeeper_last_scan_success{app=\"live\"} 1"))
        let stamp = try #require(ok.split(separator: "\n").first { $0.hasPrefix("patchkeeper_last_success_timestamp_seconds{") })
        // The deployed revision vanishes (a bad REVISION): the scan fails, the metrics say so.
        app.scratch.write("live/REVISION", "0000000000000000000000000000000000000001\n")
        let r = pk(["scan", "--metrics-file", prom] + app.flags)
        #expect(r.status == 2)
        let failed = try #require(app.scratch.read("pk.prom"))
        #expect(failed.contains("patchkeeper_last_scan_success{app=\"live\"} 0"), "\(failed)")
        #expect(failed.contains(String(stamp)), "\(failed)")
    }
}
