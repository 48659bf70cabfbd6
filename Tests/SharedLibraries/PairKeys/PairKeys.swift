import JumpLabel

// The keys of the library pair: declared once, used by library A (which
// inverts two of them while it loads) and library B (loaded after A).
extension StaticKey {
  /// Default false; library A enables it in its initializer.
  @inlinable public static var pairOne: StaticKey { StaticKey("pair.one") }
  /// Default true; library A disables it in its initializer.
  @inlinable public static var pairTwo: StaticKey { StaticKey("pair.two", default: true) }
  /// Default false; library A leaves it alone.
  @inlinable public static var pairThree: StaticKey { StaticKey("pair.three") }
}

/// What one image's sites of the three keys say now. Bits 0-2: the
/// default layout of keys one, two, three; bits 3-5: the opposite layout.
/// Inlined into each library, so the sites are that library's.
@inlinable @inline(__always)
public func pairSitesHere() -> UInt32 {
  var bits: UInt32 = 0
  if StaticKey.pairOne.isEnabled { bits |= 1 }
  if StaticKey.pairTwo.isEnabled { bits |= 2 }
  if StaticKey.pairThree.isEnabled { bits |= 4 }
  if StaticKey.pairOne.isEnabled(likely: true) { bits |= 8 }
  if StaticKey.pairTwo.isEnabled(likely: false) { bits |= 16 }
  if StaticKey.pairThree.isEnabled(likely: true) { bits |= 32 }
  return bits
}

/// The bits `pairSitesHere` must return for the given states.
public func pairExpectedBits(one: Bool, two: Bool, three: Bool) -> UInt32 {
  (one ? 9 : 0) | (two ? 18 : 0) | (three ? 36 : 0)
}
