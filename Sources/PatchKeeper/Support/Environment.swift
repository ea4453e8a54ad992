#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One environment variable, read with `getenv`. (`ProcessInfo.processInfo.environment` builds
/// a dictionary of every variable on each call: five calls were 3% of a warm gate's instructions.)
public enum Environment {
    public static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// The variables configuration resolution reads (`AppOptions.resolve(environment:)`).
    public static var forConfig: [String: String] {
        var out: [String: String] = [:]
        for name in ["PATCHKEEPER_CONFIG"] { out[name] = value(name) }
        return out
    }
}
