import Testing
import Git

@Test("a mode-only change of a binary file makes a patch that parses back as a mode change")
func modeOnlyBinaryPatchParses() throws {
    let old = FileVersion(path: "b.bin", mode: .regular, content: [0x78, 0, 0x79])
    let new = FileVersion(path: "b.bin", mode: .executable, content: [0x78, 0, 0x79])
    let p = try MemoryRepository().makePatch([FileChange(old: old, new: new)])
    #expect(!p.diff.contains("Binary files"))
    let f = try #require(try PatchParser.parse(p.diff).first)
    #expect(f.oldMode == .regular && f.newMode == .executable && f.hunks.isEmpty)
}
