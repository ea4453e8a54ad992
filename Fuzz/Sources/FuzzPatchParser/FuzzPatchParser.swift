import Git

/// libFuzzer entry: any bytes as git diff text for libgit2's parser (git_diff_from_buffer) and
/// patchkeeper's walk over its deltas, hunks and lines. It may throw; it must never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let files = try? PatchParser.parse(text) else { return 0 }
    for f in files {
        _ = f.path
        _ = f.additions + f.deletions
    }
    return 0
}
