import PatchKeeper

/// libFuzzer entry: any bytes as a registry file. Parsing may throw; it must never crash, and a
/// file that parses must render to text that parses to the same value (the round trip the
/// registry relies on when it rewrites a file).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for strict in [true, false] {
        guard let patch = try? PatchFile.parse(text, fileName: "fuzz.patch", requireRegistryFields: strict) else { continue }
        _ = patch.id
        _ = patch.status
        _ = patch.reason
        _ = patch.diffSections()
        _ = try? patch.files()
        _ = try? patch.touchedPaths()
        let again = try? PatchFile.parse(patch.render(), fileName: "fuzz.patch", requireRegistryFields: strict)
        if again != patch {
            fatalError("render/parse round trip differs for a file that parsed")
        }
    }
    return 0
}
