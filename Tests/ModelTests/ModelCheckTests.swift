import Foundation
import JumpLabelFixtures
import Testing

/// Runs the spin model of the patch protocol (Model/textpoke.pml) through
/// Model/check.sh: the correct model must verify exhaustively with no error,
/// and every deliberately broken variant must be caught.
@Suite struct ModelCheckTests {
  /// <root>/Tests/ModelTests/ModelCheckTests.swift -> <root>
  static let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // ModelTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()

  /// Lines check.sh prints when each run came out as expected.
  static let expectedLines = [
    "model ok: textpoke N=2 NB=3 (",
    "model ok: textpoke N=3 NB=2 (",
    "model ok: BROKEN_NO_WAIT caught",
    "model ok: BROKEN_NO_SYNC caught",
    "model ok: BROKEN_NO_TAIL_SYNC caught",
    "model ok: BROKEN_NO_SEQ caught",
    "model ok: selfloop N=2 NB=3 (errors=0)",
    "model ok: selfloop N=3 NB=2 (errors=0)",
    "model ok: selfloop BROKEN_NO_LOOP_SYNC caught",
    "model ok: selfloop BROKEN_NO_TAIL_SYNC caught",
    "model ok: selfloop BROKEN_SPLIT_HEAD caught",
  ]

  static let missing = TestRequirements.missing("spin", for: "the patch protocol's model")

  @Test(.timeLimit(.minutes(5)),
        .enabled(if: TestRequirements.shouldRun(needing: "spin"), Comment(rawValue: missing)))
  func patchProtocolModelChecks() throws {
    let script = Self.packageRoot.appendingPathComponent("Model/check.sh")
    try #require(
      FileManager.default.fileExists(atPath: script.path), "model script missing: \(script.path)")

    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [script.path]
    process.currentDirectoryURL = Self.packageRoot
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    // Read before waiting: a full pipe would otherwise block the script.
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let output = String(decoding: data, as: UTF8.self)
    let status = process.terminationStatus

    #expect(status != 2, "\(Self.missing)\n\(output)")
    if status == 2 { return }
    #expect(status == 0, "Model/check.sh exited with status \(status):\n\(output)")
    for line in Self.expectedLines {
      #expect(output.contains(line), "missing '\(line)' in the output of Model/check.sh:\n\(output)")
    }
  }
}
