/// A problem the user can act on: what went wrong (naming the file) and what to do about it.
/// The CLI prints it as one line and exits 2.
public struct PatchKeeperError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Bad input, missing repo/revision, unreadable file: exit 2.
        case trouble
        /// The registry lock is held by another writer: exit 2.
        case locked
        /// A patch does not apply: exit 1 (a finding, nothing written).
        case conflict
        /// Something the command line must say and did not (`apply` of a patch without a
        /// Subject and no --title): exit 64, like argument-parser's usage errors.
        case usage
    }

    /// The exit code the CLI gives this error.
    public var exitCode: Int32 {
        switch kind {
        case .trouble, .locked: return 2
        case .conflict: return 1
        case .usage: return 64
        }
    }

    public var kind: Kind
    public var message: String
    public var hint: String?
    /// Set on the error of a journaled job that was done (every live write made, the registry
    /// commit made) when a step after it failed: the job stands, and says so.
    public var jobDone = false

    public init(_ message: String, hint: String? = nil, kind: Kind = .trouble) {
        self.kind = kind
        self.message = message
        self.hint = hint
    }

    public var description: String {
        guard let hint else { return message }
        return "\(message); \(hint)"
    }
}
