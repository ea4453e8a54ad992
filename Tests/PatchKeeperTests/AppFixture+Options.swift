import Foundation
import TestSupport
@testable import PatchKeeper

extension AppFixture {
    /// The fixture's app as command-line options name it (root, repository, `src/api`, registry).
    var options: AppOptions {
        var o = AppOptions()
        o.root = root
        o.repo = repo
        o.subdir = "src/api"
        o.registry = registry
        return o
    }

    /// The app's settings from `options`, no config file.
    func appConfig() throws -> AppConfig { try options.resolve(environment: [:]).app }
}
