#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// `propose`: turns a hot patch into a change for the app's repository — a `git format-patch`
/// mail based on a given revision, with the patch merged onto it (the same procedure as gate),
/// the reason and ticket in its message — and records `Proposed-In:` in the registry. The app's
/// repository is never written: `git am FILE` on a branch makes the pull request, and once it is
/// merged, gate finds the patch upstream by patch-id.
public enum Proposer {
    public struct Result: Sendable {
        public var patch: PatchFile
        public var mail: String
        public var onto: ObjectID
    }

    public static func propose(id: String, onto spec: String, output: String?, now: Date = Date(), lockWait: Double = 0,
                               deployment: Deployment, registry: Registry) throws -> Result {
        let repo = deployment.repository
        let onto: ObjectID
        do { onto = try repo.resolveCommit(spec) } catch let e as GitError {
            throw PatchKeeperError("'\(Text.singleLine(spec))' is not a commit in \(deployment.repoPath) (\(e.message))", hint: "fetch the repository, or check the revision")
        }
        let lock = try registry.lock(wait: lockWait)
        defer { withExtendedLifetime(lock) {} }
        var patch = try registry.find(id, in: try registry.load())
        guard patch.status == .active else { throw PatchKeeperError("patch \(patch.id) is \(patch.status.rawValue)", hint: "only an active patch is proposed") }
        // The patch alone onto REV (a pull request carries one fix).
        var decider = try PatchDecider(repository: repo, registry: registry, target: onto, targetLabel: "\(Text.singleLine(spec)) (\(onto.short))", lockHeld: true)
        decider.deploys = { [deployment] in deployment.rootRelative(forRepoPath: $0) != nil }
        guard let d = try decider.decide([patch]).first else { throw PatchKeeperError("patch \(patch.id) has no files") }
        switch d.result {
        case .upstreamed:
            throw PatchKeeperError("\(Text.singleLine(spec)) already has patch \(patch.id)'s change: nothing to propose", hint: "retire it once that revision is deployed")
        case .conflicts, .removed:
            let why = d.files.filter { $0.result == .conflicts || $0.result == .removed }.map { "\($0.path): \($0.detail ?? $0.result.rawValue)" }
            throw PatchKeeperError("patch \(patch.id) does not apply to \(Text.singleLine(spec)): " + why.joined(separator: "; "),
                                   hint: "propose it onto the deployed revision, or resolve the conflict by hand")
        case .reapplies, .reappliesRenamed:
            break
        }
        var changes: [FileChange] = []
        for f in d.files where f.input != f.output || f.renamedFrom != nil {
            changes.append(FileChange(old: try decider.source.version(f.path, f.input), new: try decider.source.version(f.path, f.output)))
        }
        let made: (diff: String, stat: String)
        do { made = try MemoryRepository().makePatch(changes.sorted { $0.path < $1.path }) } catch let e as GitError {
            throw PatchKeeperError("cannot build the proposal: \(e.message)")
        }
        var message = Self.mailSafe(patch.reason.trimmedWhitespace())
        var trailers: [String] = []
        if let t = patch.ticket { trailers.append("Ticket: \(t)") }
        trailers.append("Hot-Patch: \(patch.id) (\(deployment.app.name), recorded by patchkeeper)")
        message += (message.isEmpty ? "" : "\n\n") + trailers.joined(separator: "\n")
        let mail = """
            From \(onto.hex) Mon Sep 17 00:00:00 2001
            From: \(patch.author.formatted)
            Date: \(patch.dateText.isEmpty ? Text.rfc2822(now) : patch.dateText)
            Subject: [PATCH] \(patch.subject)

            \(message)
            ---
            \(made.stat)
            \(made.diff)
            """
        let path = Deployment.absolute(output ?? "\(patch.fileName.replacing(".patch", with: "")).proposed.patch")
        // Not into the registry (a stray .patch file there stops every command) nor into the live
        // tree (root would add a file the app's user can then change; scan calls it drift).
        let dir = POSIX.realPath(POSIX.parentDirectory(path)) ?? POSIX.parentDirectory(path)
        for (inside, what) in [(registry.path, "the registry"), (deployment.root, "the app's live tree")] {
            let r = POSIX.realPath(inside) ?? Deployment.absolute(inside)
            if dir == r || dir.hasPrefix(r == "/" ? r : r + "/") {
                throw PatchKeeperError("\(path) lies inside \(what) (\(inside)): the mail is not written there",
                                       hint: "pass --output FILE outside it, e.g. --output /tmp/\(POSIX.baseName(path))")
            }
        }
        try AtomicFile.write(Array(mail.utf8), to: path, mode: 0o644)
        patch.setTrailer("Proposed-In", "\(path) onto \(onto.hex)")
        try registry.save(patch, action: "propose", reason: "proposed onto \(onto.short) as \(path)", author: Person.current(), now: now)
        return Result(patch: patch, mail: path, onto: onto)
    }

    /// The message with every line that `git mailinfo` takes for the start of the patch
    /// (`diff -`, `Index: `, `---` then a space or nothing but blanks) or `git mailsplit` for a new
    /// mail (`From `) indented by one space: otherwise `git am` cuts the message there and feeds
    /// the rest to `git apply`, which fails on it.
    static func mailSafe(_ message: String) -> String {
        message.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let breaks = line.hasPrefix("diff -") || line.hasPrefix("Index: ") || line.hasPrefix("From ")
                || (line.hasPrefix("---") && (line.dropFirst(3).first == " " || line.dropFirst(3).allSatisfy(\.isWhitespace)))
            return breaks ? " " + line : String(line)
        }.joined(separator: "\n")
    }
}
