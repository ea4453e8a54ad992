// swift-tools-version:5.4
// libFuzzer targets for patchkeeper's parsers; see docs/FUZZING.md. A separate package so the
// main `swift build` never sees the fuzzer flags. Tools version 5.4 on purpose: from 5.5 on, SwiftPM
// renames an executable's entry point to `<module>_main` and links `main` to it, which clashes with
// libFuzzer's own `main` (and -parse-as-library emits none). Build:
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
import PackageDescription

let package = Package(
    name: "patchkeeper-fuzz",
    dependencies: [.package(name: "patchkeeper", path: "..")],
    targets: [
        // PatchFile.parse: a registry file (mail header, trailers, diff).
        .executableTarget(name: "FuzzPatchFile", dependencies: [.product(name: "PatchKeeper", package: "patchkeeper")]),
        // ConfigFile.parse: the TOML config.
        .executableTarget(name: "FuzzConfig", dependencies: [.product(name: "PatchKeeper", package: "patchkeeper")]),
        // PatchParser.parse (libgit2's git_diff_from_buffer and the walk over deltas, hunks and lines).
        .executableTarget(name: "FuzzPatchParser", dependencies: [.product(name: "PatchKeeper", package: "patchkeeper")]),
        // IgnoreRules.scopedRules + libgit2's ignore-rule parser and matcher (deployed .gitignore
        // and .patchkeeperignore files).
        .executableTarget(name: "FuzzIgnore", dependencies: [.product(name: "PatchKeeper", package: "patchkeeper")]),
        // The recovery journal's JSON decoding (Journal, as Registry.recover reads it).
        .executableTarget(name: "FuzzJournal", dependencies: [.product(name: "PatchKeeper", package: "patchkeeper")]),
    ]
)
