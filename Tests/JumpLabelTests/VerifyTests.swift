import JumpLabel
import JumpLabelFixtures
import TextPoke
import Testing

/// Bytes that are not what a key's table entry says are reported with the
/// site, and are never patched.
@Suite(.serialized) struct VerifyTests {
  @Test(.enabled(if: Fixture.compiledWithSites, "needs real sites"))
  func foreignBytesAtASiteAreReportedAndNeverPatched() throws {
    _ = Fixture.verifySite()
    let site = try #require(try StaticKeys.sites(named: "fixture.verify").first)
    #expect(StaticKeys.verify().isEmpty, "\(StaticKeys.verify())")
    // Somebody else rewrites the NOP into another (still harmless) NOP.
    let other: [UInt8] = [0x0F, 0x1F, 0x44, 0x00, 0x01]
    try TextPoke.apply([TextPatch(address: site.address, expected: StaticKeySite.nop5, replacement: other)])
    defer { _ = try? TextPoke.apply([TextPatch(address: site.address, expected: other, replacement: StaticKeySite.nop5)]) }

    let found = StaticKeys.verify()
    #expect(found == [.unexpectedSite(key: "fixture.verify", site: CodeLocation(site.address), expected: StaticKeySite.nop5, found: other)], "\(found)")
    #expect("\(found.first!)".contains("0x" + String(site.address, radix: 16)))
    // A toggle verifies before it writes: it fails and writes nothing.
    let err = #expect(throws: JumpLabelError.self) { try StaticKey.fixtureVerify.enable() }
    guard case let .patch(_, inner)? = err, case .unexpectedBytes = inner else {
      Issue.record("wrong error: \(String(describing: err))")
      return
    }
    #expect(site.currentBytes == other)
    #expect(!StaticKey.fixtureVerify.state && !Fixture.verifySite())
  }
}
