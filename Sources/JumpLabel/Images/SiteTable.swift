import CJumpLabel
import CJumpLabelSite
import Glibc
import TextPoke

/// One branch site read from an image's `jumplabel_sites` table.
struct SiteEntry: Sendable, Hashable {
  /// Address of the 5-byte instruction.
  let code: UInt
  /// Where its JMP goes.
  let target: UInt
  /// The key's name.
  let key: String
  /// Where the name literal is (the `StaticString` the site was compiled
  /// from points there too).
  let namePointer: UInt
  /// True if the NOP path is the "enabled" path.
  let likely: Bool
  /// The default declared at this site.
  let declaredDefault: Bool
  /// The site is a tracepoint's.
  let isTracepoint: Bool
  /// Its `jmp rel32`, made once when the table is read.
  let jmp: InstructionBytes
  /// The image that holds the site.
  let image: String
  /// Start of the image's table: identifies the image while it is loaded.
  let table: UInt

  /// The instruction this site must hold when its key is `enabled`.
  /// The kernel's rule: NOP iff enabled == likely.
  func instruction(enabled: Bool) -> [UInt8] { bytes(enabled: enabled).array }

  /// The same, inline (no allocation).
  func bytes(enabled: Bool) -> InstructionBytes { enabled == likely ? SiteEntry.nop5 : jmp }

  /// The NOP, inline.
  static let nop5 = InstructionBytes(StaticKeySite.nop5)

  /// The instruction the compiler emitted: the one for the declared default.
  var initialInstruction: [UInt8] { instruction(enabled: declaredDefault) }

  /// The same, inline.
  var initialBytes: InstructionBytes { bytes(enabled: declaredDefault) }
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
  /// Its sites.
  let entries: [SiteEntry]
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

  static func read(from start: UInt, to end: UInt, image: String, linksSwiftCore: Bool,
                   initialised: Bool, unloading: Bool) -> ImageTable {
    let stride = UInt(MemoryLayout<jl_entry>.stride)
    var entries: [SiteEntry] = []
    var p = start
    while p + stride <= end {
      let e = UnsafePointer<jl_entry>(bitPattern: p)!.pointee
      let code = p &+ UInt(bitPattern: Int(e.code))
      let target = p &+ 4 &+ UInt(bitPattern: Int(e.target))
      let namePtr = p &+ 8 &+ UInt(bitPattern: Int(e.name))
      let name = String(decoding: UnsafeBufferPointer(start: UnsafePointer<UInt8>(bitPattern: namePtr), count: Int(e.name_len)), as: UTF8.self)
      entries.append(SiteEntry(
        code: code, target: target, key: name, namePointer: namePtr,
        likely: e.flags & UInt64(JL_FLAG_LIKELY) != 0,
        declaredDefault: e.flags & UInt64(JL_FLAG_DEFAULT) != 0,
        isTracepoint: e.flags & UInt64(JL_FLAG_TRACEPOINT) != 0,
        jmp: InstructionBytes(StaticKeySite.jmp32(from: code, to: target)),
        image: image, table: start))
      p += stride
    }
    return ImageTable(
      start: start, image: image, linksSwiftCore: linksSwiftCore, initialised: initialised,
      unloading: unloading, entries: entries)
  }
}
