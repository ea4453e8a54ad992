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

    /// Puts `block` for `app` into `file` (nil removes it) and returns whether the file changed. The
    /// file is replaced atomically keeping its mode and owner; a missing file counts as empty and is
    /// created only to hold a block. Refuses symbolic links and anything but a regular file.
    public static func write(file: String, app: String, block: String?) throws -> Bool {
        var old: [UInt8] = []
        if let st = POSIX.lstat(file) {
            let type = st.st_mode & S_IFMT
            if type == S_IFLNK {
                throw PatchKeeperError("refusing to update \(file): it is a symbolic link", hint: "give the path of the file it points to")
            }
            guard type == S_IFREG else { throw PatchKeeperError("cannot update \(file): it is not a regular file") }
            old = try POSIX.readFile(file)
        } else if block == nil {
            return false
        }
        let new = try updated(old, app: app, block: block, source: file)
        guard new != old else { return false }
        try AtomicFile.write(new, to: file)
        return true
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
