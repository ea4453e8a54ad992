import PatchKeeper

/// libFuzzer entry: any bytes as the TOML config. Loading may throw (one error naming the file);
/// it must never crash, and a parsed app's settings must survive `section(for:)` → parse.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let config = try? ConfigFile.parse(text, path: "fuzz.toml") else { return 0 }
    for name in config.appNames {
        guard let app = config.apps[name] else { fatalError("appNames lists a missing app") }
        // init appends this text to a config file: it must read back as the same app.
        let again = try? ConfigFile.parse(ConfigFile.section(for: app), path: "again.toml")
        if again?.apps[name] != app {
            fatalError("section(for:) of app '\(name)' does not parse back to the same settings")
        }
    }
    return 0
}
