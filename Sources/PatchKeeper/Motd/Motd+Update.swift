#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Motd {
    /// `text` with the block for `app` replaced, inserted at the end when absent (after a newline if
    /// the text lacks a final one), or removed with its trailing newline when `block` is nil. Bytes
    /// outside the markers and other apps' blocks are left alone. Stray, duplicate, misordered or
    /// overlapping markers are an error: the text is never guessed at.
    public static func updated(_ text: String, app: String, block: String?) throws -> String {
        let bytes = try updated(Array(text.utf8), app: app, block: block, source: "the motd text")
        return String(decoding: bytes, as: UTF8.self)
    }

    /// What `update(file:app:block:)` did.
    public enum Change: String, Sendable, Equatable {
        /// The banner was written (created or changed).
        case written
        /// The banner was taken out (its block, or the drop-in file it filled).
        case removed
        /// The file already held this very banner.
        case unchanged
        /// Nothing to remove: the file holds no banner for the app.
        case noBanner = "no-banner"
        /// Nothing to remove: the file does not exist.
        case noFile = "no-file"
    }

    /// Puts `block` for `app` into `file` (nil removes it) and returns whether the file changed.
    public static func write(file: String, app: String, block: String?) throws -> Bool {
        let change = try update(file: file, app: app, block: block)
        return change == .written || change == .removed
    }

    /// Puts `block` for `app` into `file` (nil removes it). The file is replaced atomically keeping
    /// its mode and owner; a missing file counts as empty and is created (mode 0644) only to hold a
    /// banner. Refuses symbolic links and anything but a regular file.
    ///
    /// A file in a `motd.d` directory is a drop-in: when it is missing, empty, or holds nothing but
    /// this app's banner (bare, or one marked block), the banner is written bare, without the marker
    /// lines, and removing it removes the file. A drop-in that holds other text too is treated like
    /// /etc/motd: the banner goes between markers and the rest is kept. The default directory
    /// (/run/motd.d, a tmpfs emptied at boot) is created when missing.
    public static func update(file: String, app: String, block: String?) throws -> Change {
        var old: [UInt8]?
        if let st = POSIX.lstat(file) {
            let type = st.st_mode & S_IFMT
            if type == S_IFLNK {
                throw PatchKeeperError("refusing to update \(file): it is a symbolic link", hint: "give the path of the file it points to")
            }
            guard type == S_IFREG else { throw PatchKeeperError("cannot update \(file): it is not a regular file") }
            old = try POSIX.readFile(file)
        } else if block == nil {
            return .noFile
        }
        if isDropIn(file), let bare = try dropInContent(old ?? [], app: app) {
            guard let block else {
                if bare.isEmpty { return .noBanner }
                guard unlink(file) == 0 || errno == ENOENT else {
                    throw PatchKeeperError("cannot remove \(file): \(POSIX.errorText())")
                }
                return .removed
            }
            let new = try Array(bareBanner(block, app: app).utf8)
            if new == old { return .unchanged }
            try makeDefaultDirectory(for: file)
            try AtomicFile.write(new, to: file)
            return .written
        }
        let current = old ?? []
        let new = try updated(current, app: app, block: block, source: file)
        if new == current { return block == nil ? .noBanner : .unchanged }
        try makeDefaultDirectory(for: file)
        try AtomicFile.write(new, to: file)
        return block == nil ? .removed : .written
    }

    /// The block without its BEGIN and END lines: what a drop-in of its own shows.
    public static func bareBanner(_ block: String, app: String) throws -> String {
        let bytes = try Markers(app: Text.terminalLine(app)).checked(block: block)
        let lines = Line.split(bytes)
        return String(decoding: bytes[lines[1].full.lowerBound..<lines[lines.count - 2].full.upperBound], as: UTF8.self)
    }

    /// A path whose directory is called `motd.d` (pam_motd's /run/motd.d, /etc/motd.d, /usr/lib/motd.d).
    static func isDropIn(_ file: String) -> Bool {
        POSIX.baseName(POSIX.parentDirectory(file)) == "motd.d"
    }

    /// The banner a drop-in holds when the whole file is this app's banner: the bytes (empty for an
    /// empty file), or nil when the file holds anything else (then markers keep the rest apart).
    static func dropInContent(_ bytes: [UInt8], app rawApp: String) throws -> [UInt8]? {
        if bytes.allSatisfy({ $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: " ") }) { return [] }
        let app = Text.terminalLine(rawApp)
        let lines = Line.split(bytes)
        let text = lines.map { String(decoding: bytes[$0.content], as: UTF8.self) }
        // A bare banner of ours: the headline first, this app's "Details" line last.
        let details = "  Details: patchkeeper status --app \(shellWord(app))"
        if let first = text.first, let last = text.last, first.hasPrefix("*** \(phrase) ACTIVE on "),
           last == details || last == fit(details, 80), !lines.contains(where: { Markers.isMarker(bytes[$0.content]) }) {
            return bytes
        }
        // One marked block of this app and nothing else (written by an older patchkeeper).
        if let range = try? Markers(app: app).blockRange(in: bytes, source: "the drop-in"),
           range == 0..<bytes.count {
            return bytes
        }
        return nil
    }

    /// Creates /run/motd.d (mode 0755) when `file` is in it and it is missing (a tmpfs after boot
    /// without the tmpfiles.d entry); any other missing directory stays an error.
    static func makeDefaultDirectory(for file: String) throws {
        let dir = POSIX.parentDirectory(file)
        guard dir == defaultDirectory, POSIX.lstat(dir) == nil else { return }
        if mkdir(dir, 0o755) != 0 && errno != EEXIST {
            throw PatchKeeperError("cannot create \(dir): \(POSIX.errorText())")
        }
        _ = chmod(dir, 0o755)  // against the umask (the unit runs with UMask=0077)
    }

    /// The byte-level update behind `updated` and `write`; `source` names the text in errors.
    static func updated(_ text: [UInt8], app rawApp: String, block: String?, source: String) throws -> [UInt8] {
        let app = Text.terminalLine(rawApp)
        guard !app.isEmpty else { throw PatchKeeperError("cannot update the motd block in \(source): the app name is empty") }
        let markers = Markers(app: app)
        let newBlock = try block.map { try markers.checked(block: $0) }
        guard let range = try markers.blockRange(in: text, source: source) else {
            guard let newBlock else { return text }
            var out = text
            if let last = out.last, last != UInt8(ascii: "\n") { out.append(UInt8(ascii: "\n")) }
            return out + newBlock
        }
        return Array(text[..<range.lowerBound]) + (newBlock ?? []) + Array(text[range.upperBound...])
    }

    /// The marker lines of one app's block: `# BEGIN patchkeeper APP` (optionally followed by
    /// ` -- ` and a note) and `# END patchkeeper APP`, matched as whole lines.
    struct Markers {
        let app: String
        let begin: [UInt8]
        let end: [UInt8]
        static let anyBegin = Array(Motd.beginPrefix.utf8)
        static let anyEnd = Array(Motd.endPrefix.utf8)

        init(app: String) {
            self.app = app
            begin = Array((Motd.beginPrefix + app).utf8)
            end = Array((Motd.endPrefix + app).utf8)
        }

        func isBegin(_ line: ArraySlice<UInt8>) -> Bool {
            line.elementsEqual(begin) || line.starts(with: begin + Array(" -- ".utf8))
        }

        func isEnd(_ line: ArraySlice<UInt8>) -> Bool { line.elementsEqual(end) }

        /// Any app's marker: nothing of the kind may sit inside a block.
        static func isMarker(_ line: ArraySlice<UInt8>) -> Bool { line.starts(with: anyBegin) || line.starts(with: anyEnd) }

        /// The bytes of the block from its BEGIN line through its END line's newline; nil when the
        /// text holds no marker for this app.
        func blockRange(in text: [UInt8], source: String) throws -> Range<Int>? {
            let lines = Line.split(text)
            let begins = lines.filter { isBegin(text[$0.content]) }
            let ends = lines.filter { isEnd(text[$0.content]) }
            let beginText = Motd.beginPrefix + app, endText = Motd.endPrefix + app
            func refuse(_ problem: String) -> PatchKeeperError {
                PatchKeeperError("\(source): \(problem)",
                                 hint: "patchkeeper will not guess; fix or remove the marker lines by hand, then run it again")
            }
            switch (begins.first, ends.first) {
            case (nil, nil):
                return nil
            case (let b?, nil):
                throw refuse("'\(beginText)' on line \(b.number) has no '\(endText)' line after it")
            case (nil, let e?):
                throw refuse("'\(endText)' on line \(e.number) has no '\(beginText)' line before it")
            case (let b?, let e?):
                if begins.count > 1 || ends.count > 1 {
                    let at = (begins + ends).map(\.number).sorted().map(String.init).joined(separator: ", ")
                    throw refuse("the block for \(app) is marked more than once (\(begins.count) BEGIN and \(ends.count) END lines, on lines \(at))")
                }
                guard b.number < e.number else {
                    throw refuse("'\(endText)' on line \(e.number) comes before '\(beginText)' on line \(b.number)")
                }
                if let inner = lines[b.number..<(e.number - 1)].first(where: { Self.isMarker(text[$0.content]) }) {
                    throw refuse("line \(inner.number) holds another patchkeeper marker inside the block for \(app) (lines \(b.number)-\(e.number))")
                }
                return b.full.lowerBound..<e.full.upperBound
            }
        }

        /// The block's bytes with a final newline, once it is known to be this app's block alone.
        func checked(block: String) throws -> [UInt8] {
            var bytes = Array(block.utf8)
            if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
            let lines = Line.split(bytes)
            guard lines.count >= 2, let first = lines.first, let last = lines.last,
                  isBegin(bytes[first.content]), isEnd(bytes[last.content]),
                  !lines.dropFirst().dropLast().contains(where: { Self.isMarker(bytes[$0.content]) })
            else {
                throw PatchKeeperError("the motd block given for \(app) does not run from '\(Motd.beginPrefix + app)' to '\(Motd.endPrefix + app)'",
                                       hint: "build it with Motd.block(for:now:)")
            }
            return bytes
        }
    }

    /// One line of a byte text: its 1-based number, its content (without the newline and a CR before
    /// it) and its full extent (with the newline, when there is one).
    struct Line {
        var number: Int
        var content: Range<Int>
        var full: Range<Int>

        static func split(_ text: [UInt8]) -> [Line] {
            var lines: [Line] = []
            var start = 0
            while start < text.count {
                let newline = text[start...].firstIndex(of: UInt8(ascii: "\n"))
                var end = newline ?? text.count
                let next = newline.map { $0 + 1 } ?? text.count
                if end > start && text[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                lines.append(Line(number: lines.count + 1, content: start..<end, full: start..<next))
                start = next
            }
            return lines
        }
    }
}
