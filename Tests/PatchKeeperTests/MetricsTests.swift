import Foundation
import Git
import Testing
@testable import PatchKeeper

/// 2026-11-25 12:00 UTC plus a fraction, which the timestamp drops.
private let now = Date(timeIntervalSince1970: 1_795_608_000.75)

private func result(_ id: String, _ state: ScanReport.PatchState, expired: Bool = false) -> ScanReport.PatchResult {
    ScanReport.PatchResult(id: id, title: "Patch \(id)", author: "jane", recordedAt: nil, expires: expired ? "2026-11-01" : nil,
                           expired: expired, state: state, files: [.init(path: "src/api/config/clock.rb", state: .applied)])
}

private func report(app: String = "obs-api", patches: [ScanReport.PatchResult] = [], unregistered: [ScanReport.Drift] = [],
                    problems: [ScanReport.Problem] = [], seconds: Double = 0) -> ScanReport {
    var stats = ScanReport.Stats()
    stats.files = 1234
    stats.seconds = seconds
    return ScanReport(app: app, root: "/srv/www/obs/api", deployedRevision: ObjectID(hex: "8c1f0e2d4b5a69788766554433221100ffeeddcc")!,
                      revisionSource: "REVISION file", checkedAt: now.addingTimeInterval(-2), patches: patches,
                      unregistered: unregistered, problems: problems, stats: stats)
}

@Suite("Prometheus metrics")
struct MetricsTests {
    @Test("the metrics of a scan with findings are pinned: HELP, TYPE and one sample per series")
    func pinned() {
        let r = report(
            patches: [result("0001", .applied), result("0002", .overwritten, expired: true), result("0003", .applied, expired: true)],
            unregistered: [.init(path: "src/api/app/models/user.rb", kind: .modified), .init(path: "src/api/tmp.rb", kind: .added)],
            problems: [.init(path: "src/api/log.rb", message: "unreadable")],
            seconds: 1.23456)
        #expect(Metrics.render(r, now: now) == """
            # HELP patchkeeper_active_patches Active patches in the registry.
            # TYPE patchkeeper_active_patches gauge
            patchkeeper_active_patches{app="obs-api"} 3
            # HELP patchkeeper_patches Active patches by the state the last scan found them in.
            # TYPE patchkeeper_patches gauge
            patchkeeper_patches{app="obs-api",state="applied"} 2
            patchkeeper_patches{app="obs-api",state="overwritten"} 1
            patchkeeper_patches{app="obs-api",state="modified"} 0
            patchkeeper_patches{app="obs-api",state="partial"} 0
            # HELP patchkeeper_unregistered_changes Changes under the root that no active patch explains.
            # TYPE patchkeeper_unregistered_changes gauge
            patchkeeper_unregistered_changes{app="obs-api"} 2
            # HELP patchkeeper_oldest_unregistered_change_seconds How long the oldest unregistered change has been there (0: none).
            # TYPE patchkeeper_oldest_unregistered_change_seconds gauge
            patchkeeper_oldest_unregistered_change_seconds{app="obs-api"} 0
            # HELP patchkeeper_expired_patches Active patches past their Expires date.
            # TYPE patchkeeper_expired_patches gauge
            patchkeeper_expired_patches{app="obs-api"} 2
            # HELP patchkeeper_scan_problems Files the last scan could not check (unreadable, changed while scanned).
            # TYPE patchkeeper_scan_problems gauge
            patchkeeper_scan_problems{app="obs-api"} 1
            # HELP patchkeeper_last_scan_timestamp_seconds Unix time the last scan finished; time() - this is the seconds since.
            # TYPE patchkeeper_last_scan_timestamp_seconds gauge
            patchkeeper_last_scan_timestamp_seconds{app="obs-api"} 1795608000
            # HELP patchkeeper_scan_duration_seconds How long the last scan took.
            # TYPE patchkeeper_scan_duration_seconds gauge
            patchkeeper_scan_duration_seconds{app="obs-api"} 1.235
            # HELP patchkeeper_last_scan_success Whether the last scan ran to the end (1) or failed (0).
            # TYPE patchkeeper_last_scan_success gauge
            patchkeeper_last_scan_success{app="obs-api"} 1
            # HELP patchkeeper_last_success_timestamp_seconds Unix time of the last scan that ran to the end (0: none yet).
            # TYPE patchkeeper_last_success_timestamp_seconds gauge
            patchkeeper_last_success_timestamp_seconds{app="obs-api"} 1795608000

            """)
    }

    @Test("a clean scan with no patches still has every series, all four states at 0")
    func emptyHasEverySeries() {
        let lines = Metrics.render(report(), now: now).split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines == [
            "patchkeeper_active_patches{app=\"obs-api\"} 0",
            "patchkeeper_patches{app=\"obs-api\",state=\"applied\"} 0",
            "patchkeeper_patches{app=\"obs-api\",state=\"overwritten\"} 0",
            "patchkeeper_patches{app=\"obs-api\",state=\"modified\"} 0",
            "patchkeeper_patches{app=\"obs-api\",state=\"partial\"} 0",
            "patchkeeper_unregistered_changes{app=\"obs-api\"} 0",
            "patchkeeper_oldest_unregistered_change_seconds{app=\"obs-api\"} 0",
            "patchkeeper_expired_patches{app=\"obs-api\"} 0",
            "patchkeeper_scan_problems{app=\"obs-api\"} 0",
            "patchkeeper_last_scan_timestamp_seconds{app=\"obs-api\"} 1795608000",
            "patchkeeper_scan_duration_seconds{app=\"obs-api\"} 0.000",
            "patchkeeper_last_scan_success{app=\"obs-api\"} 1",
            "patchkeeper_last_success_timestamp_seconds{app=\"obs-api\"} 1795608000",
        ])
    }

    @Test("every patch state counts in its own series")
    func statesCount() {
        let r = report(patches: [result("0001", .modified), result("0002", .partial), result("0003", .partial), result("0004", .overwritten)])
        let text = Metrics.render(r, now: now)
        #expect(text.contains("patchkeeper_patches{app=\"obs-api\",state=\"applied\"} 0\n"))
        #expect(text.contains("patchkeeper_patches{app=\"obs-api\",state=\"overwritten\"} 1\n"))
        #expect(text.contains("patchkeeper_patches{app=\"obs-api\",state=\"modified\"} 1\n"))
        #expect(text.contains("patchkeeper_patches{app=\"obs-api\",state=\"partial\"} 2\n"))
        #expect(text.contains("patchkeeper_active_patches{app=\"obs-api\"} 4\n"))
    }

    @Test("backslash, double quote and line feed in the app name are escaped as the exposition format says")
    func labelEscaping() {
        #expect(Metrics.escapeLabel(#"a\b"c"#) == #"a\\b\"c"#)
        #expect(Metrics.escapeLabel("two\nlines") == #"two\nlines"#)
        #expect(Metrics.escapeLabel("obs-api ünïcode") == "obs-api ünïcode")
        let text = Metrics.render(report(app: "we\"ird\\app\nx"), now: now)
        #expect(text.contains(#"patchkeeper_active_patches{app="we\"ird\\app\nx"} 0"#))
        #expect(text.split(separator: "\n").count == 33)
    }

    @Test("the oldest unregistered change's age is a gauge in seconds")
    func driftAge() {
        let r = report(unregistered: [.init(path: "src/api/x.rb", kind: .added)])
        let text = Metrics.render(r, now: now, oldestDriftSince: now.addingTimeInterval(-3 * 86_400))
        #expect(text.contains("patchkeeper_oldest_unregistered_change_seconds{app=\"obs-api\"} 259200\n"))
    }
}
