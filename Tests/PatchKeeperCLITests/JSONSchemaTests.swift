import Foundation
import Testing
import TestSupport

/// Every command's `--format json` output, on one fixture taken through a whole life cycle,
/// checked against its schema in docs/schema/ (strict: a renamed or extra field fails).
@Suite("JSON output against docs/schema")
struct JSONSchemaTests {
    static let schemaDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/schema").path

    static let clock = "every 1.hour do\n  RssCleanup.run\nend\n\nevery 1.day do\n  Report.run\nend\n"
    static let patched = "every 1.hour do\n  # RssCleanup.run  # takes table locks\nend\n\nevery 1.day do\n  Report.run\nend\n"

    /// Runs patchkeeper with `--format json`, checks the exit status and the output against `schema`.
    @discardableResult
    func check(_ args: [String], _ schema: String, status: Int32 = 0, _ app: AppFixture,
               sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        let r = pk(args + ["--format", "json"] + app.flags)
        #expect(r.status == status, "\(args): \(r.stdout)\(r.stderr)", sourceLocation: sourceLocation)
        let value = try JSONValue.parse(r.stdout)
        var v = SchemaValidator(directory: Self.schemaDir)
        let errors = try v.errors(value, file: schema + ".json")
        #expect(errors.isEmpty, "\(args) against \(schema).json:\n\(errors.joined(separator: "\n"))\n\(r.stdout)",
                sourceLocation: sourceLocation)
        return value
    }

    @Test("init, record, apply, list, show, log, edit, status, scan, diff, motd, propose, gate, reapply, resolve, retire and errors")
    func everyCommand() throws {
        let app = AppFixture(deploy: false)
        app.commit(["src/api/config/clock.rb": Self.clock], message: "v1.1", tag: "base")
        app.deploy("base")
        try check(["init"], "init", app)

        app.scratch.write("live/config/clock.rb", Self.patched)
        try check(["record", "config/clock.rb", "--title", "Disable the RSS cleanup job", "--reason", "table locks",
                   "--ticket", "OPS-7", "--expires", "2099-01-01"], "action", app)
        // A mode-only change: no blob ids at all rather than all-zero ones.
        chmod(app.root + "/config/workers.yml", 0o755)
        let mode = try check(["record", "config/workers.yml", "--title", "Make workers.yml executable", "--reason", "a wrapper runs it"],
                             "action", app)
        let modeFile = try #require(mode["patch"]?["files"]?.array?.first)
        #expect(modeFile["old_blob"] == nil && modeFile["new_blob"] == nil, "\(modeFile)")
        #expect(modeFile["old_mode"] == .string("100644") && modeFile["new_mode"] == .string("100755"))

        app.scratch.write("fix.patch", "diff --git a/README b/README\n--- a/README\n+++ b/README\n@@ -1 +1 @@\n-The API.\n+The API, patched.\n")
        let dry = try check(["apply", app.scratch.file("fix.patch"), "--title", "Patch the README", "--reason", "docs", "--dry-run"],
                            "action", app)
        #expect(dry["dry_run"] == .bool(true))
        try check(["apply", app.scratch.file("fix.patch"), "--title", "Patch the README", "--reason", "docs"], "action", app)

        try check(["list"], "list", app)
        try check(["show", "1"], "show", app)
        try check(["log"], "log", app)
        try check(["edit", "3", "--ticket", "OPS-9"], "action", app)

        // Drift, then scan (its states reach list), diff and status.
        app.scratch.write("live/tmp/debug.txt", "debug\n")
        let scan = try check(["scan"], "scan", status: 1, app)
        #expect(scan["patches"]?.array?.allSatisfy { $0["state"] == .string("applied") } == true, "\(scan)")
        let list = try check(["list"], "list", app)
        #expect(list["last_scan"] != nil)
        #expect(list["patches"]?.array?.first?["state"] == .string("applied"))
        let diff = try check(["diff"], "diff", status: 1, app)
        #expect(diff["files"]?.array?.first == .object(["path": .string("src/api/tmp/debug.txt"), "change": .string("added")]))
        try check(["status"], "status", status: 1, app)
        try check(["motd", "--file", app.scratch.file("motd")], "motd", app)
        try FileManager.default.removeItem(atPath: app.root + "/tmp")

        try check(["propose", "3", "--onto", "base", "--output", app.scratch.file("0003.mail")], "action", app)

        // A deploy that conflicts with 0001: gate blocks, reapply reports it, resolve keeps it.
        app.commit(["src/api/config/clock.rb": Self.clock.replacingOccurrences(of: "  RssCleanup.run", with: "  RssCleanup.run(batch: 100)")],
                   message: "Batch the RSS cleanup", tag: "v2")
        let gate = try check(["gate", "--target", "v2"], "gate", status: 1, app)
        let first = try #require(gate["patches"]?.array?.first)
        #expect(first["verdict"] == .string("conflicts") && first["state"] == .string("applied"), "\(first)")
        app.deploy("v2")
        try check(["reapply", "--dry-run"], "reapply", status: 1, app)
        let reapply = try check(["reapply"], "reapply", status: 1, app)
        #expect(reapply["patches"]?.array?.first?["files"]?.array?.first?["verdict"] == .string("conflicts"), "\(reapply)")
        app.scratch.write("live/config/clock.rb", Self.patched.replacingOccurrences(of: "# RssCleanup.run ", with: "# RssCleanup.run(batch: 100) "))
        try check(["resolve", "1"], "action", app)
        try check(["retire", "3", "--reason", "README fixed upstream"], "action", app)

        // Failures: trouble (2) and usage (64) are JSON objects on stdout too.
        let missing = try check(["show", "0042"], "error", status: 2, app)
        #expect(missing["error"]?["exit_code"] == .int(2))
        let usage = try check(["record", "config/clock.rb", "--reason", "r"], "error", status: 64, app)
        #expect(usage["error"]?["kind"] == .string("usage"))
        let unknown = try check(["scan", "--no-such-flag"], "error", status: 64, app)
        #expect(unknown["error"]?["message"]?.string?.contains("--no-such-flag") == true, "\(unknown)")
    }

    @Test("--all-apps: one array of documents, a failed app as {app, error} with the error object")
    func allApps() throws {
        let app = AppFixture()
        #expect(pk(["init", "--app", "good", "--config", app.config] + app.flags).status == 0)
        let cfg = try #require(app.scratch.read("config.toml"))
        app.scratch.write("config.toml", cfg + "\n[apps.broken]\nroot = \"\(app.scratch.file("nowhere"))\"\nregistry = \"\(app.registry)\"\n")
        let r = pk(["scan", "--all-apps", "--format", "json", "--config", app.config])
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        let docs = try #require(try JSONValue.parse(r.stdout).array)
        var v = SchemaValidator(directory: Self.schemaDir)
        let good = try #require(docs.first { $0["app"] == .string("good") })
        #expect(try v.errors(good, file: "scan.json").isEmpty)
        let broken = try #require(docs.first { $0["app"] == .string("broken") })
        let errors = try v.errors(broken, defined: "app_error", in: "common.json")
        #expect(errors.isEmpty, "\(errors)")
    }

    @Test("fleet and fleet gate: the report and the per-host verdicts of a three-host fleet, fetched and from the cache")
    func fleet() throws {
        let f = FleetTests.Fleet()
        _ = try f.populate()
        // web1 publishes a gate too (the report's conflicts and gate_target); v2 conflicts with the clock fix.
        f.app.commit(["src/api/config/clock.rb": FleetTests.clock.replacingOccurrences(of: "RssCleanup.run", with: "RssCleanup.run(:fast)")],
                     message: "v2", tag: "v2")
        #expect(f.pkOn("web1", ["gate", "--target", "v2"]).status == 1)
        var v = SchemaValidator(directory: Self.schemaDir)
        func check(_ args: [String], _ schema: String, status: Int32, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
            let r = f.fleet(args + ["--format", "json"])
            #expect(r.status == status, "\(args): \(r.stdout)\(r.stderr)", sourceLocation: sourceLocation)
            let value = try JSONValue.parse(r.stdout)
            let errors = try v.errors(value, file: schema + ".json")
            #expect(errors.isEmpty, "\(args) against \(schema).json:\n\(errors.joined(separator: "\n"))\n\(r.stdout)", sourceLocation: sourceLocation)
            return value
        }
        let report = try check([], "fleet", status: 1)
        #expect(report["fetch"]?["received_objects"] != nil, "\(report)")
        let hosts = try #require(report["hosts"]?.array)
        #expect(hosts.first?["gate_target"] == .string("v2") && hosts.first?["conflicts"] == .int(1), "\(hosts)")
        #expect(hosts.dropFirst().allSatisfy { $0["gate_target"] == nil && $0["conflicts"] == nil }, "\(hosts)")
        #expect(hosts.last?["patches"]?["unscanned"] == .int(1), "\(hosts)")
        let cached = try check(["--no-fetch"], "fleet", status: 1)
        #expect(cached["fetch"] == nil)

        let gate = try check(["gate", "--target", "v2", "--repo", f.app.repo, "--no-fetch"], "fleet-gate", status: 1)
        #expect(gate["app"] == nil)
        let verdicts = gate["hosts"]?.array?.flatMap { $0["patches"]?.array ?? [] }.compactMap { $0["verdict"]?.string } ?? []
        #expect(Set(verdicts) == ["conflicts", "reapplies", "decide-on-host"], "\(gate)")
        // The version 1 names fail against the schema (no stale schema that accepts anything).
        let v1 = f.fleet(["gate", "--target", "v2", "--repo", f.app.repo, "--no-fetch", "--format", "json"]).stdout
        for (new, old) in [("\"verdicts\" :", "\"results\" :"), ("\"verdict\" :", "\"result\" :")] {
            #expect(v1.contains(new))
            #expect(try !v.errors(try JSONValue.parse(v1.replacingOccurrences(of: new, with: old)), file: "fleet-gate.json").isEmpty, "\(old)")
        }
        let one = try check(["gate", "--target", "v2", "--repo", f.app.repo, "--no-fetch", "--app", "api", "--policy", "reapply"],
                            "fleet-gate", status: 1)
        #expect(one["app"] == .string("api") && one["policy"] == .string("reapply"))
        // A fleet remote that does not exist: the error object, as for every command.
        let r = pk(["fleet", "--remote", f.app.scratch.file("nowhere.git"), "--cache", f.cache, "--format", "json"])
        #expect(r.status == 2, "\(r.stdout)\(r.stderr)")
        #expect(try v.errors(try JSONValue.parse(r.stdout), file: "error.json").isEmpty, "\(r.stdout)")
    }

    @Test("the validator itself: a renamed, a missing, a mistyped and an extra key each fail")
    func validatorCatchesDrift() throws {
        var v = SchemaValidator(directory: Self.schemaDir)
        let good = JSONValue.object(["app": .string("obs-api"), "file": .string("/etc/motd"), "action": .string("written"), "active_patches": .int(1),
                                     "unregistered": .int(0), "schema_version": .int(2)])
        #expect(try v.errors(good, file: "motd.json").isEmpty)
        func without(_ key: String, _ extra: [String: JSONValue] = [:]) -> JSONValue {
            guard case .object(var o) = good else { return good }
            o.removeValue(forKey: key)
            for (k, val) in extra { o[k] = val }
            return .object(o)
        }
        #expect(try !v.errors(without("action", ["verdict": .string("written")]), file: "motd.json").isEmpty)  // renamed
        #expect(try !v.errors(without("file"), file: "motd.json").isEmpty)                                     // missing
        #expect(try v.errors(without("active_patches"), file: "motd.json").isEmpty)                           // optional
        #expect(try !v.errors(without("active_patches", ["active_patches": .bool(true)]), file: "motd.json").isEmpty)  // mistyped
        #expect(try !v.errors(without("zzz", ["zzz": .null]), file: "motd.json").isEmpty)                      // extra
        #expect(try !v.errors(without("action", ["action": .string("exploded")]), file: "motd.json").isEmpty)  // not in the enum
        #expect(try !v.errors(without("schema_version", ["schema_version": .int(1)]), file: "motd.json").isEmpty)  // old version
    }
}
