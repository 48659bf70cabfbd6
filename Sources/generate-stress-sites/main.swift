// Writes the stress workload's branch sites (module StressWorkload) to the
// file named by its only argument; run at build time by StressSitesPlugin.
//
// Many functions, each with sites of several keys in both layouts, so that
// one toggle patches sites spread over many pages and functions. Every
// function gets its own ordered choice of keys and layouts: two functions
// with identical bodies would be folded into one by the compiler, and
// their sites with them.

#if canImport(Glibc)
import Glibc
#endif

let keys = 8          // stress.k0 ... stress.k7; odd keys default to true
let functions = 96    // stressSite0 ... stressSite95
let perFunction = 4   // sites per function

/// Every ordered choice of `count` distinct keys, in lexicographic order.
func permutations(_ count: Int, prefix: [Int] = []) -> [[Int]] {
  if prefix.count == count { return [prefix] }
  return (0..<keys).filter { !prefix.contains($0) }.flatMap { permutations(count, prefix: prefix + [$0]) }
}

var choices: [(keys: [Int], layouts: Int)] = []
for p in permutations(perFunction) {
  for layouts in 0..<(1 << perFunction) { choices.append((p, layouts)) }
}
// Spread the picks over the whole list, so that neighbours differ.
let step = choices.count / functions
let picked = (0..<functions).map { choices[$0 * step + $0 % step] }

var out = """
  // Generated at build time by generate-stress-sites (StressSitesPlugin).
  import JumpLabel

  /// The keys the stress workload toggles.
  package enum StressKeys {
    /// Number of keys.
    package static let count = \(keys)
    /// The keys, by index.
    package static let all: [StaticKey] = [\((0..<keys).map { ".stress\($0)" }.joined(separator: ", "))]
  }

  extension StaticKey {

  """
for k in 0..<keys {
  let d = k % 2 == 1 ? ", default: true" : ""
  out += "  @inlinable package static var stress\(k): StaticKey { StaticKey(\"stress.k\(k)\"\(d)) }\n"
}
out += "}\n\n"

var total = 0
for (f, choice) in picked.enumerated() {
  out += "@inline(never) package func stressSite\(f)() -> UInt16 {\n  var seen: UInt16 = 0\n"
  for (j, k) in choice.keys.enumerated() {
    // The other layout than the key's default puts the enabled path inline.
    let access = (choice.layouts >> j) & 1 == 0 ? "isEnabled" : "isEnabled(likely: \(k % 2 == 1 ? "false" : "true"))"
    out += "  if StaticKey.stress\(k).\(access) { seen |= \(1 << k) }\n"
    total += 1
  }
  out += "  return seen\n}\n\n"
}
out += "/// Every workload function with the keys whose sites it contains.\n"
out += "package let stressFunctions: [(run: @Sendable () -> UInt16, keys: UInt16)] = [\n"
for (f, choice) in picked.enumerated() {
  out += "  (stressSite\(f), \(choice.keys.reduce(0) { $0 | 1 << $1 })),\n"
}
out += """
  ]

  /// Number of sites compiled above.
  package let stressSiteCount = \(total)
  /// Sites per workload function.
  package let stressSitesPerFunction = \(perFunction)

  """

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
  print("usage: generate-stress-sites OUTPUT.swift")
  exit(2)
}
guard let file = fopen(arguments[1], "w"), fputs(out, file) >= 0, fclose(file) == 0 else {
  print("generate-stress-sites: cannot write \(arguments[1])")
  exit(1)
}
