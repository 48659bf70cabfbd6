import CJumpLabel
import CJumpLabelSite
import Glibc
import TextPoke

/// One entry of an image's `jumplabel_sites` table, decoded into 16 bytes:
/// its address, its jump, its key (an index into `ImageTable.keys`) and
/// its flags. Lives only until the table is indexed (`SiteRun` is what the
/// index keeps).
struct TableEntry: Sendable {
  /// Address of the 5-byte instruction.
  let code: UInt
  /// Displacement of its `jmp rel32` (from the end of the instruction).
  let jump: Int32
  /// The key's index in bits 0-28, `JL_FLAG_*` in bits 29-31.
  private let keyAndFlags: UInt32

  /// Keys per table: an index must leave the top 3 bits to the flags.
  static let maxKeys = 1 << 29

  init(code: UInt, jump: Int32, key: Int, flags: UInt64) {
    self.code = code
    self.jump = jump
    keyAndFlags = UInt32(key) | UInt32(truncatingIfNeeded: flags & 7) << 29
  }

  /// Index of its key in `ImageTable.keys`.
  var key: Int { Int(keyAndFlags & (1 << 29 - 1)) }
  /// True if the NOP path is the "enabled" path.
  var likely: Bool { keyAndFlags >> 29 & JL_FLAG_LIKELY != 0 }
  /// The default declared at this site.
  var declaredDefault: Bool { keyAndFlags >> 29 & JL_FLAG_DEFAULT != 0 }
  /// The site is a tracepoint's.
  var isTracepoint: Bool { keyAndFlags >> 29 & JL_FLAG_TRACEPOINT != 0 }
}

/// One distinct name literal of a table. Entries of one key usually share
/// a literal, so each is decoded once, not once per entry.
struct TableName: Sendable {
  /// Where the literal is (the `StaticString` the sites were compiled
  /// from points there too).
  let pointer: UInt
  /// Its length in bytes.
  let length: Int
  /// Index of its key in `ImageTable.keys`.
  let key: Int
}

/// What one table says about one key: its sites, and what they declare.
struct KeyGroup: Sendable {
  /// Its distinct sites, in address order.
  var runs: [SiteRun] = []
  /// The default declared by its first site (by address).
  var firstDefault = false
  /// Some site declares default false / true.
  var declaresFalse = false, declaresTrue = false
  /// Some site is a tracepoint's.
  var isTracepoint = false

  /// Some site declares `value` as the default.
  func declares(_ value: Bool) -> Bool { value ? declaresTrue : declaresFalse }
}

/// The site table of one loaded image, copied out of it: nothing reads the
/// image's table again after this, so unloading it later cannot hurt.
struct ImageTable: Sendable {
  /// Start of the table (the image's identity while loaded).
  let start: UInt
  /// Path of the image; `SiteTable.mainProgram` for the executable.
  let image: String
  /// The image links libswiftCore (the fallback test for Swift code when
  /// its file cannot be read; see `LoaderCalls.holdsSwift`).
  let linksSwiftCore: Bool
  /// The image's load hook has run: its initialisation has begun, so its
  /// dependencies are initialised and a dlopen of it runs no constructor.
  /// False for an image of a dlopen still in progress.
  let initialised: Bool
  /// Its unload hook has run: it is being unloaded.
  let unloading: Bool
  /// Its entries, in table order, duplicates included.
  let entries: [TableEntry]
  /// The distinct name literals the entries use.
  let names: [TableName]
  /// The distinct key names, in order of first appearance.
  let keys: [String]

  /// The sites grouped by key (`groups[k]` is key k's), each group in
  /// address order, like the kernel's jump_label_init. One instruction may
  /// be listed twice (a linker that folds identical functions keeps both
  /// entries); it is one site, kept under the first of its keys by name,
  /// then the first in table order.
  ///
  /// A table is in address order (each object file's part is, and the
  /// linker lays out code and tables in the same input order), so usually
  /// nothing is sorted: a check, a counting pass, one stable bucket pass
  /// by key, and the runs (8 bytes per site, the only memory kept).
  func keyGroups() -> [KeyGroup] {
    entries.withUnsafeBufferPointer { e in
      var inOrder = true
      for i in e.indices.dropFirst() where e[i - 1].code > e[i].code { inOrder = false; break }
      if inOrder { return keyGroups(byCode: e) }
      let sorted = e.sorted { $0.code < $1.code }  // stable: equal addresses keep table order
      return sorted.withUnsafeBufferPointer { keyGroups(byCode: $0) }
    }
  }

  private func keyGroups(byCode: UnsafeBufferPointer<TableEntry>) -> [KeyGroup] {
    var groups = [KeyGroup](repeating: KeyGroup(), count: keys.count)
    var counts = [Int](repeating: 0, count: keys.count)
    var i = 0
    while let e = nextSite(byCode, &i) {
      let k = e.key
      if counts[k] == 0 { groups[k].firstDefault = e.declaredDefault }
      counts[k] += 1
      if e.declaredDefault { groups[k].declaresTrue = true } else { groups[k].declaresFalse = true }
      if e.isTracepoint { groups[k].isTracepoint = true }
    }
    // Bucket by key, stable: each bucket stays in address order.
    var next = [Int](repeating: 0, count: keys.count)
    for k in counts.indices.dropFirst() { next[k] = next[k - 1] + counts[k - 1] }
    let total = counts.reduce(0, +)
    let grouped = [TableEntry](unsafeUninitializedCapacity: total) { out, n in
      i = 0
      while let e = nextSite(byCode, &i) {
        out.initializeElement(at: next[e.key], to: e)
        next[e.key] += 1
      }
      n = total
    }
    for k in groups.indices where counts[k] > 0 {
      // next[k] is now the end of bucket k.
      groups[k].runs = SiteRun.runs(table: start, image: image, sites: grouped[(next[k] - counts[k])..<next[k]])
    }
    return groups
  }

  /// The site at `i` in `byCode` (in address order), and moves `i` past
  /// it. Of entries at one address, the one whose key sorts first by name,
  /// then the first. Nil at the end.
  @inline(__always)
  private func nextSite(_ byCode: UnsafeBufferPointer<TableEntry>, _ i: inout Int) -> TableEntry? {
    guard i < byCode.count else { return nil }
    var site = byCode[i]
    i += 1
    while i < byCode.count && byCode[i].code == site.code {
      if keys[byCode[i].key] < keys[site.key] { site = byCode[i] }
      i += 1
    }
    return site
  }
}

/// Reads the site tables of loaded images.
///
/// Each image with sites carries one ELF note (owner "JumpLabel") whose
/// descriptor locates its table, so tables are found from program headers
/// alone, for the executable and every shared library alike.
enum SiteTable {
  /// The tables of every image loaded now. Calls `dl_iterate_phdr`, which
  /// takes the loader's lock: never call it with the registry or patch lock
  /// held (see KeyRegistry.swift).
  ///
  /// An image stays mapped while the walk lists it (the loader unmaps only
  /// after unlisting, under the lock the walk holds), so its table is read
  /// here, inside the walk.
  static func readLoadedImages() -> [ImageTable] {
    var tables: [ImageTable] = []
    var seen = Set<UInt>()
    forEachNote { info, image, type, desc, descsz in
      guard let (start, end) = tableBounds(type: type, desc: desc, descsz: descsz), seen.insert(start).inserted else { return }
      let state = state(desc: desc, descsz: descsz)
      tables.append(read(
        from: start, to: end, image: image, linksSwiftCore: jl_links_swift_core(info) != 0,
        initialised: state != 0, unloading: state == JL_IMAGE_UNLOADING))
    }
    return tables
  }

  /// The table starts and images of the images loaded now (a cheap second
  /// walk; see KeyRegistry.ensureLoaded).
  static func loadedTables() -> Set<TableIdentity> {
    var tables = Set<TableIdentity>()
    forEachNote { _, image, type, desc, descsz in
      if let (start, _) = tableBounds(type: type, desc: desc, descsz: descsz) { tables.insert(TableIdentity(start: start, image: image)) }
    }
    return tables
  }

  /// Runtime copies of another ABI version in the loaded images: (image,
  /// ABI). Same ABI copies coordinate (Runtime/ProcessRuntime.swift); these
  /// cannot.
  static func foreignRuntimes() -> [(image: String, abi: UInt32)] {
    if KeyRegistry.hasFault(.ignoreForeignRuntimes) { return [] }
    var found: [(image: String, abi: UInt32)] = []
    forEachNote { _, image, type, desc, descsz in
      guard type == JL_RUNTIME_NOTE_TYPE, descsz == 8 else { return }
      let rt = desc + Int(desc.loadUnaligned(as: Int64.self))
      guard rt.loadUnaligned(as: UInt64.self) == JL_RUNTIME_MAGIC else { return }
      let abi = rt.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
      if abi != JL_RUNTIME_ABI { found.append((image, abi)) }
    }
    return found
  }

  /// The name the index uses for the executable.
  static let mainProgram = "<main program>"

  /// An image path as the loader gives it ("" or null: the executable).
  static func imageName(_ path: UnsafePointer<CChar>?) -> String {
    imageName(path.map { String(cString: $0) } ?? "")
  }

  /// An image path as the loader gives it ("": the executable).
  static func imageName(_ path: String) -> String {
    path.isEmpty ? mainProgram : path
  }

  /// Calls `body` for every JumpLabel note of every loaded image, inside
  /// one `dl_iterate_phdr` walk (loader lock held, none of ours: checked).
  private static func forEachNote(
    _ body: (UnsafePointer<jl_phdr_info>, String, UInt32, UnsafeRawPointer, UInt32) -> Void
  ) {
    LoaderCalls.mayCallLoader()
    withoutActuallyEscaping(body) { body in
      typealias Body = (UnsafePointer<jl_phdr_info>, String, UInt32, UnsafeRawPointer, UInt32) -> Void
      final class Box { let body: Body; init(_ body: @escaping Body) { self.body = body } }
      let box = Box(body)
      withExtendedLifetime(box) {
        jl_walk_notes({ info, type, desc, descsz, _, context in
          guard let info, let desc, let context else { return 0 }
          let box = Unmanaged<Box>.fromOpaque(context).takeUnretainedValue()
          box.body(info, SiteTable.imageName(info.pointee.name), type, desc, descsz)
          return 0
        }, Unmanaged.passUnretained(box).toOpaque())
      }
    }
  }

  /// A table as a walk sees it.
  struct TableIdentity: Hashable {
    let start: UInt
    let image: String
  }

  /// The table of the image whose site note is at `note` (from a load
  /// hook). Describes the image through the loader: loader lock only.
  static func readImage(note: UnsafeRawPointer) -> ImageTable? {
    LoaderCalls.mayCallLoader()
    let h = note.assumingMemoryBound(to: UInt32.self)
    guard h[0] == 10, memcmp(note + 12, "JumpLabel", 10) == 0 else { return nil }
    guard let (start, end) = tableBounds(type: h[2], desc: note + 24, descsz: h[1]) else { return nil }
    var path: UnsafePointer<CChar>?
    var core: Int32 = 0
    guard jl_image_containing(note, &path, &core) != 0 else { return nil }
    return read(from: start, to: end, image: imageName(path), linksSwiftCore: core != 0, initialised: true, unloading: false)
  }

  /// The state word of a site note's image (0: its load hook has not run).
  static func state(desc: UnsafeRawPointer, descsz: UInt32) -> UInt32 {
    guard descsz >= 12 else { return JL_IMAGE_LOADED }  // no word: assume initialised
    let word = desc + 8 + Int(desc.loadUnaligned(fromByteOffset: 8, as: Int32.self))
    return word.assumingMemoryBound(to: UInt32.self).pointee
  }

  /// The table a site note describes: [start, end).
  static func tableBounds(type: UInt32, desc: UnsafeRawPointer, descsz: UInt32) -> (UInt, UInt)? {
    guard type == JL_SITES_NOTE_TYPE, descsz >= 8 else { return nil }
    let at = UInt(bitPattern: desc)
    let s = at &+ UInt(bitPattern: Int(desc.loadUnaligned(as: Int32.self)))
    let e = at &+ 4 &+ UInt(bitPattern: Int(desc.loadUnaligned(fromByteOffset: 4, as: Int32.self)))
    return e >= s ? (s, e) : nil
  }

  /// Copies the table [start, end) out of its image (which must stay
  /// mapped meanwhile). Each distinct name literal, by (address, length),
  /// is decoded once: consecutive entries usually share one, so most
  /// entries cost neither a decode nor a hash lookup.
  static func read(from start: UInt, to end: UInt, image: String, linksSwiftCore: Bool,
                   initialised: Bool, unloading: Bool) -> ImageTable {
    struct Literal: Hashable { let pointer: UInt, length: Int }
    let stride = UInt(MemoryLayout<jl_entry>.stride)
    let count = Int((end - start) / stride)  // end >= start: tableBounds
    var entries: [TableEntry] = []
    entries.reserveCapacity(count)
    var names: [TableName] = []
    var nameKeys: [Literal: Int] = [:]
    var keys: [String] = []
    var keyIndex: [String: Int] = [:]
    var last = (literal: Literal(pointer: 0, length: -1), key: 0)
    for i in 0..<count {
      let p = start + UInt(i) * stride
      let e = UnsafePointer<jl_entry>(bitPattern: p)!.pointee
      let literal = Literal(pointer: p &+ 8 &+ UInt(bitPattern: Int(e.name)), length: Int(e.name_len))
      if literal != last.literal {
        if let k = nameKeys[literal] {
          last = (literal, k)
        } else {
          // A debug statement's entry points to its descriptor, not to a
          // name: its key is named after the statement (DynamicDebug/).
          let name = e.flags & UInt64(JL_FLAG_DEBUG) != 0
            ? DebugStatement.keyName(descriptor: literal.pointer)
            : String(decoding: UnsafeBufferPointer(
                start: UnsafePointer<UInt8>(bitPattern: literal.pointer), count: literal.length), as: UTF8.self)
          let k = keyIndex[name] ?? keys.count
          if k == keys.count {
            precondition(k < TableEntry.maxKeys, "JumpLabel: too many keys in the site table of \(image)")
            keys.append(name)
            keyIndex[name] = k
          }
          last = (literal, k)
          nameKeys[literal] = k
          names.append(TableName(pointer: literal.pointer, length: literal.length, key: k))
        }
      }
      let code = p &+ UInt(bitPattern: Int(e.code))
      let target = p &+ 4 &+ UInt(bitPattern: Int(e.target))
      // The assembler encoded a `jmp rel32` to this target in the same
      // function (or could have), so the distance always fits.
      guard let jump = Int32(exactly: Int(bitPattern: target) &- Int(bitPattern: code &+ 5)) else {
        fatalError("JumpLabel: corrupt site table in \(image): the jump at 0x\(String(code, radix: 16)) does not fit in rel32")
      }
      entries.append(TableEntry(code: code, jump: jump, key: last.key, flags: e.flags))
    }
    return ImageTable(
      start: start, image: image, linksSwiftCore: linksSwiftCore, initialised: initialised,
      unloading: unloading, entries: entries, names: names, keys: keys)
  }
}
