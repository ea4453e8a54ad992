import CLibgit2

/// An error returned by libgit2: its return code, error class and message, copied at the call site.
public struct GitError: Error, Sendable, CustomStringConvertible, Equatable {
    public let code: Int32
    public let errorClass: Int32
    public let message: String
    public let operation: String

    public init(code: Int32, errorClass: Int32 = 0, message: String, operation: String) {
        self.code = code
        self.errorClass = errorClass
        self.message = message
        self.operation = operation
    }

    public var description: String { "\(operation): \(message)" }

    /// The object or reference was not found (`GIT_ENOTFOUND`).
    public var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }
    /// The repository is owned by another user and libgit2 refuses it (`GIT_EOWNER`). libgit2 1.5.1
    /// reports it as GIT_ENOTFOUND "config value 'safe.directory' was not found" when no git config
    /// file exists, which is how patchkeeper runs it (search paths cleared).
    public var isOwnerMismatch: Bool { code == GIT_EOWNER.rawValue || message.contains("'safe.directory'") }
    /// A revision spec was ambiguous or malformed.
    public var isInvalidSpec: Bool { code == GIT_EAMBIGUOUS.rawValue || code == GIT_EINVALIDSPEC.rawValue }
}

/// Checks a libgit2 return code; negative values become a `GitError` carrying `git_error_last()`.
@discardableResult
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws -> Int32 {
    if rc >= 0 { return rc }
    var message = "libgit2 error \(rc)"
    var klass: Int32 = 0
    if let last = git_error_last() {
        if let m = last.pointee.message { message = String(cString: m) }
        klass = last.pointee.klass
    }
    git_error_clear()
    throw GitError(code: rc, errorClass: klass, message: message, operation: operation())
}
