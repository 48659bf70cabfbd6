import Foundation
import StressWorkload
import JumpLabel
import TextPoke

/// The kernel's base/test module pair, with dlopen: library A inverts keys
/// in its initializer; library B, loaded after, must see the inverted
/// states from its first instruction (its own constructor), follow every
/// later toggle, whoever makes it, and survive dlclose and reload.
struct LibraryPair {
  // The pair's keys (Tests/SharedLibraries/PairKeys), declared here by name.
  static var one: StaticKey { StaticKey("pair.one") }
  static var two: StaticKey { StaticKey("pair.two", default: true) }
  static var three: StaticKey { StaticKey("pair.three") }

  /// A site of pair.three in this executable (a NOP in a release build).
  @inline(never) static func threeHere() -> Bool { Self.three.isEnabled }

  /// pairExpectedBits in PairKeys: both layouts of each key.
  static func bits(_ one: Bool, _ two: Bool, _ three: Bool) -> UInt32 {
    (one ? 9 : 0) | (two ? 18 : 0) | (three ? 36 : 0)
  }

  typealias Bits = @convention(c) () -> UInt32

  /// Runs the scenario; returns one line per check, failures first word "FAIL".
  func run() throws -> [String] {
    var checks = CheckLines()
    func check(_ ok: Bool, _ what: String) { checks.check(ok, what) }
    func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    let aPath = try FixtureLibrary.pairA.requireBuilt(), bPath = try FixtureLibrary.pairB.requireBuilt()
    check(StaticKeys.isPrimaryRuntime, "this executable's runtime copy is the primary")
    check(!Self.one.state && Self.two.state && !Self.three.state, "keys start in their defaults")

    let a = try OpenedLibrary.open(aPath)
    if let failure = try a.function("pair_a_init_failure", as: (@convention(c) () -> UnsafeMutablePointer<CChar>?).self)() {
      check(false, "A's initializer: \(String(cString: failure))")
      free(failure)
    }
    check(try a.function("pair_a_is_primary", as: (@convention(c) () -> Int32).self)() == 0, "A's runtime copy forwards to the primary")
    check(Self.one.state && !Self.two.state, "A's initializer inverted pair.one and pair.two (seen by the executable)")
    let aSites = try a.function("pair_a_sites", as: Bits.self)
    check(aSites() == Self.bits(true, false, false), "A's own sites follow its initializer: \(hex(aSites()))")

    let b = try OpenedLibrary.open(bPath)
    let seen = try b.function("pair_b_seen_at_load", as: Bits.self)()
    check(seen == Self.bits(true, false, false),
          "B's sites, run by B's constructor inside dlopen, saw the inverted states: \(hex(seen)), expected \(hex(Self.bits(true, false, false)))")
    let bSites = try b.function("pair_b_sites", as: Bits.self)
    check(bSites() == Self.bits(true, false, false), "B's sites after dlopen returned: \(hex(bSites()))")

    let imagesOfThree = Set(try StaticKeys.sites(named: Self.three.nameString).map(\.image))
    let before = TextPoke.statistics
    try Self.three.enable()
    let after = TextPoke.statistics
    check(aSites() == Self.bits(true, false, true) && bSites() == Self.bits(true, false, true) && Self.threeHere(),
          "a toggle by the executable reaches A and B: \(hex(aSites())), \(hex(bSites()))")
    check(after.batches - before.batches == 1 && after.syncs - before.syncs == 3,
          "it patched the sites of \(imagesOfThree.count) images in \(after.batches - before.batches) batch, \(after.syncs - before.syncs) syncs")

    let bSet = try b.function("pair_b_set", as: (@convention(c) (Int32, Int32) -> Int32).self)
    let bState = try b.function("pair_b_state", as: (@convention(c) (Int32) -> Int32).self)
    check(bSet(0, 0) == 0 && !Self.one.state && bState(0) == 0, "a toggle made through B's runtime copy reaches the primary")
    check(aSites() == Self.bits(false, false, true) && bSites() == Self.bits(false, false, true),
          "... and every image's sites: \(hex(aSites())), \(hex(bSites()))")
    check(try b.function("pair_b_is_primary", as: (@convention(c) () -> Int32).self)() == 0, "B's runtime copy forwards to the primary")
    let listed = try b.function("pair_b_listed_keys", as: (@convention(c) () -> Int32).self)()
    check(Int(listed) == StaticKeys.list().count, "B lists the primary's keys (\(listed))")

    for key in [Self.one, Self.two, Self.three] {
      let images = Set(try StaticKeys.sites(named: key.nameString).map(\.image))
      check(images.contains(aPath) && images.contains(bPath), "\(key) has indexed sites in A and B: \(images.sorted())")
    }
    let indexed = StaticKeys.images()
    check(indexed.contains { $0.path == aPath && $0.pinned } && indexed.contains { $0.path == bPath && $0.pinned },
          "A and B hold Swift code and are pinned: \(indexed)")

    b.close()
    check(OpenedLibrary.isLoaded(bPath), "dlclose(B) leaves the pinned B loaded")
    try Self.two.enable()
    check(bSites() == Self.bits(false, true, true), "B's sites still follow toggles after dlclose: \(hex(bSites()))")
    let b2 = try OpenedLibrary.open(bPath)
    check(b2.handle == b.handle, "reloading B gives the same image")
    let b2Sites = try b2.function("pair_b_sites", as: Bits.self)
    check(b2Sites() == Self.bits(false, true, true), "B's sites after reload: \(hex(b2Sites()))")
    let problems = StaticKeys.verify() + StaticKeys.problems()
    check(problems.isEmpty, "every site holds its key's instruction; no problems \(problems)")
    return checks.lines
  }
}
