// SideBySide [--rounds R] [--calls N] [--json] VARIANT...
//
// Times of several variants of PerCallSubjects side by side: each round
// calls every variant N times (default 1,000,000), the order rotating from
// round to round, so that every variant sees the same machine; the report
// gives each variant's median and fastest round in nanoseconds per call,
// and its median against the first variant's. package-benchmark runs its
// benchmarks one after another, so on a shared machine their ratios mix
// the load of different minutes; these do not.
//
// Scripts/frame-workload runs it on the dense-logging workload's four
// forms (frame-plain first), in two builds.

import Logging
import PerCallSubjects

#if canImport(Glibc)
import Glibc
#endif

/// Writes `text` to standard error and exits with status 2.
func usage(_ text: String) -> Never {
  var message = "SideBySide: \(text)\nusage: SideBySide [--rounds R] [--calls N] [--json] VARIANT...\nvariants:"
  for v in Variant.allCases { message += " \(v.rawValue)" }
  var bytes = Array((message + "\n").utf8)
  _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
  exit(2)
}

var rounds = 21, calls = 1_000_000, json = false
var variants: [Variant] = []
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
  switch a {
  case "--rounds", "--calls":
    guard let v = args.popFirst().flatMap({ Int($0) }), v > 0 else { usage("\(a) takes a positive integer") }
    if a == "--rounds" { rounds = v } else { calls = v }
  case "--json": json = true
  default:
    guard let v = Variant(rawValue: a) else { usage("unknown argument \(a)") }
    guard !variants.contains(v) else { usage("\(a) named twice") }
    variants.append(v)
  }
}
guard !variants.isEmpty else { usage("no variant named") }

/// Nanoseconds, monotonic.
func now() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

let logger = PerCallSetup.makeLogger()
for v in variants {
  do { try PerCallSetup.prepare(v, logger: logger) } catch { usage("preparing \(v.rawValue) failed: \(error)") }
}

// One warm-up round, then the measured ones.
var samples: [Variant: [Double]] = [:]
for r in 0...rounds {
  for k in 0..<variants.count {
    let v = variants[(k + r) % variants.count]
    let t0 = now()
    PerCallSetup.loop(v, calls, logger: logger)
    let dt = now() - t0
    if r > 0 { samples[v, default: []].append(Double(dt) / Double(calls)) }
  }
}

/// The median of `xs`.
func median(_ xs: [Double]) -> Double {
  let s = xs.sorted()
  return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// `x` with two decimals.
func fixed(_ x: Double) -> String {
  let hundredths = Int((x * 100).rounded())
  let frac = hundredths % 100
  return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
}

let base = median(samples[variants[0]]!)
if json {
  var rows: [String] = []
  for v in variants {
    let s = samples[v]!
    rows.append("{\"variant\":\"\(v.rawValue)\",\"medianNsPerCall\":\(fixed(median(s))),\"minNsPerCall\":\(fixed(s.min()!)),\"overFirst\":\(fixed(median(s) / base))}")
  }
  print("{\"rounds\":\(rounds),\"callsPerRound\":\(calls),\"first\":\"\(variants[0].rawValue)\",\"variants\":[\(rows.joined(separator: ","))]}")
} else {
  print("\(rounds) rounds of \(calls) calls per variant, interleaved")
  print("variant                  median ns/call  fastest  × \(variants[0].rawValue)")
  for v in variants {
    let s = samples[v]!
    let name = v.rawValue + String(repeating: " ", count: max(1, 25 - v.rawValue.count))
    print("\(name)\(fixed(median(s)))            \(fixed(s.min()!))     \(fixed(median(s) / base))")
  }
}
// Makes the guarded work observable, as InstructionCounts does.
if !json { print("guarded work ran \(guardedWorkCount) times; frame checksum \(frameChecksum)") }
