// FrameWorkload [--rounds R] [--frames N] [--json]
//
// The dense-logging workload of #19 (swift-log #377's situation), in time
// per frame: a decoder of small frames with one trace statement per frame,
// in four forms (PerCallSubjects/FrameSubjects.swift). Each round decodes
// N frames (default 1,000,000) with each form in turn, the order rotating
// from round to round, so that every form sees the same machine; the
// report gives each form's median and fastest round in nanoseconds per
// frame and its median against the frame with no logging. Built with
// swift-log's trait MaxLogLevelInfo (JUMPLABEL_BENCH_SWIFT_LOG_TRAIT), the
// swift-log form is compiled out. Scripts/frame-workload runs both builds
// and adds callgrind's instruction counts.

import Logging
import PerCallSubjects

#if canImport(Glibc)
import Glibc
#endif

/// The forms, in the report's order.
let forms: [Variant] = [.framePlain, .frameDyndbg, .frameLiveTrace, .frameSwiftLogTrace]

/// Writes `text` to standard error and exits with status 2.
func usage(_ text: String) -> Never {
  var bytes = Array("FrameWorkload: \(text)\nusage: FrameWorkload [--rounds R] [--frames N] [--json]\n".utf8)
  _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
  exit(2)
}

var rounds = 21, frames = 1_000_000, json = false
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
  switch a {
  case "--rounds", "--frames":
    guard let v = args.popFirst().flatMap({ Int($0) }), v > 0 else { usage("\(a) takes a positive integer") }
    if a == "--rounds" { rounds = v } else { frames = v }
  case "--json": json = true
  default: usage("unknown argument \(a)")
  }
}

/// Nanoseconds, monotonic.
func now() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Decodes `n` frames with `form`; each loop is written out so that the
/// call in it is direct.
func run(_ form: Variant, _ n: Int, _ logger: Logger) {
  switch form {
  case .framePlain: for _ in 0..<n { framePlain() }
  case .frameDyndbg: for _ in 0..<n { frameDyndbg() }
  case .frameLiveTrace: for _ in 0..<n { frameLiveTrace(logger) }
  case .frameSwiftLogTrace: for _ in 0..<n { frameSwiftLogTrace(logger) }
  default: fatalError("not a frame form: \(form)")
  }
}

let logger = PerCallSetup.makeLogger()
for f in forms {
  do { try PerCallSetup.prepare(f, logger: logger) } catch { usage("preparing \(f.rawValue) failed: \(error)") }
}

// One warm-up round, then the measured ones.
var samples: [Variant: [Double]] = [:]
for r in 0...rounds {
  for k in 0..<forms.count {
    let form = forms[(k + r) % forms.count]
    let t0 = now()
    run(form, frames, logger)
    let dt = now() - t0
    if r > 0 { samples[form, default: []].append(Double(dt) / Double(frames)) }
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

let plain = median(samples[.framePlain]!)
if json {
  var rows: [String] = []
  for f in forms {
    let s = samples[f]!
    rows.append("{\"variant\":\"\(f.rawValue)\",\"medianNsPerFrame\":\(fixed(median(s))),\"minNsPerFrame\":\(fixed(s.min()!)),\"overPlain\":\(fixed(median(s) / plain))}")
  }
  print("{\"rounds\":\(rounds),\"framesPerRound\":\(frames),\"checksum\":\(frameChecksum),\"variants\":[\(rows.joined(separator: ","))]}")
} else {
  print("\(rounds) rounds of \(frames) frames per form (checksum \(frameChecksum))")
  print("variant                 median ns/frame  fastest  × no logging")
  for f in forms {
    let s = samples[f]!
    let name = f.rawValue + String(repeating: " ", count: max(1, 24 - f.rawValue.count))
    print("\(name)\(fixed(median(s)))            \(fixed(s.min()!))     \(fixed(median(s) / plain))")
  }
}
