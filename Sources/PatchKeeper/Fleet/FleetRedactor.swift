#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git

/// Turns a registry patch file into what may leave the host: the file sections of secret paths
/// lose their hunks (headers and blob ids stay, so the fleet still sees which files and which
/// versions), and trailers say what was cut (`Redacted:`) and the content's patch-id computed
/// before cutting (`Fleet-Patch-Id:`), so the same fix still groups across hosts.
/// A file that does not parse leaves nothing (nil): its content cannot be checked.
enum FleetRedactor {
    struct Result {
        var text: String
        /// The secret paths cut out (empty: the file is published as it is).
        var redacted: [String]
        /// Blob ids of the non-secret files (the images the fleet may see).
        var publicImages: [ObjectID]
        /// Blob ids of the secret files: never published, even when a non-secret file has the
        /// same content (deny beats allow).
        var secretImages: [ObjectID]
    }

    static func redact(_ text: String, fileName: String, config: FleetConfig) -> Result? {
        guard let patch = try? PatchFile.parse(text, fileName: fileName, requireRegistryFields: false, validateDiff: false),
              let files = try? patch.files() else { return nil }
        let secret = files.map { config.isSecret($0.oldPath) || config.isSecret($0.newPath) }
        var images: [ObjectID] = []
        var secretImages: [ObjectID] = []
        for (f, s) in zip(files, secret) {
            for id in [f.oldID, f.newID] where !id.isZero {
                if s { secretImages.append(id) } else { images.append(id) }
            }
        }
        guard secret.contains(true) else { return Result(text: text, redacted: [], publicImages: images, secretImages: []) }
        // One section per "diff --git" line, in the order libgit2 parsed them.
        guard let diff = PatchFile.diffSection(of: patch.tail), let start = patch.tail.byteRange(of: diff) else { return nil }
        let lines = diff.split(separator: "\n", omittingEmptySubsequences: false)
        var sections: [[Substring]] = []
        for line in lines {
            if line.hasPrefix("diff --git ") || sections.isEmpty { sections.append([line]) } else { sections[sections.count - 1].append(line) }
        }
        // A section count that does not match libgit2's file count: cut everything rather than guess.
        let cutAll = sections.count != files.count
        var out: [Substring] = []
        for (k, section) in sections.enumerated() {
            if !cutAll && !secret[k] { out += section; continue }
            for line in section {
                if line.hasPrefix("@@") || line.hasPrefix("GIT binary patch") || line.hasPrefix("Binary files") { break }
                out.append(line)
            }
        }
        var redactedPatch = patch
        redactedPatch.tail = String(patch.tail[..<start.lowerBound]) + out.joined(separator: "\n") + (diff.hasSuffix("\n") && out.last != "" ? "\n" : "")
        let paths = zip(files, secret).filter { $0.1 || cutAll }.map { $0.0.path }
        if cutAll { secretImages += images; images = [] }
        redactedPatch.setTrailer("Redacted", paths.map { Text.singleLine($0) }.joined(separator: ", "))
        if let id = try? PatchParser.patchID(patch.diffText) { redactedPatch.setTrailer("Fleet-Patch-Id", id.hex) }
        return Result(text: redactedPatch.render(), redacted: paths, publicImages: images, secretImages: secretImages)
    }
}
