// swift-tools-version:6.0
import PackageDescription

// The product links FoundationEssentials, not all of Foundation (TOMLKit imports Foundation, and
// without this its String and Error extensions would be visible, and linked, through it): a
// smaller binary that starts faster (docs/DESIGN.md §7, "Start-up").
let essentialsOnly: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "patchkeeper",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "patchkeeper", targets: ["patchkeeper"]),
        .library(name: "PatchKeeper", targets: ["PatchKeeper"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibgit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]
        ),
        .systemLibrary(name: "CXattr"),
        .systemLibrary(name: "CDirent"),
        .systemLibrary(name: "CProcess"),
        .systemLibrary(name: "CMalloc"),
        .target(name: "CTLSDefer"),
        .target(name: "Git", dependencies: ["CLibgit2", "CTLSDefer"], swiftSettings: essentialsOnly),
        // SHA-1 on the CPU's SHA extensions, for scan's comparison only (docs/DESIGN.md, "Hashing").
        .target(name: "CSHA1"),
        .target(
            name: "PatchKeeper",
            dependencies: ["Git", "CXattr", "CDirent", "CProcess", "CSHA1", .product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: essentialsOnly
        ),
        .target(
            name: "PatchKeeperCLI",
            dependencies: [
                "PatchKeeper", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: essentialsOnly
        ),
        .executableTarget(name: "patchkeeper", dependencies: ["PatchKeeperCLI"], swiftSettings: essentialsOnly),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "GitTests", dependencies: ["Git", "TestSupport"]),
        .testTarget(name: "PatchKeeperTests", dependencies: ["PatchKeeper", "Git", "TestSupport"]),
        .testTarget(name: "PatchKeeperCLITests", dependencies: ["patchkeeper", "PatchKeeperCLI", "TestSupport",
                                                        .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ],
    swiftLanguageModes: [.v6]
)
