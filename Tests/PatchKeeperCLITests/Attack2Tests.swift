import Foundation
import Testing
import TestSupport

/// Second hostile review, after the merge of the gate/reapply rewrite, write-side and scan-side
/// security work: each test is a concrete case where the merged result breaks one of the two laws
/// (a deploy never silently loses a hot patch; root never writes, reads or hides anything it was
/// not asked to). Verdict questions are cross-checked with the git CLI in a throw-away clone.
@Suite("attacks on the merged gate, reapply, scan and registry")
struct Attack2Tests {
    func json(_ r: ProcessResult, _ what: String) -> [String: Any] {
        if let j = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] { return j }
        Issue.record("\(what) printed no JSON object (exit \(r.status)): \(r.stdout)\(r.stderr)")
        return [:]
    }

    func byID(_ j: [String: Any], _ key: String) -> [String: String] {
        let patches = (j["patches"] as? [[String: Any]]) ?? []
        return Dictionary(patches.map { ($0["id"] as? String ?? "?", $0[key] as? String ?? "?") }, uniquingKeysWith: { a, _ in a })
    }

    func reapply(_ app: AppFixture) -> (ProcessResult, [String: String]) {
        let r = pk(["reapply", "--format", "json"] + app.flags)
        return (r, byID(json(r, "reapply"), "action"))
    }

    @discardableResult
    func record(_ app: AppFixture, _ paths: [String], _ title: String) -> ProcessResult {
        let r = pk(["record"] + paths + ["--title", title, "--reason", "hot fix"] + app.flags)
        #expect(r.status == 0, "record \(paths) exited \(r.status): \(r.stdout)\(r.stderr)")
        return r
    }

    // MARK: attributes

    @Test("a .gitattributes in the deployed subdirectory does not let the repository root's eol=crlf rules make reapply rewrite a file as CRLF")
    func rootAttributesStayOutsideWhenTheSubdirectoryHasItsOwn() throws {
        let app = AppFixture(deploy: false)
        // The root's rules say CRLF for *.yml; the subdirectory's own file says nothing about it.
        app.commit([".gitattributes": "*.yml text eol=crlf\n", "src/api/.gitattributes": "*.png binary\n"], message: "attributes", tag: "base")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        #expect(app.scratch.readBytes("live/config/workers.yml") == Data("timeout: 30\nconcurrency: 4\n".utf8))
        app.scratch.write("live/config/workers.yml", "timeout: 90\nconcurrency: 4\n")
        record(app, ["config/workers.yml"], "Raise the worker timeout")
        app.commit(["src/api/README": "v2\n"], message: "v2", tag: "v2")
        // git: the deploy of v2 (git archive v2:src/api) writes LF; the patch on it is LF too.
        let clone = app.clone(at: "v2")
        let archived = run("/bin/sh", ["-c", "git archive v2:src/api config/workers.yml | tar -xO"], cwd: clone)
        #expect(archived.stdout == "timeout: 30\nconcurrency: 4\n", "\(archived.stdout.debugDescription)")

        app.deploy("v2")
        let (r, actions) = reapply(app)
        #expect(actions["0001"] == "reapplied", "\(r.stdout)")
        let written = app.scratch.readBytes("live/config/workers.yml") ?? Data()
        #expect(written == Data("timeout: 90\nconcurrency: 4\n".utf8),
                "reapply rewrote the whole file with line endings the deploy never wrote: \(String(decoding: written, as: UTF8.self).debugDescription)")
    }

    // MARK: crash recovery

    @Test("recovering an interrupted reapply after the next deploy does not write the old revision's merge result over the new deploy's file")
    func journalRecoveryDoesNotClobberANewerDeploy() throws {
        let app = AppFixture(deploy: false)
        let path = "src/api/config/limits.rb"
        let v1 = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\nh = 8\n"
        app.commit([path: v1], message: "base", tag: "base")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/limits.rb", v1.replacingOccurrences(of: "a = 1", with: "a = 100"))
        record(app, ["config/limits.rb"], "Raise a")
        app.commit([path: v1.replacingOccurrences(of: "h = 8", with: "h = 800")], message: "v2", tag: "v2")
        app.deploy("v2")
        // reapply dies (a power cut) with its journal written.
        var crashed = false
        for k in 1...12 {
            let r = pk(["reapply"] + app.flags, env: ["PATCHKEEPER_FAULT_AFTER": String(k)])
            if r.status == 97, app.scratch.exists("registry/.patchkeeper/journal.json") { crashed = true; break }
            if r.status != 97 { break }
        }
        try #require(crashed, "no crash point left a journal")
        // Before anyone reruns patchkeeper, the next release goes out.
        let v3 = v1.replacingOccurrences(of: "h = 8", with: "h = 800").replacingOccurrences(of: "d = 4", with: "d = 400")
        app.commit([path: v3], message: "v3", tag: "v3")
        app.deploy("v3")
        // git: the deploy of v3 wrote d = 400; the patch merges onto it cleanly.
        let clone = app.clone(at: "v3")
        #expect(git(["show", "v3:" + path], in: clone).contains("d = 400"))

        _ = pk(["reapply"] + app.flags)
        let live = app.scratch.read("live/config/limits.rb") ?? ""
        #expect(live.contains("d = 400"), "recovery wrote v2's merge result over the v3 file: the v3 change is gone from the live tree:\n\(live)")
    }

    @Test("scan reports a live file rewritten with CRLF when only the repository root's .gitattributes, outside the deployed subdirectory, asks for CRLF")
    func scanDoesNotHideALineEndingRewriteByAttributesTheDeployNeverSaw() throws {
        let app = AppFixture(deploy: false)
        app.commit([".gitattributes": "*.yml text eol=crlf\n"], message: "attributes", tag: "base")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        #expect(pk(["scan", "--no-cache"] + app.flags).status == 0)
        // git: the deploy (git archive base:src/api) writes LF; a CRLF file is not what it wrote.
        let clone = app.clone(at: "base")
        let archived = run("/bin/sh", ["-c", "git archive base:src/api config/workers.yml | tar -xO"], cwd: clone)
        #expect(archived.stdout == "timeout: 30\nconcurrency: 4\n", "\(archived.stdout.debugDescription)")
        // The app's user rewrites the file with CRLF line endings (a shell script would now fail).
        app.scratch.writeBytes("live/config/workers.yml", Data("timeout: 30\r\nconcurrency: 4\r\n".utf8))
        let scan = pk(["scan", "--no-cache"] + app.flags)
        #expect(scan.status == 1, "scan hides the rewrite by attributes the deploy never applied: \(scan.stdout)")
        #expect(scan.stdout.contains("config/workers.yml"), "\(scan.stdout)")
        let gate = pk(["gate", "--target", "base", "--policy", "reapply"] + app.flags)
        #expect(gate.status == 1, "gate lets the deploy overwrite it unreported: \(gate.stdout)")
    }

    // MARK: upstream evidence

    @Test("a fix upstream took and then reverted in two steps (line dropped, old value back later) is not 'upstreamed': gate blocks, reapply keeps the patch")
    func aRevertSplitOverTwoCommitsIsNotUpstreamEvidence() throws {
        let app = AppFixture(deploy: false)
        let path = "src/api/config/limits.rb"
        let v1 = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\n"
        app.commit([path: v1], message: "base", tag: "base")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        let fixed = v1.replacingOccurrences(of: "a = 1", with: "a = 100")
        app.scratch.write("live/config/limits.rb", fixed)
        record(app, ["config/limits.rb"], "Raise a")
        // Upstream takes the same change (same patch-id), drops the line, then brings the old
        // value back while tuning the next line: the net change since the fix is its revert.
        app.commit([path: fixed], message: "Raise a", tag: nil)
        app.commit([path: fixed.replacingOccurrences(of: "a = 100\n", with: "")], message: "Drop a")
        app.commit([path: v1.replacingOccurrences(of: "b = 2", with: "b = 20")], message: "Bring a back at its default; tune b", tag: "v2")

        // git: v2 does not carry the fix, and the patch conflicts with it.
        let clone = app.clone(at: "v2")
        #expect(!git(["show", "v2:" + path], in: clone).contains("a = 100"))
        app.scratch.write("mf/pre", v1)
        app.scratch.write("mf/post", fixed)
        app.scratch.write("mf/theirs", git(["show", "v2:" + path], in: clone) + "\n")
        let mf = run("/usr/bin/git", ["merge-file", "-p", app.scratch.file("mf/post"), app.scratch.file("mf/pre"), app.scratch.file("mf/theirs")])
        #expect(mf.status == 1, "git merge-file: \(mf.stdout)")

        let g = pk(["gate", "--target", "v2", "--policy", "reapply", "--format", "json"] + app.flags)
        let results = byID(json(g, "gate"), "verdict")
        #expect(results["0001"] == "conflicts", "gate: \(g.stdout)")
        #expect(g.status == 1, "gate lets a deploy drop the fix: \(g.stdout)")
        app.deploy("v2")
        let (r, actions) = reapply(app)
        #expect(actions["0001"] == "conflicts", "reapply: \(r.stdout)")
        let text = (try? String(contentsOfFile: app.registry + "/" + (app.patchFiles().first ?? ""), encoding: .utf8)) ?? ""
        #expect(text.contains("Status: active"), "the patch was marked upstreamed though v2 lacks it:\n\(text)")
    }

    // MARK: audit trail

    @Test("the live files and registry commit a crash recovery finishes are in the audit trail like any other write")
    func recoveryWritesAreAudited() throws {
        let app = AppFixture(deploy: false)
        let path = "src/api/config/limits.rb"
        let v1 = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\nh = 8\n"
        app.commit([path: v1], message: "base", tag: "base")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        app.scratch.write("live/config/limits.rb", v1.replacingOccurrences(of: "a = 1", with: "a = 100"))
        record(app, ["config/limits.rb"], "Raise a")
        app.commit([path: v1.replacingOccurrences(of: "h = 8", with: "h = 800")], message: "v2", tag: "v2")
        app.deploy("v2")
        var crashed = false
        for k in 1...12 {
            let r = pk(["reapply"] + app.flags, env: ["PATCHKEEPER_FAULT_AFTER": String(k)])
            if r.status == 97, app.scratch.exists("registry/.patchkeeper/journal.json") { crashed = true; break }
            if r.status != 97 { break }
        }
        try #require(crashed, "no crash point left a journal")
        let sink = SyslogSink(app.scratch.file("log.sock"))
        let r = pk(["reapply"] + app.flags, env: ["PATCHKEEPER_SYSLOG_SOCKET": sink.path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(app.scratch.read("live/config/limits.rb")?.contains("a = 100") == true)
        let lines = sink.drain()
        #expect(lines.contains { $0.contains("0001") && $0.contains("config/limits.rb") },
                "root wrote config/limits.rb and committed 0001 with no audit line: \(lines)")
    }

    // MARK: reapply and the live tree

    @Test("reapply does not mark a patch upstreamed when REVISION names a revision with the fix but the files were never deployed")
    func upstreamedNeedsTheDeployedFiles() throws {
        let app = AppFixture(deploy: false)
        let path = "src/api/config/limits.rb"
        let v1 = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\nh = 8\n"
        app.commit([path: v1], message: "base", tag: "base")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        let patched = v1.replacingOccurrences(of: "a = 1", with: "a = 100")
        app.scratch.write("live/config/limits.rb", patched)
        record(app, ["config/limits.rb"], "Raise a")
        // v2 has the fix and another change; only REVISION says v2 (a half-finished deploy, or
        // the app's user writing REVISION): the files are still base with the patch.
        let v2 = patched.replacingOccurrences(of: "h = 8", with: "h = 800")
        app.commit([path: v2], message: "Raise a; tune h", tag: "v2")
        app.writeRevision("v2")
        // git: the live file is not what the deploy of v2 writes.
        let clone = app.clone(at: "v2")
        #expect(git(["show", "v2:" + path], in: clone) + "\n" != app.scratch.read("live/config/limits.rb"))

        let (r, actions) = reapply(app)
        #expect(actions["0001"] == "refused", "reapply: \(r.stdout)")
        let text = (try? String(contentsOfFile: app.registry + "/" + (app.patchFiles().first ?? ""), encoding: .utf8)) ?? ""
        #expect(text.contains("Status: active"), "the patch was retired as upstreamed on the word of REVISION alone:\n\(text)")
        // Back to base (the deploy is rolled back): the hot patch must still be known.
        app.writeRevision("base")
        let s = pk(["scan", "--no-cache"] + app.flags)
        #expect(s.stdout.contains("0001"), "the rolled-back tree's hot patch is no longer tracked: \(s.stdout)")
    }

    @Test("reapply writes an ident file ($Id$) as a deploy of the merge result would: expanded with the new blob id")
    func reappliedIdentFileIsExpandedLikeACheckout() throws {
        let app = AppFixture(deploy: false)
        let body = "<?php // $Id$\n$a = 1;\n$b = 2;\n$c = 3;\n$d = 4;\n$e = 5;\n"
        app.commit(["src/api/.gitattributes": "*.php ident\n", "src/api/index.php": body], message: "base", tag: "base")
        app.deploy("base")
        #expect(pk(["init"] + app.flags).status == 0)
        let live = try #require(app.scratch.read("live/index.php"))
        #expect(live.hasPrefix("<?php // $Id: "), "the deploy expands $Id$: \(live)")
        app.scratch.write("live/index.php", live.replacingOccurrences(of: "$a = 1;", with: "$a = 100;"))
        record(app, ["index.php"], "Raise a")
        let v2 = body.replacingOccurrences(of: "$e = 5;", with: "$e = 500;")
        app.commit(["src/api/index.php": v2], message: "v2", tag: "v2")
        app.deploy("v2")
        let (r, actions) = reapply(app)
        #expect(actions["0001"] == "reapplied", "\(r.stdout)")
        // git: commit the merge result on v2 and deploy it the same way (git archive REV:src/api).
        let clone = app.clone(at: "v2")
        app.scratch.write(clone.replacingOccurrences(of: app.scratch.path + "/", with: "") + "/src/api/index.php",
                          v2.replacingOccurrences(of: "$a = 1;", with: "$a = 100;"))
        git(["commit", "-qam", "merged"], in: clone)
        let archived = run("/bin/sh", ["-c", "git archive HEAD:src/api index.php | tar -xO"], cwd: clone)
        #expect(app.scratch.read("live/index.php") == archived.stdout,
                "reapply wrote \(app.scratch.read("live/index.php") ?? "-"), a deploy writes \(archived.stdout)")
        #expect(pk(["scan", "--no-cache"] + app.flags).status == 0)
    }
}
