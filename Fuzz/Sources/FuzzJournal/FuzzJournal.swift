import Foundation
import Git
import PatchKeeper

/// libFuzzer entry: any bytes as the recovery journal (`.patchkeeper/journal.json`), decoded as
/// the next writer's recovery decodes it, then each write's mode and content read as `finish`
/// reads them. May fail to decode; must never crash, and a journal that decodes must encode and
/// decode back to the same value (recovery may meet a journal it wrote itself).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    guard let journal = try? JSONDecoder().decode(Journal.self, from: bytes) else { return 0 }
    for w in journal.writes {
        _ = w.mode.flatMap { FileMode(octal: $0) }
        _ = w.content.flatMap { Data(base64Encoded: $0) }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    guard let again = try? encoder.encode(journal) else { fatalError("a decoded journal does not encode") }
    guard let back = try? JSONDecoder().decode(Journal.self, from: again) else { fatalError("an encoded journal does not decode") }
    if back != journal && !(journal.time.isNaN && back.time.isNaN) { fatalError("journal encode/decode round trip differs") }
    return 0
}
