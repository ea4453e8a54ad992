import Foundation

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
    public static func render(_ report: ScanReport, now: Date) -> String {
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
        gauge("patchkeeper_expired_patches", "Active patches past their Expires date.",
              [(app, String(report.patches.filter(\.expired).count))])
        gauge("patchkeeper_scan_problems", "Files the last scan could not check (unreadable, changed while scanned).",
              [(app, String(report.problems.count))])
        gauge("patchkeeper_last_scan_timestamp_seconds", "Unix time the last scan finished; time() - this is the seconds since.",
              [(app, String(Int64(now.timeIntervalSince1970.rounded(.down))))])
        gauge("patchkeeper_scan_duration_seconds", "How long the last scan took.",
              [(app, String(format: "%.3f", max(0, report.stats.seconds)))])
        return out
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
