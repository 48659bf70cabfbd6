// Replacing one instruction of the running program with TextPoke: a 5-byte
// NOP at `site` becomes a jump to `target`, while other threads may be
// executing it.
import TextPoke

// snippet.hide
func patch(site: UInt, target: UInt) {
// snippet.show
let nop5: [UInt8] = [0x0f, 0x1f, 0x44, 0x00, 0x00]   // nopl 0x0(%rax,%rax,1)
let offset = Int32(truncatingIfNeeded: Int(bitPattern: target) - Int(bitPattern: site + 5))
let jmp: [UInt8] = [0xe9] + withUnsafeBytes(of: offset.littleEndian) { Array($0) }   // jmp rel32

do {
    // Checks that `site` holds `nop5`, or throws and writes nothing.
    let report = try TextPoke.apply([TextPatch(address: site, expected: nop5, replacement: jmp)])
    print("\(report.sitesWritten) site, \(report.syncs) syncs, protocol \(report.protocol)")
} catch {
    print("nothing was written: \(error)")
}
// snippet.hide
}
