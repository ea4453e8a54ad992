import Foundation
import Testing
@testable import PatchKeeper

/// docs/man/patchkeeper.toml.5 describes every key the config parser accepts.
@Suite("Config man page")
struct ConfigManPageTests {
    static let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/man/patchkeeper.toml.5").path

    @Test("every [apps.NAME] and [fleet] key has an entry, and [defaults] names the keys it takes")
    func everyKeyDocumented() throws {
        let text = try String(contentsOfFile: Self.page, encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        for key in AppConfig.knownKeys.sorted() {
            #expect(lines.contains { $0.hasPrefix(".BR \(key) \" (") }, "no '.BR \(key) \" (type)' entry in patchkeeper.toml.5")
        }
        let defaults = try #require(text.range(of: ".SH DEFAULTS")).upperBound
        let section = String(text[defaults...].prefix { $0 != "#" }).components(separatedBy: ".SH ").first ?? ""
        for key in AppConfig.defaultableKeys.sorted() {
            #expect(section.contains(key), "[defaults] does not mention \(key)")
        }
        let fleet = try #require(text.range(of: ".SH FLEET")).upperBound
        let fleetSection = String(text[fleet...]).components(separatedBy: ".SH ").first ?? ""
        for key in FleetConfig.knownKeys.sorted() {
            #expect(fleetSection.contains(".BR \(key) \" ("), "no '.BR \(key) \" (type)' entry under FLEET")
        }
    }
}
