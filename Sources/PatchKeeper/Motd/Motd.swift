#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The login-banner block of DESIGN §5: one app's block rendered from a `MotdSummary`, and kept in a
/// motd file between its BEGIN/END markers without touching a byte outside them.
///
/// ```
/// # BEGIN patchkeeper obs-api -- managed block, do not edit
/// *** MONKEY PATCHES ACTIVE on obs-api: 2 ***
///   deployed 8c1f0e2, checked 2026-11-25 12:00 UTC
///   0001  Disable the RSS cleanup   jane  2026-11-20  expires 2027-07-14  applied
///   0002  Raise the worker timeout  tom   2026-11-24  EXPIRED 2026-11-01  applied
///   !  1 unregistered change: src/api/app/models/user.rb
///   Details: patchkeeper status --app obs-api
/// # END patchkeeper obs-api
/// ```
/// The headline reads `MONKEY PATCHES ACTIVE on APP: N` for every N (deploy scripts grep for the
/// phrase, and "1 MONKEY PATCHES" would read badly); the deployed revision and check time sit on the
/// line below it because the one-line form of the design is 91 columns for a 7-letter app name.
/// Every time on the banner is a date or a time of day, never an age: the banner is read long after
/// it was written, and "5d" would be frozen at write time.
///
/// In a drop-in file of its own (a file in a `motd.d` directory, like the default
/// `/run/motd.d/50-patchkeeper-APP`) the banner is written without the marker lines, which every
/// user would otherwise see at login; see `Motd.update(file:app:block:)`.
public enum Motd {
    /// The phrase deploy scripts grep /etc/motd for; every headline contains it.
    public static let phrase = "MONKEY PATCHES"

    /// The narrowest block rendered; a smaller `width` is raised to this so the headline keeps `phrase`.
    public static let minimumWidth = 40

    /// The directory of the default banner: pam_motd on Debian 12 shows the files of /run/motd.d,
    /// /etc/motd.d and /usr/lib/motd.d after /etc/motd, and the shipped unit may write here while
    /// it sees /etc read-only. contrib/systemd/patchkeeper.tmpfiles creates it at boot.
    public static let defaultDirectory = "/run/motd.d"

    /// The banner file when neither --file nor the config's `motd` names one: a drop-in of its own.
    public static func defaultFile(app: String) -> String { "\(defaultDirectory)/50-patchkeeper-\(app)" }

    static let beginPrefix = "# BEGIN patchkeeper "
    static let endPrefix = "# END patchkeeper "
    static let beginNote = " -- managed block, do not edit"

    /// The block for one app, ending in a newline; nil when there is no active patch and no drift
    /// (the block is then removed). Untrusted text is sanitised, every line is cut to `width`
    /// characters with "…" (the marker lines carry the app name whole, as it identifies the block),
    /// and more than `maxLines` patches are cut to `maxLines - 1` rows and "… and N more".
    public static func block(for summary: MotdSummary, now: Date, width: Int = 80, maxLines: Int = 20) -> String? {
        guard !summary.patches.isEmpty || !summary.unregistered.isEmpty else { return nil }
        let width = max(width, minimumWidth)
        let app = Text.terminalLine(summary.app)
        var revision = String(Text.terminalLine(summary.deployedRevision).prefix(7))
        if revision.isEmpty { revision = "unknown" }

        var lines = [beginMarker(app, width: width), headline(app: app, count: summary.patches.count,
                                                                   expired: summary.patches.filter(\.expired).count, width: width)]
        lines.append(fit("  deployed \(revision), checked \(utcMinute(summary.checkedAt))", width))
        lines += patchRows(summary.patches, now: now, width: width, maxLines: max(maxLines, 1))
        if !summary.unregistered.isEmpty {
            lines.append(driftLine(summary.unregistered, since: summary.unregisteredSince, width: width))
        }
        lines.append(fit("  Details: patchkeeper status --app \(shellWord(app))", width))
        lines.append(endPrefix + app)
        return lines.joined(separator: "\n") + "\n"
    }

    static func beginMarker(_ app: String, width: Int) -> String {
        let full = beginPrefix + app + beginNote
        return Text.displayWidth(full) <= width ? full : beginPrefix + app
    }

    /// `*** MONKEY PATCHES ACTIVE on APP: N ***` (`N, K EXPIRED` when some are past their date),
    /// the app name cut so the counts always show.
    static func headline(app: String, count: Int, expired: Int = 0, width: Int) -> String {
        let head = "*** \(phrase) ACTIVE on ", tail = ": \(count)\(expired > 0 ? ", \(expired) EXPIRED" : "") ***"
        return fit(head + fit(app, width - head.count - tail.count) + tail, width)
    }

    /// `2026-11-25 12:00 UTC`
    static func utcMinute(_ date: Date) -> String {
        let iso = Text.isoTimestamp(date)  // 2026-11-25T12:00:00Z
        return "\(iso.prefix(10)) \(iso.dropFirst(11).prefix(5)) UTC"
    }

    /// One row a patch in aligned columns: id, title, author, the day it was recorded, expiry, state. The title takes
    /// the room the other columns leave; when the longest title does not fit, the gaps after the
    /// author narrow to one space before any title is cut.
    static func patchRows(_ patches: [MotdSummary.Line], now: Date, width: Int, maxLines: Int) -> [String] {
        let shown = patches.count > maxLines ? Array(patches.prefix(maxLines - 1)) : patches
        let cells = shown.map { p in
            (id: fit(Text.terminalLine(p.id), 8),
             title: Text.terminalLine(p.title),
             author: fit(Text.terminalLine(p.author), 10),
             age: p.recordedAt.map { String(Text.isoTimestamp($0).prefix(10)) } ?? "?",
             expiry: expiry(p),
             state: stateLabel(p.state))
        }
        let idW = cells.map { Text.displayWidth($0.id) }.max() ?? 0
        let authorW = cells.map { Text.displayWidth($0.author) }.max() ?? 0
        let ageW = cells.map { Text.displayWidth($0.age) }.max() ?? 0
        let expiryW = cells.map { Text.displayWidth($0.expiry) }.max() ?? 0
        let stateW = cells.map { Text.displayWidth($0.state) }.max() ?? 0
        let longestTitle = cells.map { Text.displayWidth($0.title) }.max() ?? 0
        let fixed = 2 + idW + 2 + 2 + authorW + ageW + expiryW + stateW
        let gap = fixed + 6 + longestTitle <= width ? "  " : " "
        let titleW = max(min(longestTitle, width - fixed - 3 * gap.count), 1)
        var rows = cells.map { c in
            let age = String(repeating: " ", count: ageW - Text.displayWidth(c.age)) + c.age
            let row = "  " + pad(c.id, idW) + "  " + pad(fit(c.title, titleW), titleW) + "  " + pad(c.author, authorW)
                + gap + age + gap + pad(c.expiry, expiryW) + gap + c.state
            return fit(row, width)
        }
        if shown.count < patches.count {
            rows.append("  … and \(patches.count - shown.count) more")
        }
        return rows
    }

    static func expiry(_ p: MotdSummary.Line) -> String {
        let day = p.expires.map { fit(Text.terminalLine($0), 10) }
        if p.expired { return day.map { "EXPIRED " + $0 } ?? "EXPIRED" }
        return day.map { "expires " + $0 } ?? "no expiry"
    }

    /// "applied" as is; every other state upper-cased so it stands out.
    static func stateLabel(_ state: String) -> String {
        let s = fit(Text.terminalLine(state), 12)
        if s.isEmpty { return "UNKNOWN" }
        return s.lowercased() == "applied" ? "applied" : s.uppercased()
    }

    /// `!  N unregistered change(s): path, path …`, listing paths while they fit.
    static func driftLine(_ paths: [String], since: Date? = nil, width: Int) -> String {
        let n = paths.count
        var line = "  !  \(n) unregistered change\(n == 1 ? "" : "s")\(since.map { " since " + String(Text.isoTimestamp($0).prefix(10)) } ?? ""): "
        for (i, path) in paths.enumerated() {
            line += (i == 0 ? "" : ", ") + Text.terminalLine(path)
            if Text.displayWidth(line) > width { break }
        }
        return fit(line, width)
    }

    /// The app name as a shell word, quoted when it holds anything but letters, digits and `._-`.
    static func shellWord(_ s: String) -> String {
        let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { c in
            ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "." || c == "_" || c == "-"
        }
        return plain ? s : "'" + s.replacing("'", with: "'\\''") + "'"
    }

    /// `s` cut to `width` terminal columns (a CJK character takes two), ending in "…" when cut.
    static func fit(_ s: String, _ width: Int) -> String {
        guard Text.displayWidth(s) > width else { return s }
        guard width > 1 else { return s.first.map { width == 1 && Text.columns($0) == 1 ? String($0) : "" } ?? "" }
        var cut = String(Text.fitting(s, columns: width).dropLast())
        while cut.hasSuffix(" ") { cut.removeLast() }
        return cut + "…"
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s + String(repeating: " ", count: max(0, width - Text.displayWidth(s)))
    }
}
