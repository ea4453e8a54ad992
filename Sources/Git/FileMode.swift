/// A git tree entry mode: regular file, executable, symlink, gitlink (submodule), or tree.
public enum FileMode: UInt32, Sendable, Codable, CustomStringConvertible {
    case regular = 0o100644
    case executable = 0o100755
    case symlink = 0o120000
    case gitlink = 0o160000
    case tree = 0o040000

    /// The octal form git prints (`100644`).
    public var description: String { String(rawValue, radix: 8) }

    public init?(octal: String) {
        guard let v = UInt32(octal, radix: 8), let m = FileMode(rawValue: v) else { return nil }
        self = m
    }

    public var isFile: Bool { self == .regular || self == .executable }
}

/// One version of a file as git sees it: repo-relative path, mode and bytes
/// (for a symlink, the bytes are the link target).
public struct FileVersion: Sendable, Equatable {
    public var path: String
    public var mode: FileMode
    public var content: [UInt8]

    public init(path: String, mode: FileMode, content: [UInt8]) {
        self.path = path
        self.mode = mode
        self.content = content
    }

    public func blobID() throws -> ObjectID { try ObjectID.hashBlob(content) }
}

/// A change to one path: `old == nil` creates the file, `new == nil` deletes it.
public struct FileChange: Sendable, Equatable {
    public var old: FileVersion?
    public var new: FileVersion?

    public init(old: FileVersion?, new: FileVersion?) {
        self.old = old
        self.new = new
    }

    public var path: String { new?.path ?? old?.path ?? "" }
}

/// Who made a commit or a patch, and when.
public struct Signature: Sendable, Equatable {
    public var name: String
    public var email: String
    public var time: Int64          // seconds since 1970
    public var offsetMinutes: Int32 // offset from UTC

    public init(name: String, email: String, time: Int64, offsetMinutes: Int32 = 0) {
        self.name = name
        self.email = email
        self.time = time
        self.offsetMinutes = offsetMinutes
    }
}
