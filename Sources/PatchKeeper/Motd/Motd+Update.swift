import Git
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
    /// banner. Refuses symbolic links and anything but a regular file, and a directory that is a
    /// symbolic link, writable by group or others, or owned by anyone but root or this user.
    ///
    /// The read and the write happen under an exclusive `flock` on the file's directory, so apps
    /// sharing one banner file (each under its own registry lock) never lose each other's block.
    ///
    /// A file in a `motd.d` directory is a drop-in: when it is missing, empty, or holds nothing but
    /// this app's banner (bare, or one marked block), the banner is written bare, without the marker
    /// lines, and removing it removes the file. The bare form is used only when the headline and
    /// the Details line carry the app name whole (else it could not be told from another app's);
    /// a drop-in that holds other text or another app's banner is treated like /etc/motd: the
    /// banner goes between markers, the rest is kept, and a bare banner of this app left in it is
    /// taken out. The default directory (/run/motd.d, a tmpfs emptied at boot) is created when
    /// missing. The temp file of a write stays 0600 until it is renamed into place.
    public static func update(file rawFile: String, app: String, block: String?) throws -> Change {
        guard !rawFile.isEmpty else { throw PatchKeeperError("the motd file name is empty") }
        let file = normalisedPath(rawFile)
        let dirPath = POSIX.parentDirectory(file), name = POSIX.baseName(file)
        guard !name.isEmpty, name != ".", name != ".." else { throw PatchKeeperError("cannot update \(rawFile): it names a directory") }
        if block != nil { try makeDefaultDirectory(for: file) }
        let (opened, code) = DirectoryHandle.tryOpenNoFollow(dirPath)
        guard let dir = opened else {
            if code == ELOOP {
                throw PatchKeeperError("refusing to update \(file): its directory \(dirPath) is a symbolic link", hint: "give the path it points to")
            }
            if block == nil && (code == ENOENT || code == ENOTDIR) { return .noFile }
            throw PatchKeeperError("cannot update \(file): cannot open \(dirPath): \(POSIX.errorText(code))")
        }
        try checkDirectory(dir)
        try lock(dir)
        var old: [UInt8]?
        if let st = dir.status(name) {
            let type = st.st_mode & S_IFMT
            if type == S_IFLNK {
                throw PatchKeeperError("refusing to update \(file): it is a symbolic link", hint: "give the path of the file it points to")
            }
            guard type == S_IFREG else { throw PatchKeeperError("cannot update \(file): it is not a regular file") }
            old = try dir.readFile(name, limit: POSIX.defaultReadLimit).bytes
        } else if block == nil {
            dir.removeStaleTemps(prefix: DirectoryHandle.tempPrefix(for: name))
            return .noFile
        }
        func write(_ bytes: [UInt8]) throws {
            try dir.replaceFile(name, with: bytes, newMode: 0o644, modeAfterRename: true, displayPath: file)
        }
        let dropIn = isDropIn(file)
        if dropIn, let bare = try dropInContent(old ?? [], app: app) {
            if let block {
                let new = try Array(bareBanner(block, app: app).utf8)
                if ownBareBanner(new, app: app) {
                    if new == old { return .unchanged }
                    try write(new)
                    return .written
                }
                // The app name does not fit the banner whole: it goes between markers.
            } else {
                dir.removeStaleTemps(prefix: DirectoryHandle.tempPrefix(for: name))
                if bare.isEmpty { return .noBanner }
                try dir.remove(name)
                return .removed
            }
        }
        if block == nil { dir.removeStaleTemps(prefix: DirectoryHandle.tempPrefix(for: name)) }
        let current = old ?? []
        let kept = dropIn ? withoutOrphanedBareBanner(current, app: app) : current
        let new = try updated(kept, app: app, block: block, source: file)
        if new == current { return block == nil ? .noBanner : .unchanged }
        try write(new)
        return block == nil ? .removed : .written
    }

    /// Refuses a banner directory another user could change: one writable by group or others, or
    /// owned by anyone but root or this user.
    static func checkDirectory(_ dir: DirectoryHandle) throws {
        guard let st = dir.ownStatus() else { throw PatchKeeperError("cannot examine \(dir.path): \(POSIX.errorText())") }
        if st.st_uid != 0 && st.st_uid != geteuid() {
            throw PatchKeeperError("refusing to write a banner in \(dir.path): it is owned by uid \(st.st_uid), not root",
                                   hint: "give a motd file in a directory owned by root")
        }
        if st.st_mode & 0o022 != 0 {
            throw PatchKeeperError("refusing to write a banner in \(dir.path): it is writable by \(st.st_mode & 0o020 != 0 ? "its group" : "others") (mode \(String(st.st_mode & 0o7777, radix: 8)))",
                                   hint: "give a motd file in a directory only its owner can write")
        }
    }

    /// The banner directory's `flock`, waited for up to 10 seconds (anyone who can open the
    /// directory can hold it, so it is never waited for without end).
    static func lock(_ dir: DirectoryHandle) throws {
        for attempt in 0..<200 {
            if dir.tryLock() { return }
            if attempt < 199 { usleep(50_000) }
        }
        throw PatchKeeperError("cannot lock \(dir.path): another process has held it for 10 seconds",
                               hint: "another patchkeeper may be writing a banner there; run it again")
    }

    /// `path` without empty and `.` components (`/x//motd.d/./f` is `/x/motd.d/f`).
    static func normalisedPath(_ path: String) -> String {
        let parts = path.slashParts().filter { $0 != "." }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    /// The block without its BEGIN and END lines: what a drop-in of its own shows.
    public static func bareBanner(_ block: String, app: String) throws -> String {
        let bytes = try Markers(app: Text.terminalLine(app)).checked(block: block)
        let lines = Line.split(bytes)
        return String(decoding: bytes[lines[1].full.lowerBound..<lines[lines.count - 2].full.upperBound], as: UTF8.self)
    }

    /// A path whose directory is called `motd.d` (pam_motd's /run/motd.d, /etc/motd.d, /usr/lib/motd.d).
    static func isDropIn(_ file: String) -> Bool {
        let parts = normalisedPath(file).slashParts()
        return parts.count >= 2 && parts[parts.count - 2] == "motd.d"
    }

    /// The Details line naming `app` whole, as the banner's last line.
    static func detailsLine(_ app: String) -> String { "  Details: patchkeeper status --app \(shellWord(app))" }

    /// The headline of `app`'s banner with the name whole: `*** MONKEY PATCHES ACTIVE on APP: N ***`
    /// or `N, K EXPIRED`.
    static func isHeadline(_ line: String, app: String) -> Bool {
        let head = "*** \(phrase) ACTIVE on \(app): "
        guard line.hasPrefix(head), line.hasSuffix(" ***") else { return false }
        let counts = line.dropFirst(head.count).dropLast(4)
        let parts = counts.split(separator: ",", omittingEmptySubsequences: false)
        func number(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy { ("0"..."9").contains($0) } }
        switch parts.count {
        case 1: return number(parts[0])
        case 2: return number(parts[0]) && parts[1].hasPrefix(" ") && parts[1].hasSuffix(" EXPIRED")
            && number(parts[1].dropFirst().dropLast(8))
        default: return false
        }
    }

    /// The lines `lines[from...]` starting with `app`'s headline, when they run in the shape of a
    /// banner (`  deployed …, checked …` next, then indented rows) to the Details line naming
    /// `app`: the index of that Details line, else nil.
    static func bareBannerEnd(_ text: [String], from i: Int, app: String) -> Int? {
        guard i + 2 < text.count, isHeadline(text[i], app: app),
              text[i + 1].hasPrefix("  deployed "), text[i + 1].hasSuffix(" UTC") else { return nil }
        let details = detailsLine(app)
        for j in (i + 2)..<text.count {
            if text[j] == details { return j }
            guard text[j].hasPrefix("  "), !text[j].hasPrefix("  Details: "),
                  !text[j].unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return nil }
        }
        return nil
    }

    /// Whether `bytes` is, whole, a bare banner of `app` this program could have written.
    static func ownBareBanner(_ bytes: [UInt8], app rawApp: String) -> Bool {
        let app = Text.terminalLine(rawApp)
        guard bytes.last == UInt8(ascii: "\n") else { return false }
        let lines = Line.split(bytes)
        let text = lines.map { String(decoding: bytes[$0.content], as: UTF8.self) }
        return bareBannerEnd(text, from: 0, app: app) == text.count - 1
    }

    /// `bytes` without a bare banner of `app` outside every marked block (one left in a drop-in
    /// that another app's block has joined since): the file then holds the app's block instead.
    static func withoutOrphanedBareBanner(_ bytes: [UInt8], app rawApp: String) -> [UInt8] {
        let app = Text.terminalLine(rawApp)
        let lines = Line.split(bytes)
        let text = lines.map { String(decoding: bytes[$0.content], as: UTF8.self) }
        var inBlock = false
        var i = 0
        while i < text.count {
            let line = ArraySlice(Array(text[i].utf8))
            if line.starts(with: Markers.anyBegin) { inBlock = true }
            else if line.starts(with: Markers.anyEnd) { inBlock = false }
            else if !inBlock, let j = bareBannerEnd(text, from: i, app: app) {
                return Array(bytes[..<lines[i].full.lowerBound]) + Array(bytes[lines[j].full.upperBound...])
            }
            i += 1
        }
        return bytes
    }

    /// The banner a drop-in holds when the whole file is this app's banner: the bytes (empty for an
    /// empty file), or nil when the file holds anything else (then markers keep the rest apart).
    /// A bare banner counts only when every line is in the banner's shape and its headline and
    /// Details line name this app whole: never a display-truncated name, which two apps may share.
    static func dropInContent(_ bytes: [UInt8], app rawApp: String) throws -> [UInt8]? {
        if bytes.allSatisfy({ $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: " ") }) { return [] }
        let app = Text.terminalLine(rawApp)
        if ownBareBanner(bytes, app: app) { return bytes }
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
        let dir = POSIX.parentDirectory(normalisedPath(file))
        guard dir == defaultDirectory, POSIX.lstat(dir) == nil else { return }
        // Created and given its mode through descriptors (never chmod by path): 0755 against the
        // umask (the unit runs with UMask=0077).
        let parent = try DirectoryHandle.open(POSIX.parentDirectory(dir))
        guard let created = try parent.subdirectory(POSIX.baseName(dir), create: true, mode: 0o755) else {
            throw PatchKeeperError("cannot create \(dir)")
        }
        try created.setMode(0o755)
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
