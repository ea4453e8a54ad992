import CLibgit2
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// How to authenticate an ssh remote, and which server to trust: libgit2 1.5 checks no
/// known_hosts file, so an ssh remote is used only with the server's host key pinned.
public struct RemoteAuth: Sendable, Equatable {
    /// Private key file (its public half at `privateKey + ".pub"` when present); nil: ssh-agent.
    public var privateKey: String?
    /// The server's host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:base64`.
    public var hostKeySHA256: String?

    public init(privateKey: String? = nil, hostKeySHA256: String? = nil) {
        self.privateKey = privateKey
        self.hostKeySHA256 = hostKeySHA256
    }

    /// Whether `url` goes over ssh (`ssh://`, `ssh+git://`, `git+ssh://`, or scp-like `user@host:path`).
    public static func isSSH(_ url: String) -> Bool {
        let lower = url.lowercased()
        if lower.hasPrefix("ssh://") || lower.hasPrefix("ssh+git://") || lower.hasPrefix("git+ssh://") { return true }
        if url.contains("://") || url.hasPrefix("/") { return false }
        guard let colon = url.firstIndex(of: ":") else { return false }
        return !url[..<colon].contains("/")
    }
}

/// State shared with libgit2's callbacks during one push or fetch.
final class RemoteCallbackState {
    let auth: RemoteAuth
    var rejected: [(String, String)] = []
    var credentialAttempts = 0
    var hostKeyProblem: String?

    init(auth: RemoteAuth) { self.auth = auth }

    static func from(_ payload: UnsafeMutableRawPointer?) -> RemoteCallbackState? {
        payload.map { Unmanaged<RemoteCallbackState>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Fills `callbacks` so libgit2 calls back into this object (keep it alive during the call).
    func install(_ callbacks: inout git_remote_callbacks) {
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        callbacks.push_update_reference = { refname, message, payload in
            guard let refname, let message, let s = RemoteCallbackState.from(payload) else { return 0 }
            s.rejected.append((String(cString: refname), String(cString: message)))
            return 0
        }
        callbacks.credentials = { out, _, usernameFromURL, allowed, payload in
            guard let out, let s = RemoteCallbackState.from(payload) else { return -1 }
            s.credentialAttempts += 1
            // libgit2 asks again after a refused key: once is enough, then fail.
            if s.credentialAttempts > 1 { return Int32(GIT_EAUTH.rawValue) }
            let user = usernameFromURL.map { String(cString: $0) } ?? "git"
            if allowed & GIT_CREDENTIAL_USERNAME.rawValue != 0 { return git_credential_username_new(out, user) }
            guard allowed & GIT_CREDENTIAL_SSH_KEY.rawValue != 0 else { return Int32(GIT_EAUTH.rawValue) }
            if let key = s.auth.privateKey {
                let pub = key + ".pub"
                return git_credential_ssh_key_new(out, user, FileManager.default.fileExists(atPath: pub) ? pub : nil, key, nil)
            }
            return git_credential_ssh_key_from_agent(out, user)
        }
        callbacks.certificate_check = { cert, valid, host, payload in
            guard let cert, let s = RemoteCallbackState.from(payload) else { return -1 }
            guard cert.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2 else {
                // TLS: libgit2 has checked the chain against the system's CAs.
                return valid != 0 ? 0 : Int32(GIT_ECERTIFICATE.rawValue)
            }
            let hostkey = UnsafeRawPointer(cert).assumingMemoryBound(to: git_cert_hostkey.self).pointee
            guard let pinned = s.auth.hostKeySHA256 else {
                s.hostKeyProblem = "no ssh host key pinned for \(host.map { String(cString: $0) } ?? "the server")"
                return Int32(GIT_ECERTIFICATE.rawValue)
            }
            guard hostkey.type.rawValue & GIT_CERT_SSH_SHA256.rawValue != 0 else {
                s.hostKeyProblem = "the server offered no SHA-256 host key fingerprint"
                return Int32(GIT_ECERTIFICATE.rawValue)
            }
            let bytes = withUnsafeBytes(of: hostkey.hash_sha256) { Data($0) }
            var got = "SHA256:" + bytes.base64EncodedString()
            while got.hasSuffix("=") { got.removeLast() }
            var want = pinned
            while want.hasSuffix("=") { want.removeLast() }
            if got != want {
                s.hostKeyProblem = "the server's host key is \(got), not the pinned \(pinned)"
                return Int32(GIT_ECERTIFICATE.rawValue)
            }
            return 0
        }
    }
}
