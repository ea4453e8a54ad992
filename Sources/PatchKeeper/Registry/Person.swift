#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
/// A name and e-mail, as in `Jane Admin <jane@example.org>`.
public struct Person: Sendable, Equatable, Codable {
    public var name: String
    public var email: String

    public init(name: String, email: String) {
        self.name = name
        self.email = email
    }

    /// Parses `Name <email>`; a bare word becomes a name with `name@host`.
    public static func parse(_ text: String, host: String? = nil) -> Person? {
        // (Scalar searches and trims: what Foundation's `contains` and `trimmingCharacters` did,
        // without bridging, for the thousands of authors a registry load reads.)
        let t = Text.trimmedSpaces(Text.singleLine(text))
        guard !t.isEmpty else { return nil }
        if let lt = t.lastIndex(of: "<"), t.hasSuffix(">") {
            let name = Text.trimmedSpaces(t[..<lt])
            // Trimmed like the name: `< r>` would come back from `formatted` as name "r".
            let email = Text.trimmedSpaces(t[t.index(after: lt)..<t.index(before: t.endIndex)])
            guard !email.isEmpty, !email.unicodeScalars.contains("<"), !email.unicodeScalars.contains(">") else { return nil }
            return Person(name: name.isEmpty ? email : name, email: email)
        }
        if t.unicodeScalars.contains("<") || t.unicodeScalars.contains(">") { return nil }
        if t.unicodeScalars.contains("@") && !t.unicodeScalars.contains(" ") { return Person(name: t, email: t) }
        return Person(name: t, email: "\(t.replacing(" ", with: "."))@\(host ?? POSIX.hostName())")
    }

    /// Whoever runs the command: `$SUDO_USER` when run through sudo, else the login name.
    public static func current() -> Person {
        let user = POSIX.userName()
        return Person(name: user, email: "\(user)@\(POSIX.hostName())")
    }

    public var formatted: String { "\(name) <\(email)>" }
}
