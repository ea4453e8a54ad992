#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A scan as Prometheus metrics in the text exposition format, for node_exporter's textfile
/// collector (`scan --metrics-file /var/lib/node_exporter/textfile_collector/patchkeeper-APP.prom`).
///
/// Every series carries an `app` label, so one file per app can sit side by side in the collector's
/// directory. All gauges are always present (`patchkeeper_patches` with all four states, 0 when none)
/// so a rule such as `patchkeeper_patches{state="overwritten"} > 0` never sees a missing series.
/// "Seconds since the last scan" is left to PromQL:
/// `time() - patchkeeper_last_scan_timestamp_seconds`.
public enum Metrics {
    /// The metrics for `report`; `now` is when the scan finished, written as
    /// `patchkeeper_last_scan_timestamp_seconds`. Ends in a newline.
    /// `oldestDriftSince`: when the oldest unregistered change was first seen (drift age).
    /// `fleetPush`: the state of the last push to the fleet remote (gauges only when there is one).
    public static func render(_ report: ScanReport, now: Date, oldestDriftSince: Date? = nil, fleetPush: FleetPushState? = nil) -> String {
        let app = "app=\"\(escapeLabel(report.app))\""
        var out = ""
        func gauge(_ name: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for s in samples { out += "\(name){\(s.labels)} \(s.value)\n" }
        }
        gauge("patchkeeper_active_patches", "Active patches in the registry.",
              [(app, String(report.patches.count))])
        gauge("patchkeeper_patches", "Active patches by the state the last scan found them in.",
              ScanReport.PatchState.allCases.map { state in
                  ("\(app),state=\"\(state.rawValue)\"", String(report.patches.filter { $0.state == state }.count))
              })
        gauge("patchkeeper_unregistered_changes", "Changes under the root that no active patch explains.",
              [(app, String(report.unregistered.count))])
        gauge("patchkeeper_oldest_unregistered_change_seconds", "How long the oldest unregistered change has been there (0: none).",
              [(app, String(Int64(oldestDriftSince.map { max(0, now.timeIntervalSince($0)) } ?? 0)))])
        gauge("patchkeeper_expired_patches", "Active patches past their Expires date.",
              [(app, String(report.patches.filter(\.expired).count))])
        gauge("patchkeeper_scan_problems", "Files the last scan could not check (unreadable, changed while scanned).",
              [(app, String(report.problems.count))])
        gauge("patchkeeper_last_scan_timestamp_seconds", "Unix time the last scan finished; time() - this is the seconds since.",
              [(app, String(Int64(now.timeIntervalSince1970.rounded(.down))))])
        gauge("patchkeeper_scan_duration_seconds", "How long the last scan took.",
              [(app, Text.fixed(max(0, report.stats.seconds), 3))])
        out += successGauges(app: report.app, success: true, lastSuccess: now)
        if let fleetPush {
            gauge("patchkeeper_fleet_push_success", "Whether the last push to the fleet remote worked (1) or is pending (0).",
                  [(app, fleetPush.ok ? "1" : "0")])
            gauge("patchkeeper_fleet_last_push_success_timestamp_seconds", "Unix time of the last push to the fleet remote that worked (0: none yet).",
                  [(app, String(Int64(fleetPush.lastSuccess.map { $0.timeIntervalSince1970.rounded(.down) } ?? 0)))])
        }
        return out
    }

    static func successGauges(app name: String, success: Bool, lastSuccess: Date?) -> String {
        let app = "app=\"\(escapeLabel(name))\""
        var out = "# HELP patchkeeper_last_scan_success Whether the last scan ran to the end (1) or failed (0).\n"
        out += "# TYPE patchkeeper_last_scan_success gauge\npatchkeeper_last_scan_success{\(app)} \(success ? 1 : 0)\n"
        out += "# HELP patchkeeper_last_success_timestamp_seconds Unix time of the last scan that ran to the end (0: none yet).\n"
        out += "# TYPE patchkeeper_last_success_timestamp_seconds gauge\n"
        out += "patchkeeper_last_success_timestamp_seconds{\(app)} \(lastSuccess.map { String(Int64($0.timeIntervalSince1970.rounded(.down))) } ?? "0")\n"
        return out
    }

    /// The metrics file as it is, read without following a link or blocking on a FIFO (1 MiB at most).
    public static func readPrevious(_ path: String) -> String? {
        (try? POSIX.readFile(path, limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The metrics file for a scan that failed (no repository, unreadable registry …): the success
    /// flag 0 and the last success carried over from `previous` (the file as it was), so a timer
    /// that keeps failing is an alert, not silence.
    public static func renderFailure(app: String, previous: String?, now: Date) -> String {
        var last: Date?
        for line in (previous ?? "").split(separator: "\n") where line.hasPrefix("patchkeeper_last_success_timestamp_seconds{") {
            if let v = line.split(separator: " ").last.flatMap({ Double($0) }), v > 0 { last = Date(timeIntervalSince1970: v) }
        }
        return successGauges(app: app, success: false, lastSuccess: last)
    }

    /// A label value as the exposition format wants it: backslash, double quote and line feed escaped.
    static func escapeLabel(_ value: String) -> String {
        var out = ""
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
