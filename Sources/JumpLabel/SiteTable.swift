import CJumpLabel
import Glibc

/// One branch site read from an image's `jumplabel_sites` table.
struct SiteEntry: Sendable, Hashable {
  /// Address of the 5-byte instruction.
  let code: UInt
  /// Where its JMP goes.
  let target: UInt
  /// The key's name.
  let key: String
  /// True if the NOP path is the "enabled" path.
  let likely: Bool
  /// The default declared at this site.
  let declaredDefault: Bool
  /// The image that holds the site.
  let image: String

  /// The instruction this site must hold when its key is `enabled`.
  /// The kernel's rule: NOP iff enabled == likely.
  func instruction(enabled: Bool) -> [UInt8] {
    if enabled == likely { return StaticKeySite.nop5 }
    return StaticKeySite.jmp32(from: code, to: target)
  }
}

/// Reads the site tables of loaded images.
///
/// Each image with sites carries one ELF note (owner "JumpLabel") whose
/// descriptor locates its table, so tables are found from program headers
/// alone, for the executable and every shared library alike.
enum SiteTable {
  /// Entries of every image loaded now. Calls `dl_iterate_phdr`, which takes
  /// the loader's lock: never call it with the registry or patch lock held.
  static func readLoadedImages() -> [SiteEntry] {
    final class Box { var entries: [SiteEntry] = []; var tables: Set<UInt> = [] }
    let box = Box()
    withExtendedLifetime(box) {
      jl_for_each_note_segment({ image, start, size, context in
        guard let context else { return }
        let box = Unmanaged<Box>.fromOpaque(context).takeUnretainedValue()
        var name = image.map { String(cString: $0) } ?? ""
        if name.isEmpty { name = "<main program>" }
        SiteTable.forEachTable(notesFrom: start, to: start &+ UInt(size)) { tableStart, tableEnd in
          guard box.tables.insert(tableStart).inserted else { return }
          SiteTable.readTable(from: tableStart, to: tableEnd, image: name, into: &box.entries)
        }
      }, Unmanaged.passUnretained(box).toOpaque())
    }
    return box.entries
  }

  /// Walks the notes in [start, end) and reports each JumpLabel table.
  static func forEachTable(notesFrom start: UInt, to end: UInt, _ body: (UInt, UInt) -> Void) {
    var p = start
    func align4(_ x: UInt) -> UInt { (x + 3) & ~3 }
    while p + 12 <= end {
      let raw = UnsafeRawPointer(bitPattern: p)!
      let namesz = UInt(raw.loadUnaligned(as: UInt32.self))
      let descsz = UInt(raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
      let type = raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
      let nameAt = p + 12
      let descAt = align4(nameAt + namesz)
      let next = align4(descAt + descsz)
      if next > end { return }
      if type == UInt32(JL_NOTE_TYPE), namesz == 10, descsz == 8,
         memcmp(UnsafeRawPointer(bitPattern: nameAt)!, "JumpLabel", 10) == 0 {
        let d = UnsafeRawPointer(bitPattern: descAt)!
        let s = descAt &+ UInt(bitPattern: Int(d.loadUnaligned(as: Int32.self)))
        let e = descAt &+ 4 &+ UInt(bitPattern: Int(d.loadUnaligned(fromByteOffset: 4, as: Int32.self)))
        if e >= s { body(s, e) }
      }
      p = next
    }
  }

  static func readTable(from start: UInt, to end: UInt, image: String, into entries: inout [SiteEntry]) {
    let stride = UInt(MemoryLayout<jl_entry>.stride)
    var p = start
    while p + stride <= end {
      let e = UnsafePointer<jl_entry>(bitPattern: p)!.pointee
      let code = p &+ UInt(bitPattern: Int(e.code))
      let target = p &+ 4 &+ UInt(bitPattern: Int(e.target))
      let namePtr = p &+ 8 &+ UInt(bitPattern: Int(e.name))
      let name = String(decoding: UnsafeBufferPointer(start: UnsafePointer<UInt8>(bitPattern: namePtr), count: Int(e.name_len)), as: UTF8.self)
      entries.append(SiteEntry(
        code: code, target: target, key: name,
        likely: e.flags & UInt64(JL_FLAG_LIKELY) != 0,
        declaredDefault: e.flags & UInt64(JL_FLAG_DEFAULT) != 0,
        image: image))
      p += stride
    }
  }
}
