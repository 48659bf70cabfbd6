// InstructionCounts VARIANT N
//
// Prepares one variant (PerCallSubjects), calls its function once, then N
// times in a loop, and exits. Scripts/instruction-counts runs it under
// callgrind with N = 0 and N = 1,000,000: the difference of the totals,
// divided by N, is the cost of one call plus one loop iteration. The loop
// is PerCallSetup.loop, written out per variant so that each call in it is
// direct (the same loops SideBySide times).

import PerCallSubjects

#if canImport(Glibc)
import Glibc
#endif

/// Writes `text` to standard error.
func printError(_ text: String) {
  var bytes = Array(text.utf8)
  _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

/// Prints the usage to standard error and exits with status 2.
func usage() -> Never {
  var text = "usage: InstructionCounts VARIANT N\nvariants:\n"
  for v in Variant.allCases { text += "  \(v.rawValue.padding(20))\(v.summary)\n" }
  printError(text)
  exit(2)
}

extension String {
  /// The string, padded with spaces to at least `width` characters.
  func padding(_ width: Int) -> String {
    count >= width ? self + " " : self + String(repeating: " ", count: width - count)
  }
}

/// The command line: the variant's name and the number of calls.
let arguments = CommandLine.arguments
// `variant` and `n`: the parsed arguments.
guard arguments.count == 3, let variant = Variant(rawValue: arguments[1]),
  let n = Int(arguments[2]), n >= 0
else { usage() }

/// The logger of the swift-log variant (level `.info`).
let logger = PerCallSetup.makeLogger()
do {
  try PerCallSetup.prepare(variant, logger: logger)
} catch {
  printError("InstructionCounts: preparing \(variant.rawValue) failed: \(error)\n")
  exit(1)
}

PerCallSetup.loop(variant, n, logger: logger)

// Makes the guarded work observable (and a quick sanity check by eye).
print("\(variant.rawValue) \(n) calls; guarded work ran \(guardedWorkCount) times; ring written \(PerCallSetup.ringWritten)")
