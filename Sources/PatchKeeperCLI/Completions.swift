import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Git
import PatchKeeper

/// Shell completion candidates computed when the user presses TAB (argument-parser runs the
/// binary with the words typed so far). Everything here only reads: the config file, the
/// registry directory's listing, the repository's reference names. Any trouble gives no
/// candidates rather than an error in the middle of a command line.
enum Completions {
    /// The value of `--name VALUE` or `--name=VALUE` among the typed words (the last one wins).
    static func value(of name: String, in words: [String]) -> String? {
        var found: String?
        for (i, w) in words.enumerated() {
            if w == name, i + 1 < words.count { found = words[i + 1] }
            if w.hasPrefix(name + "=") { found = String(w.dropFirst(name.count + 1)) }
        }
        return found
    }

    /// The app options the typed words give (--app, --config, --root, --repo, --registry, --subdir).
    static func options(_ words: [String]) -> AppOptions {
        var o = AppOptions()
        o.app = value(of: "--app", in: words)
        o.configPath = value(of: "--config", in: words)
        o.root = value(of: "--root", in: words)
        o.repo = value(of: "--repo", in: words)
        o.registry = value(of: "--registry", in: words)
        o.subdir = value(of: "--subdir", in: words)
        return o
    }

    static func matching(_ candidates: [String], _ prefix: String) -> [String] {
        candidates.filter { $0.hasPrefix(prefix) }
    }

    /// The app names of the config file the words (or $PATCHKEEPER_CONFIG) name.
    static func appNames(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        let env = Environment.forConfig
        guard let loc = options(words).configLocation(environment: env),
              let config = try? ConfigFile.load(path: loc.path) else { return [] }
        return matching(config.appNames, prefix)
    }

    /// The ids of the registry's patches (`0001`, …), from the directory listing alone.
    static func patchIDs(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        let env = Environment.forConfig
        guard let app = try? options(words).resolve(environment: env, needsRoot: false).app else { return [] }
        let dir = Deployment.absolute(app.registry ?? "\(Deployment.defaultRegistryDirectory)/\(app.name)")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        let ids = names.filter { $0.hasSuffix(".patch") && $0.prefix(4).allSatisfy(\.isNumber) && $0.dropFirst(4).hasPrefix("-") }
            .map { String($0.prefix(4)) }
        return matching(Array(Set(ids)).sorted(), prefix)
    }

    /// Branch, tag and remote-branch names of the app's repository (read through libgit2).
    static func gitRefs(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        let env = Environment.forConfig
        guard let app = try? options(words).resolve(environment: env, needsRoot: false).app,
              let path = app.repo ?? app.root.map({ $0 + "/.git" }),
              let repo = try? Repository.open(atPath: Deployment.absolute(path)),
              let refs = try? repo.referenceNames() else { return [] }
        let short = refs.compactMap { ref -> String? in
            for p in ["refs/heads/", "refs/tags/", "refs/remotes/"] where ref.hasPrefix(p) { return String(ref.dropFirst(p.count)) }
            return nil
        }
        return matching(Array(Set(short)).sorted(), prefix)
    }

    static let apps = CompletionKind.custom { words, index, prefix in appNames(words, index, prefix) }
    static let patches = CompletionKind.custom { words, index, prefix in patchIDs(words, index, prefix) }
    static let refs = CompletionKind.custom { words, index, prefix in gitRefs(words, index, prefix) }
}

/// argument-parser's completion scripts, with one gap filled: its built-in `help` subcommand
/// offers no candidates, so `patchkeeper help <TAB>` listed nothing. The command names are
/// added to its completion function in each shell's script.
enum CompletionScripts {
    static var commandNames: [String] {
        PatchKeeperCommand.configuration.subcommands.compactMap { $0.configuration.commandName }
    }

    /// The script for `--generate-completion-script SHELL`, or nil for argument-parser's own
    /// handling (no shell named, an unknown one).
    static func script(arguments: [String]) -> String? {
        guard let first = arguments.first else { return nil }
        let shellName: String
        if first == "--generate-completion-script", arguments.count == 2 { shellName = arguments[1] }
        else if first.hasPrefix("--generate-completion-script="), arguments.count == 1 {
            shellName = String(first.dropFirst("--generate-completion-script=".count))
        } else { return nil }
        guard let shell = CompletionShell(rawValue: shellName) else { return nil }
        return patched(PatchKeeperCommand.completionScript(for: shell), shell: shell)
    }

    static func patched(_ script: String, shell: CompletionShell) -> String {
        let names = commandNames.joined(separator: " ")
        switch shell {
        case .bash:
            let marker = "_patchkeeper_help() {\n"
            guard let start = script.firstRange(of: marker),
                  let end = script[start.upperBound...].firstRange(of: "\n}\n") else { return script }
            var out = script
            out.insert(contentsOf: "\n    COMPREPLY+=($(compgen -W '\(names)' -- \"${cur}\"))", at: end.lowerBound)
            return out
        case .zsh:
            return script.replacing("'*:subcommands:'", with: "'*:subcommands:(\(names))'")
        case .fish:
            return script + "\ncomplete -c patchkeeper -n '__fish_seen_subcommand_from help' -f -a '\(names)'\n"
        default:
            return script
        }
    }
}
