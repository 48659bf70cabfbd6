import TextPoke

/// Sites of one key in one image, in address order, as the index keeps
/// them: 8 bytes per site. After indexing a site needs only its address,
/// its layout and its jump: the declared default, the tracepoint flag and
/// the name literal are consumed at indexing (by the key's record, its
/// problems and the fallback cache), and the image is the run's.
struct SiteRun: Sendable, RandomAccessCollection {
  /// Start of the image's table: identifies the image while it is loaded.
  let table: UInt
  /// The image that holds the sites.
  let image: String
  /// Address of the first site. Invariant: every site is less than 2 GiB
  /// above it, so that its offset fits in 31 bits (`runs` starts a new run
  /// where one would not).
  let base: UInt
  private let packed: [Packed]

  /// One site: its offset from `base` in bits 0-30 and its layout
  /// (likely) in bit 31; the displacement of its `jmp rel32`.
  private struct Packed {
    let offsetAndLayout: UInt32
    let jump: Int32
  }

  private static let likelyBit: UInt32 = 1 << 31

  /// The runs of `sites`, one key's sites in one image, in address
  /// order: one run, unless they span 2 GiB or more.
  static func runs(table: UInt, image: String, sites: ArraySlice<TableEntry>) -> [SiteRun] {
    var runs: [SiteRun] = []
    var rest = sites
    while let first = rest.first {
      let end = rest.firstIndex { $0.code - first.code >= UInt(likelyBit) } ?? rest.endIndex
      runs.append(SiteRun(table: table, image: image, sites: rest[..<end]))
      rest = rest[end...]
    }
    return runs
  }

  /// A run of `sites`, which are in address order and span less than 2 GiB.
  private init(table: UInt, image: String, sites: ArraySlice<TableEntry>) {
    self.table = table
    self.image = image
    let base = sites.first!.code
    self.base = base
    packed = sites.map { s in Packed(offsetAndLayout: UInt32(s.code - base) | (s.likely ? Self.likelyBit : 0), jump: s.jump) }
  }

  var startIndex: Int { 0 }
  var endIndex: Int { packed.count }

  subscript(i: Int) -> IndexedSite {
    let p = packed[i]
    return IndexedSite(code: base + UInt(p.offsetAndLayout & ~Self.likelyBit), jump: p.jump,
                       likely: p.offsetAndLayout & Self.likelyBit != 0)
  }
}

/// One indexed site, unpacked from its run.
struct IndexedSite: Sendable {
  /// Address of the 5-byte instruction.
  let code: UInt
  /// Displacement of its `jmp rel32` (from the end of the instruction).
  let jump: Int32
  /// True if the NOP path is the "enabled" path.
  let likely: Bool

  /// Where its JMP goes.
  var target: UInt { UInt(bitPattern: Int(bitPattern: code &+ 5) &+ Int(jump)) }

  /// The 5 bytes this site must hold when its key is `enabled`, as the low
  /// 40 bits of a little-endian word. The kernel's rule: NOP iff
  /// enabled == likely.
  func word(enabled: Bool) -> UInt64 {
    enabled == likely ? 0x44_1F0F : 0xE9 | UInt64(UInt32(bitPattern: jump)) << 8  // 0F 1F 44 00 00 / E9 rel32
  }

  /// The same, inline (no allocation).
  func bytes(enabled: Bool) -> InstructionBytes {
    var w = word(enabled: enabled)
    return withUnsafeBytes(of: &w) { InstructionBytes(at: UInt(bitPattern: $0.baseAddress), count: 5) }
  }

  /// True if the site holds its instruction for `enabled` now. Reads 5
  /// bytes; allocates nothing.
  func holds(enabled: Bool) -> Bool {
    let p = UnsafeRawPointer(bitPattern: code)!
    let now = UInt64(p.loadUnaligned(as: UInt32.self)) | UInt64(p.load(fromByteOffset: 4, as: UInt8.self)) << 32
    return now == word(enabled: enabled)
  }

  /// The site as control tools see it.
  func info(key: String, image: String) -> StaticKeySite {
    StaticKeySite(key: key, address: code, target: target, likely: likely, image: image)
  }
}

extension [SiteRun] {
  /// The number of sites in all runs.
  var siteCount: Int { reduce(0) { $0 + $1.count } }

  /// Appends the patches that take every site of these runs from the
  /// instruction for `!enabled` to the one for `enabled`.
  func appendPatches(to enabled: Bool, into batch: inout [TextPatch]) {
    for run in self {
      for s in run { batch.append(TextPatch(address: s.code, expected: s.bytes(enabled: !enabled), replacement: s.bytes(enabled: enabled))) }
    }
  }
}
