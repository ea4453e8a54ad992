import Foundation
import Testing
import PatchKeeper
import TestSupport

/// Generated histories, checked in process against the git CLI.
///
/// Each batch is one fixture repository holding many independent cases (each in its own directory
/// `cN/`): random files (text, CRLF, no final newline, latin-1 bytes, binary, executable), one or two
/// admin hot patches recorded with `Recorder.record` (sometimes stacked on one file), and two upstream
/// revisions with random edits (same lines, other lines, the admin's own change, renames with an edit,
/// deletes, mode changes). Then: gate against the last revision, deploy it, reapply. For every case:
///  - gate's verdict for each patch equals reapply's action (reapplies/-renamed ↔ reapplied, ...);
///  - every patch is accounted for (reapplied, upstreamed, conflicts, removed or refused);
///  - the live files equal what `git apply --3way` of the registered patches (registry order, a
///    throw-away clone at the target holding every pre/post blob) gives, where a patch reported
///    conflicts/removed/refused is skipped (it must write nothing), and a patch reported upstreamed
///    must be one git's 3-way apply finds already in the target.
/// `PATCHKEEPER_PROPERTY_CASES=N` runs more (`--long` mode); `PATCHKEEPER_PROPERTY_SEED` picks the seed.
@Suite("generated histories: gate predicts reapply, reapply matches git")
struct GateReapplyPropertyTests {
    static let casesPerBatch = 50

    @Test("gate's verdict equals reapply's action and the live files equal git's 3-way apply, for thousands of generated histories")
    func generatedHistories() throws {
        let env = ProcessInfo.processInfo.environment
        let total = env["PATCHKEEPER_PROPERTY_CASES"].flatMap(Int.init) ?? 2000
        let seed = env["PATCHKEEPER_PROPERTY_SEED"].flatMap { UInt64($0, radix: 16) } ?? 0x5EED_0001
        let batches = max(1, (total + Self.casesPerBatch - 1) / Self.casesPerBatch)
        let results = Locked<[BatchResult]>([])
        let start = Date()
        // Plain threads, not concurrentPerform: the process runner reads pipes on the global queue,
        // which concurrentPerform's blocked workers would starve.
        let next = Locked(0)
        let done = DispatchGroup()
        for _ in 0..<max(2, ProcessInfo.processInfo.activeProcessorCount) {
            done.enter()
            let worker = Thread {
                while true {
                    var b = 0
                    next.mutate { b = $0; $0 += 1 }
                    if b >= batches { break }
                    var mix = SplitMix64(seed: seed ^ (UInt64(b) &* 0xD1B5_4A32_D192_ED03))
                    let r = runBatch(seed: mix.next(), index: b, cases: min(Self.casesPerBatch, total - b * Self.casesPerBatch))
                    results.mutate { $0.append(r) }
                }
                done.leave()
            }
            worker.start()
        }
        done.wait()
        let all = results.value.sorted { $0.index < $1.index }
        let ran = all.reduce(0) { $0 + $1.cases }
        let failures = all.flatMap(\.failures)
        let skipped = all.reduce(0) { $0 + $1.skipped }
        let soft = all.reduce(0) { $0 + $1.conservative }
        var byReason: [String: Int] = [:], byFeature: [String: Int] = [:]
        for f in failures {
            for r in Set(f.reasons.map(Self.reasonKind)) { byReason[r, default: 0] += 1 }
            for t in f.features { byFeature[t, default: 0] += 1 }
        }
        let summary = """
            property: \(ran) cases in \(all.count) batches, \(String(format: "%.1f", Date().timeIntervalSince(start))) s, seed \(String(seed, radix: 16)); \
            \(failures.count) failing, \(skipped) skipped (record refused), \(soft) patches conservatively not applied where git applies cleanly
            failing cases by reason: \(byReason.sorted { $0.value > $1.value }.map { "\($0.value)× \($0.key)" }.joined(separator: "; "))
            failing cases by feature: \(byFeature.sorted { $0.value > $1.value }.map { "\($0.value)× \($0.key)" }.joined(separator: "; "))
            """
        print(summary)
        var recordErrors: [String: Int] = [:]
        for e in all.flatMap(\.recordErrors) {
            let generic = e.replacingOccurrences(of: #"pk-test-[0-9a-f]+"#, with: "pk-test-X", options: .regularExpression)
                .replacingOccurrences(of: #"[0-9]{4}-case-[0-9]+-patch-[0-9]"#, with: "NNNN-case-K-patch-P", options: .regularExpression)
                .replacingOccurrences(of: #"c[0-9]+/"#, with: "cN/", options: .regularExpression)
                .replacingOccurrences(of: #"/[^ ]*/live/"#, with: "ROOT/", options: .regularExpression)
                .replacingOccurrences(of: #"[0-9a-f]{7,40}"#, with: "REV", options: .regularExpression)
            recordErrors[generic, default: 0] += 1
        }
        for (e, k) in recordErrors.sorted(by: { $0.value > $1.value }) { print("record refused \(k)×: \(e)") }
        // The smallest example of each kind of failure (reason and features), smallest first.
        var seen = Set<String>()
        var examples: [Failure] = []
        for f in failures.sorted(by: { $0.size < $1.size }) {
            let key = Set(f.reasons.map(Self.reasonKind)).sorted().joined(separator: "+") + " | " + f.features.sorted().joined(separator: ",")
            if seen.insert(key).inserted { examples.append(f) }
        }
        // PATCHKEEPER_PROPERTY_REPORT=FILE writes every failing case there.
        if let file = env["PATCHKEEPER_PROPERTY_REPORT"] {
            try? (summary + "\n\n" + failures.sorted { $0.size < $1.size }.map(\.description).joined(separator: "\n----\n")).write(toFile: file, atomically: true, encoding: .utf8)
        }
        let shown = examples.prefix(10)
        for f in shown { print("---- failing case ----\n" + f.description) }
        if !failures.isEmpty {
            Issue.record("\(summary)\n\(shown.prefix(4).map(\.description).joined(separator: "\n----\n"))")
        }
    }

    static func reasonKind(_ reason: String) -> String {
        String(reason.prefix { $0 != ":" })
    }

    // MARK: one batch

    struct Failure: Sendable {
        var reasons: [String]
        var size: Int
        var description: String
        var features: [String] = []
    }

    struct BatchResult: Sendable {
        var index: Int
        var cases: Int
        var failures: [Failure]
        var skipped: Int
        var conservative: Int
        var recordErrors: [String] = []
    }

    /// A batch's directories: `app/` (repo), `live/` (root), `registry/`, on tmpfs when there is one
    /// (every registry write fsyncs).
    final class Layout: @unchecked Sendable {
        let scratch = Scratch(under: FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : nil)
        var repo: String { scratch.file("app") }
        var root: String { scratch.file("live") }
        var registry: String { scratch.file("registry") }
        var clone: String { scratch.file("clone") }
    }

    /// Runs a shell script with git's identity and dates fixed; nil on success, else the error text.
    @discardableResult
    func sh(_ script: String, in dir: String) -> String? { sh(script, in: dir, output: nil) }

    func sh(_ script: String, in dir: String, output: UnsafeMutablePointer<String>?) -> String? {
        let r = run("/bin/sh", ["-c", "set -e\n" + script], cwd: dir,
                    env: ["GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org", "GIT_COMMITTER_NAME": "Test",
                          "GIT_COMMITTER_EMAIL": "test@example.org", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
                          "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"])
        output?.pointee = r.stdout
        return r.status == 0 ? nil : "script failed (\(r.status)): \(r.stderr.suffix(400))\n\(script.prefix(300))"
    }

    func runBatch(seed: UInt64, index: Int, cases n: Int) -> BatchResult {
        var rng = SplitMix64(seed: seed)
        let timing = ProcessInfo.processInfo.environment["PATCHKEEPER_PROPERTY_TIMING"] != nil
        var t0 = Date()
        func lap(_ what: String) { if timing { print(String(format: "batch %d %@ %.2f s", index, what, Date().timeIntervalSince(t0))); t0 = Date() } }
        func setupFailure(_ what: String) -> BatchResult {
            BatchResult(index: index, cases: n, failures: [Failure(reasons: ["setup: " + what], size: 0, description: "batch \(index) setup: \(what)")], skipped: 0, conservative: 0)
        }
        let app = Layout()
        var gen = (0..<n).map { CaseGen(index: $0, rng: &rng) }
        lap("generate")
        // base, deployed
        for c in gen { for (p, f) in c.base { write(app.scratch, "app/src/api/" + p, f) } }
        lap("write base")
        if let e = sh("""
            cd app && git init -q && git add -A && git commit -qm base && git tag base
            mkdir ../live && git archive base:src/api | tar -x -C ../live && git rev-parse base > ../live/REVISION
            """, in: app.scratch.path) { return setupFailure(e) }
        lap("base script")
        var cfg = AppConfig(name: "prop")
        cfg.root = app.root
        cfg.repo = app.repo
        cfg.subdir = "src/api"
        cfg.registry = app.registry
        let who = Person(name: "Prop Test", email: "prop@example.org")
        do {
            _ = try Registry.create(path: app.registry, app: "prop", committer: who, now: Date())
        } catch { return setupFailure("registry create: \(error)") }

        lap("fixture+base")
        // admin patches
        var blobs: [Data] = []
        var skipped = Set<Int>()
        do {
            let deployment = try Deployment(app: cfg)
            let registry = try Registry(path: app.registry)
            for i in gen.indices {
                for (k, patch) in gen[i].admin.enumerated() {
                    for (p, f) in patch.files {
                        if let f { write(app.scratch, "live/" + p, f) } else { try? FileManager.default.removeItem(atPath: app.scratch.file("live/" + p)) }
                    }
                    var req = Recorder.Request(paths: patch.files.map(\.0), title: "case \(i) patch \(k)", reason: "generated", author: who)
                    req.rootRelative = true
                    do {
                        let pf = try Recorder.record(req, deployment: deployment, registry: registry)
                        gen[i].patchIDs.append(pf.id)
                    } catch {
                        gen[i].recordError = "\(error)"
                        skipped.insert(i)
                        break
                    }
                }
                blobs += gen[i].allContents
            }
        } catch { return setupFailure("record: \(error)") }
        lap("records")
        // The registered patches as they were before reapply rebases them.
        var patchText: [String: String] = [:]
        var patchCopy: [String: String] = [:]
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: app.registry)) ?? []).filter { $0.hasSuffix(".patch") }
        for name in names {
            let id = String(name.prefix(4))
            let copy = app.scratch.file("registered-\(name)")
            try? FileManager.default.copyItem(atPath: app.registry + "/" + name, toPath: copy)
            patchCopy[id] = copy
            patchText[id] = String(decoding: FileManager.default.contents(atPath: copy) ?? Data(), as: UTF8.self)
        }

        // upstream revisions; then a throw-away clone at the target holding every pre/post image
        var nameStatus = ""
        for rev in 0..<2 {
            for c in gen {
                for (p, f) in c.upstream[rev] {
                    if let f { write(app.scratch, "app/src/api/" + p, f) } else { try? FileManager.default.removeItem(atPath: app.scratch.file("app/src/api/" + p)) }
                }
            }
            var script = "cd app && git add -A && git commit -q --allow-empty -m v\(rev + 2) && git tag v\(rev + 2)\n"
            if rev == 1 {
                for (i, b) in Set(blobs).enumerated() { app.scratch.writeBytes("blobs/\(i)", b) }
                script += """
                    git diff -M --name-status base v3
                    cd .. && git clone -q --no-hardlinks app clone && cd clone && git checkout -q --detach v3
                    if [ -d ../blobs ]; then git hash-object -w --no-filters ../blobs/* > /dev/null; fi
                    """
            }
            var out = ""
            if let e = sh(script, in: app.scratch.path, output: &out) { return setupFailure(e) }
            if rev == 1 { nameStatus = out }
        }
        var renames: [String: String] = [:]
        for line in nameStatus.split(separator: "\n") {
            let f = line.split(separator: "\t").map(String.init)
            if f.count == 3, f[0].hasPrefix("R") { renames[f[1]] = f[2] }
        }

        lap("upstream commits + clone")
        // gate, deploy, reapply
        var gate: [String: String] = [:]
        var actions: [String: String] = [:]
        var batchError: String?
        do {
            let deployment = try Deployment(app: cfg)
            let registry = try Registry(path: app.registry)
            var opts = TreeScanner.Options()
            opts.useCache = false
            opts.writeCache = false
            opts.threads = 1
            let scan = try TreeScanner(deployment: deployment, registry: registry, options: opts).scan()
            let report = try DeployGate(deployment: deployment, registry: registry).run(target: "v3", policy: .reapply, scan: scan)
            for p in report.patches { gate[p.id] = p.result.rawValue }
        } catch { batchError = "gate threw: \(error)" }
        lap("gate")
        if let e = sh("rm -rf live && mkdir live && cd app && git archive v3:src/api | tar -x -C ../live && git rev-parse v3 > ../live/REVISION",
                      in: app.scratch.path) { return setupFailure(e) }
        lap("deploy")
        if batchError == nil {
            do {
                let deployment = try Deployment(app: cfg)
                let registry = try Registry(path: app.registry)
                for o in try Reapplier(deployment: deployment, registry: registry).run(dryRun: false, lockWait: 0) { actions[o.id] = o.action.rawValue }
            } catch { batchError = "reapply threw: \(error)" }
        }
        lap("reapply")

        // One shell script runs git's answer for every patch in registry order: rename the target's
        // file back when git's rename detection saw it move, `git apply --3way`, and keep the result
        // only when reapply says it reapplied (a skipped patch must write nothing).
        let clone = app.clone
        var script = "set -u\nexec 2>/dev/null\n"
        let ordered = gen.filter { !skipped.contains($0.index) }.flatMap(\.patchIDs)
        for id in ordered {
            guard let copy = patchCopy[id] else { continue }
            let a = actions[id] ?? "-"
            let moves = Self.oldPaths(patchText[id] ?? "").compactMap { p in renames[p].map { (p, $0) } }
            for (p, q) in moves { script += "M_\(id)_\(Self.slug(p))=0; if [ ! -e '\(p)' ] && [ -e '\(q)' ]; then git mv '\(q)' '\(p)' && M_\(id)_\(Self.slug(p))=1; fi\n" }
            script += "s=1; git apply --3way '\(copy)' && s=0\n"
            for (p, q) in moves { script += "if [ $s = 0 ] && [ $M_\(id)_\(Self.slug(p)) = 1 ] && [ -e '\(p)' ]; then git mv '\(p)' '\(q)'; fi\n" }
            // Whether git's result changes the target matters only for a patch reapply did not apply.
            script += a == "reapplied" ? "c=1; m=0\n"
                : "c=0; m=0; if [ $s = 0 ] && ! git diff --cached --quiet HEAD; then c=1; git diff --cached --numstat HEAD | awk '!($1==\"0\" && $2==\"0\"){x=1} END{exit !x}' || m=1; fi\n"
            if a == "reapplied" {
                script += "if [ $s = 0 ]; then git commit -q --allow-empty --no-verify -m \(id); else git reset -q --hard HEAD; fi\nr=-\n"
            } else {
                script += "git reset -q --hard HEAD; r=1; if [ $s != 0 ]; then git apply -R --check '\(copy)' && r=0; fi\n"
            }
            script += "echo \"\(id) $s $c $m $r\"\n"
        }
        var out = ""
        _ = sh("set +e\n" + script, in: clone, output: &out)
        lap("reference script")
        // id → (git applies cleanly, changes the target, change is mode only, reverse-applies to the target)
        var ref: [String: (clean: Bool, changed: Bool, modeOnly: Bool, reverse: Bool)] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            if f.count == 5 { ref[f[0]] = (f[1] == "0", f[2] == "1", f[3] == "1", f[4] == "0") }
        }

        var failing: [(CaseGen, [String], [String])] = []
        var conservative = 0
        for c in gen where !skipped.contains(c.index) {
            var reasons: [String] = []
            var notes: [String] = []
            if let batchError { reasons.append(batchError) }
            for id in c.patchIDs {
                let g = gate[id], a = actions[id]
                if batchError == nil {
                    if a == nil { reasons.append("patch gone: \(id) has no reapply outcome") }
                    if let g, let a, Self.expectedAction(g) != a { reasons.append("gate/reapply disagree: \(id) gate \(g), reapply \(a)") }
                    if g == nil { reasons.append("patch gone: \(id) not in gate report") }
                }
                guard let r = ref[id] else { reasons.append("no git reference for \(id) (script output: \(out.suffix(200)))"); continue }
                notes.append("\(id): gate \(g ?? "-"), reapply \(a ?? "-"), git --3way \(r.clean ? (r.changed ? (r.modeOnly ? "applies (mode only)" : "applies") : "applies, no change") : "fails")\(r.reverse ? ", reverse-applies" : "")")
                switch a {
                case "reapplied":
                    if !r.clean { reasons.append("reapplied where git's 3-way apply fails: \(id)") }
                case "upstreamed":
                    if r.clean && r.changed { reasons.append((r.modeOnly ? "false upstreamed, mode only" : "false upstreamed (git's 3-way apply still changes the target)") + ": \(id)") }
                    if !r.clean && !r.reverse { reasons.append("upstreamed where git's 3-way apply conflicts and the patch does not reverse-apply: \(id)") }
                default:
                    if r.clean && r.changed { conservative += 1 }
                }
            }
            // live files vs git's result
            let live = Self.tree(app.root + "/" + c.dir), want = Self.tree(clone + "/src/api/" + c.dir)
            for p in Set(live.keys).union(want.keys).sorted() where live[p] != want[p] {
                reasons.append("live differs from git: \(c.dir)/\(p) live \(Self.show(live[p])) git \(Self.show(want[p]))")
            }
            if !reasons.isEmpty { failing.append((c, reasons, notes)) }
        }
        // What upstream did to each failing case, in one git call per case but one process in all.
        var upstreamDiffs = ""
        if !failing.isEmpty {
            _ = sh(failing.map { "echo '@@@@ \($0.0.dir)'; git diff -M base v3 -- src/api/\($0.0.dir)" }.joined(separator: "\n"), in: app.repo, output: &upstreamDiffs)
        }
        var diffByDir: [String: String] = [:]
        for chunk in upstreamDiffs.components(separatedBy: "@@@@ ").dropFirst() {
            let nl = chunk.firstIndex(of: "\n") ?? chunk.endIndex
            diffByDir[String(chunk[..<nl])] = nl < chunk.endIndex ? String(chunk[chunk.index(after: nl)...]) : ""
        }
        let failures = failing.map { (c, reasons, notes) -> Failure in
            var d = "batch seed \(String(seed, radix: 16)) case \(c.index) (\(c.dir))\n"
            d += reasons.map { "  ✘ " + $0 }.joined(separator: "\n") + "\n"
            d += notes.map { "  · " + $0 }.joined(separator: "\n") + "\n"
            d += "  base files: " + c.base.keys.sorted().map { "\($0) \(Self.show(Self.Entry(c.base[$0]!)))" }.joined(separator: ", ") + "\n"
            for id in c.patchIDs { d += "  registered \(id):\n" + Self.indent(Self.diffPart(patchText[id] ?? "")) }
            d += "  upstream base..v3:\n" + Self.indent(diffByDir[c.dir] ?? "")
            return Failure(reasons: reasons, size: d.count, description: d, features: Self.features(c, patchText, upstream: diffByDir[c.dir] ?? ""))
        }
        return BatchResult(index: index, cases: n, failures: failures, skipped: skipped.count, conservative: conservative,
                           recordErrors: gen.compactMap { c in c.recordError.map { "\(c.admin.map(\.note).joined(separator: "+")): \($0)" } })
    }

    /// What a failing case involves, to tell bug classes apart in the summary.
    static func features(_ c: CaseGen, _ text: [String: String], upstream: String) -> [String] {
        var f = Set<String>()
        if c.patchIDs.count > 1 { f.insert("stacked") }
        for id in c.patchIDs {
            let t = diffPart(text[id] ?? "")
            if t.contains("GIT binary patch") { f.insert("binary patch") }
            if t.contains("new file mode") { f.insert("creates file") }
            if t.contains("deleted file mode") { f.insert("deletes file") }
            if t.contains("old mode") { f.insert("mode change") }
            if t.contains("\\ No newline") { f.insert("no final newline") }
            if t.contains("\r\n") { f.insert("CRLF") }
            if t.contains("\n@@ -1,") && t.contains(" +0,0 @@") { f.insert("empties file") }
        }
        if upstream.contains("rename from") { f.insert("upstream rename") }
        if upstream.contains("deleted file mode") { f.insert("upstream delete") }
        if upstream.isEmpty { f.insert("upstream untouched") }
        return f.sorted()
    }

    static func slug(_ p: String) -> String { String(p.map { $0.isLetter || $0.isNumber ? $0 : "_" }) }

    static func expectedAction(_ gate: String) -> String {
        switch gate {
        case "reapplies", "reapplies-renamed": return "reapplied"
        default: return gate
        }
    }

    /// The `a/` paths of a patch's `diff --git` lines.
    static func oldPaths(_ text: String) -> [String] {
        // Split on the byte: in a Swift String "\r\n" is one Character.
        text.unicodeScalars.split(separator: "\n").map { String(String.UnicodeScalarView($0)) }.compactMap { line -> String? in
            guard line.hasPrefix("diff --git a/"), let r = line.range(of: " b/") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 13)..<r.lowerBound])
        }
    }

    static func diffPart(_ text: String) -> String {
        guard let r = text.range(of: "\ndiff --git ") else { return text }
        return String(text[text.index(after: r.lowerBound)...])
    }

    static func indent(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 }.joined(separator: "\n") + "\n"
    }

    struct Entry: Equatable {
        var bytes: Data
        var exec: Bool
        init(bytes: Data, exec: Bool) { self.bytes = bytes; self.exec = exec }
        init(_ f: FileSpec) { bytes = f.data; exec = f.exec }
    }

    /// Every regular file under `dir`: relative path → bytes and exec bit.
    static func tree(_ dir: String) -> [String: Entry] {
        var out: [String: Entry] = [:]
        guard let e = FileManager.default.enumerator(atPath: dir) else { return out }
        while let rel = e.nextObject() as? String {
            var st = stat()
            guard lstat(dir + "/" + rel, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            out[rel] = Entry(bytes: FileManager.default.contents(atPath: dir + "/" + rel) ?? Data(), exec: st.st_mode & 0o100 != 0)
        }
        return out
    }

    static func show(_ e: Entry?) -> String {
        guard let e else { return "(absent)" }
        let printable = e.bytes.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        let body = printable ? String(decoding: e.bytes, as: UTF8.self).debugDescription : "<\(e.bytes.count) bytes \(e.bytes.prefix(12).map { String(format: "%02x", $0) }.joined())…>"
        return (e.exec ? "[+x] " : "") + (body.count > 240 ? String(body.prefix(240)) + "…" : body)
    }

    func write(_ scratch: Scratch, _ rel: String, _ f: FileSpec) {
        let full = scratch.file(rel)
        try? FileManager.default.removeItem(atPath: full)
        scratch.writeBytes(rel, f.data)
        chmod(full, f.exec ? 0o755 : 0o644)
    }
}

// MARK: - generation

/// A file's content and exec bit.
struct FileSpec: Sendable, Equatable {
    var data: Data
    var exec: Bool = false
}


/// Text as lines of bytes (a line keeps its "\r" when the file is CRLF).
struct TextModel {
    var lines: [[UInt8]]
    var finalNewline: Bool
    var crlf: Bool

    init?(_ d: Data) {
        guard !d.contains(0) else { return nil }
        var ls = d.split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) }
        finalNewline = d.last == 0x0A
        if finalNewline { ls.removeLast() }
        if d.isEmpty { ls = [] }
        lines = ls
        crlf = ls.first.map { $0.last == 0x0D } ?? false
    }

    var data: Data {
        var out = Data()
        for (i, l) in lines.enumerated() {
            out.append(contentsOf: l)
            if i < lines.count - 1 || finalNewline { out.append(0x0A) }
        }
        return out
    }

    func line(_ text: [UInt8]) -> [UInt8] { crlf ? text + [0x0D] : text }
}

/// One generated case: base files, admin patches (each a set of path → new content or nil = delete),
/// and two upstream revisions' changes. Paths are root-relative (`cN/...`).
struct CaseGen {
    let index: Int
    var dir: String { "c\(index)" }
    var base: [String: FileSpec] = [:]
    var admin: [(files: [(String, FileSpec?)], note: String)] = []
    var upstream: [[String: FileSpec?]] = [[:], [:]]
    var patchIDs: [String] = []
    var recordError: String?
    /// Every content the case ever has (pre/post images for git's 3-way apply).
    var allContents: [Data] = []
    private var counter = 0
    /// The text being generated may hold ISO-8859-1 bytes (not UTF-8).
    private var latin1 = false

    static let pool: [[UInt8]] = ["end", "", "  return nil", "  timeout = 30", "}", "  x = 1"].map { Array($0.utf8) }

    mutating func fresh(_ rng: inout SplitMix64) -> [UInt8] {
        counter += 1
        if rng.chance(0.25) { return Self.pool[rng.int(0...Self.pool.count - 1)] }
        if latin1 && rng.chance(0.1) { return Array("caf".utf8) + [0xE9] + Array(" \(index)_\(counter)".utf8) }  // latin-1
        return Array("  value_\(index)_\(counter) = \(rng.int(0...999))".utf8)
    }

    mutating func randomText(_ rng: inout SplitMix64) -> FileSpec {
        let crlf = rng.chance(0.15)
        latin1 = rng.chance(0.08)
        let n = rng.int(rng.chance(0.2) ? 0...4 : 5...30)
        var t = TextModel(Data())!
        t.crlf = crlf
        for _ in 0..<n { t.lines.append(t.line(fresh(&rng))) }
        t.finalNewline = n > 0 && !rng.chance(0.12)
        return FileSpec(data: t.data, exec: rng.chance(0.1))
    }

    static func randomBinary(_ rng: inout SplitMix64) -> FileSpec {
        var b = [UInt8](repeating: 0, count: rng.int(8...80))
        for i in b.indices { b[i] = UInt8.random(in: 0...255, using: &rng) }
        b[rng.int(0...b.count - 1)] = 0
        return FileSpec(data: Data(b))
    }

    /// 1–3 random line edits (replace, insert, delete); nil for binary.
    mutating func editText(_ f: FileSpec, _ rng: inout SplitMix64, ops: ClosedRange<Int> = 1...3) -> FileSpec? {
        guard var t = TextModel(f.data) else { return nil }
        for _ in 0..<rng.int(ops) {
            switch rng.int(0...2) {
            case 0 where !t.lines.isEmpty: t.lines[rng.int(0...t.lines.count - 1)] = t.line(fresh(&rng))
            case 1 where t.lines.count > 1: t.lines.remove(at: rng.int(0...t.lines.count - 1))
            default:
                t.lines.insert(t.line(fresh(&rng)), at: rng.int(0...t.lines.count))
                if t.lines.count == 1 { t.finalNewline = true }
            }
        }
        return FileSpec(data: t.data, exec: f.exec)
    }

    static func toggleFinalNewline(_ f: FileSpec) -> FileSpec? {
        guard var t = TextModel(f.data), !t.lines.isEmpty else { return nil }
        t.finalNewline.toggle()
        return FileSpec(data: t.data, exec: f.exec)
    }

    init(index: Int, rng: inout SplitMix64) {
        self.index = index
        // base: one or two files
        let nfiles = rng.int(1...2)
        for k in 0..<nfiles {
            if rng.chance(0.15) { base["\(dir)/b\(k).bin"] = Self.randomBinary(&rng) } else { base["\(dir)/f\(k).txt"] = randomText(&rng) }
        }
        var live = base  // what the admin sees
        // admin: one patch, sometimes two (stacked when on the same file)
        for p in 0..<(rng.chance(0.35) ? 2 : 1) {
            var files: [(String, FileSpec?)] = []
            var note = ""
            let paths = live.keys.sorted()
            let roll = rng.int(0...99)
            if roll < 10 || paths.isEmpty {
                let path = "\(dir)/new\(p).txt"
                if live[path] == nil { files.append((path, randomText(&rng))); note = "create" }
            } else {
                let path = paths[rng.int(0...paths.count - 1)]
                let cur = live[path]!
                switch roll {
                case 10..<18: files.append((path, FileSpec(data: cur.data, exec: !cur.exec))); note = "chmod"
                case 18..<26: if let f = Self.toggleFinalNewline(cur) { files.append((path, f)); note = "final newline" }
                case 26..<30: if !cur.data.isEmpty { files.append((path, FileSpec(data: Data(), exec: cur.exec))); note = "empty" }
                case 30..<35: files.append((path, nil)); note = "delete"
                case 35..<42 where paths.count == 2:
                    for q in paths { if let f = editText(live[q]!, &rng) ?? Optional(Self.randomBinary(&rng)) { files.append((q, f)) } }
                    note = "two files"
                default:
                    files.append((path, editText(cur, &rng) ?? Self.randomBinary(&rng))); note = "edit"
                }
            }
            files = files.filter { live[$0.0] != $0.1 }
            if files.isEmpty { continue }
            for (path, f) in files { live[path] = f }
            for (path, f) in files where f == nil { live.removeValue(forKey: path) }
            admin.append((files, note))
        }
        allContents = (base.values.map(\.data) + admin.flatMap { $0.files.compactMap { $0.1?.data } })

        // upstream: two revisions of random changes to the case's files
        var up = base
        for rev in 0..<2 {
            var change: [String: FileSpec?] = [:]
            for path in up.keys.sorted() {
                let cur = up[path]!
                let roll = rng.int(0...99)
                switch roll {
                case 0..<40: break
                case 40..<65: change[path] = editText(cur, &rng) ?? Self.randomBinary(&rng)
                case 65..<73:  // the admin's own change (their final content, or their delete)
                    if admin.contains(where: { $0.files.contains { $0.0 == path } }) { change[path] = .some(live[path]) }
                case 73..<77: change[path] = .some(nil)
                case 77..<85:  // rename with a one-line edit (git sees it when the file is long enough)
                    if TextModel(cur.data).map({ $0.lines.count >= 8 }) == true, !path.contains("moved") {
                        let to = path.replacingOccurrences(of: "/", with: "/moved_")
                        change[path] = .some(nil)
                        change[to] = editText(cur, &rng, ops: 1...1)
                    }
                case 85..<91: change[path] = FileSpec(data: cur.data, exec: !cur.exec)
                case 91..<95: if let f = Self.toggleFinalNewline(cur) { change[path] = f }
                default: break
                }
            }
            // The admin's new file sometimes appears upstream too: the same content, or another.
            for (path, f) in admin.flatMap(\.files) where base[path] == nil && up[path] == nil && rev == 0 {
                if let f, rng.chance(0.12) { change[path] = rng.chance(0.5) ? f : randomText(&rng) }
            }
            for (path, f) in change {
                if let f { up[path] = f } else { up.removeValue(forKey: path) }
            }
            upstream[rev] = change
        }
    }
}

/// A value guarded by a lock, for results gathered from concurrent batches.
final class Locked<T>: @unchecked Sendable {
    private var v: T
    private let lock = NSLock()
    init(_ v: T) { self.v = v }
    var value: T { lock.lock(); defer { lock.unlock() }; return v }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); defer { lock.unlock() }; f(&v) }
}
