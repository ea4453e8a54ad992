import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import PatchKeeper

/// A command that writes the registry: after it runs (findings or not), the app's registry is
/// published to the `[fleet]` remote when the config names one (docs/FLEET.md).
protocol PublishesToFleet {
    var global: GlobalOptions { get }
}

extension InitCommand: PublishesToFleet {}
extension RecordCommand: PublishesToFleet {}
extension ApplyCommand: PublishesToFleet {}
extension EditCommand: PublishesToFleet {}
extension RetireCommand: PublishesToFleet {}
extension ResolveCommand: PublishesToFleet {}
extension ProposeCommand: PublishesToFleet {}
extension ReapplyCommand: PublishesToFleet {}

extension GlobalOptions {
    /// The config file's `[fleet]` table, nil when there is no config or no table.
    func fleetConfig() throws -> FleetConfig? {
        guard let loc = appOptions.configLocation(environment: environment) else { return nil }
        return try ConfigFile.load(path: loc.path).fleet
    }

    /// Publishes this app's registry when `[fleet] remote` is set. A failure is a warning on
    /// stderr (the command's own result stands) and stays pending in the registry's state dir
    /// for the next write or scan to retry.
    func publishToFleet(registry: Registry? = nil, gate: FleetSummary.Gate? = nil) {
        guard let fleet = try? fleetConfig(), let remote = fleet.remote else { return }
        guard let registry = registry ?? (try? openRegistry()) else { return }
        guard let app = registry.appName ?? (try? appOptions.resolve(environment: environment, needsRoot: false).app.name) else { return }
        guard let state = FleetPublisher(registry: registry, app: app, config: fleet).publish(gate: gate, lockWait: max(wait, 10)) else { return }
        if !state.ok {
            let since = state.pendingSince.map { " (pending since \(Text.isoTimestamp($0)))" } ?? ""
            Output.diagnostic("warning: publishing \(app) to the fleet remote \(Text.terminalLine(remote)) failed\(since): \(Text.terminalLine(state.error ?? "unknown error"))")
            Output.diagnostic("  the local result stands; the next write or scan retries ('patchkeeper status' shows it)")
        }
    }
}
