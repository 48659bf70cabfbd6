import JumpLabel
import Testing

/// The index's grouping of a site table (ImageTable.keyGroups) on made-up
/// tables: the paths a linker's usual output never takes.
struct IndexGroupingTests {
  /// A table in address order: one run per key, in address order, each
  /// site's layout kept.
  @Test func aTableInAddressOrder() {
    let r = _IndexGrouping.runs(
      entries: [(0x1000, 0, false), (0x1010, 1, true), (0x1020, 0, true), (0x1030, 1, false)], keys: ["a", "b"])
    #expect(r == ["a": [["1000", "1020 likely"]], "b": [["1010 likely", "1030"]]])
  }

  /// Out of order (object files laid out differently from their tables):
  /// sorted, stably, before grouping.
  @Test func aTableOutOfOrderIsSorted() {
    let r = _IndexGrouping.runs(
      entries: [(0x3000, 0, false), (0x1000, 1, false), (0x2000, 0, false), (0x0500, 0, false)], keys: ["a", "b"])
    #expect(r == ["a": [["500", "2000", "3000"]], "b": [["1000"]]])
  }

  /// One instruction listed twice (identical functions folded by the
  /// linker): one site, under the key whose name sorts first, whatever
  /// the table order; a key left with no site has no group.
  @Test func anInstructionListedTwiceIsOneSite() {
    let inOrder = _IndexGrouping.runs(
      entries: [(0x1000, 0, false), (0x1000, 1, false), (0x1005, 0, false)], keys: ["zeta", "alpha"])
    #expect(inOrder == ["alpha": [["1000"]], "zeta": [["1005"]]])
    let shuffled = _IndexGrouping.runs(
      entries: [(0x1005, 0, false), (0x1000, 0, false), (0x1000, 1, false), (0x1000, 0, false)], keys: ["zeta", "alpha"])
    #expect(shuffled == ["alpha": [["1000"]], "zeta": [["1005"]]])
    let only = _IndexGrouping.runs(entries: [(0x1000, 0, false), (0x1000, 1, false)], keys: ["b", "a"])
    #expect(only == ["a": [["1000"]]])
  }

  /// A run keeps 31-bit offsets: sites 2 GiB apart start a new run, and
  /// none is lost.
  @Test func sitesTwoGigabytesApartAreTwoRuns() {
    let base: UInt = 0x7f00_0000_0000
    let r = _IndexGrouping.runs(
      entries: [(base, 0, false), (base + 0x7fff_ffff, 0, true), (base + 0x8000_0000, 0, false), (base + 0xffff_fff0, 0, true), (base + 0x1_0000_0000, 0, false)],
      keys: ["k"])
    #expect(r == ["k": [["7f0000000000", "7f007fffffff likely"], ["7f0080000000", "7f00fffffff0 likely"], ["7f0100000000"]]])
  }
}
