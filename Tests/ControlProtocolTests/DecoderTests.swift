import Foundation
import JumpLabelControl
import Testing

/// The decoder of the control protocol takes bytes from other processes:
/// whatever it is given, it must return messages or throw, never crash,
/// never read out of bounds, and never accept what it should not.
@Suite struct DecoderTests {
  /// One example of every message.
  static let samples: [Message] = [
    .hello(minVersion: 2, maxVersion: 2, client: "test"),
    .welcome(version: 2, pid: 42, startTime: 123_456, pidNamespace: 4_026_531_836, program: "svc", runtimeABI: 2, idleTimeoutMillis: 60_000),
    .error(code: .refused, message: "no"),
    .list,
    .listPart(last: false, entries: [Message.ListEntry(
      name: "http.request.start", isTracepoint: true, state: true, defaultValue: false, declared: true, count: 2, sites: 3,
      fallbackHits: 4, fallbackHitsInOptimizedCode: 1, probes: 1, payloadType: "Request", problem: "")]),
    .set(enable: true, dryRun: false, hold: true, ttlMillis: 30_000, force: false, undeclared: true, patterns: ["http.*", "db.query"]),
    .setResultPart(last: true, cost: nil, changes: [Message.Change(name: "a", before: false, after: true, declared: false)]),
    .trace(maxEvents: 10, durationMillis: 0, bufferEvents: 4096, patterns: ["x.*"]),
    .traceStartedPart(last: false, bufferEvents: 4096, names: ["x.y"]),
    .event(Array("{\"k\":1}".utf8)),
    .traceEnd(events: 10, dropped: 2, reason: "count reached"),
    .traceStop,
    .ping,
    .pong,
    // #17: holders, forced disables, typos, cost.
    .listPart(last: true, entries: [{
      var e = Message.ListEntry(
        name: "http.request.start", isTracepoint: true, state: true, defaultValue: false, declared: true, count: 2, sites: 3,
        fallbackHits: 0, fallbackHitsInOptimizedCode: 0, probes: 1, payloadType: "Request", problem: "")
      e.holders = "enabled, trace pid 4242"
      e.forcedOff = "disabled by pid 7 (jumplabel ctl --force)"
      return e
    }()]),
    .set(enable: false, dryRun: false, hold: false, ttlMillis: 0, force: true, undeclared: false, patterns: ["http.*"]),
    .setResultPart(last: false, cost: nil, changes: [Message.Change(name: "a", before: true, after: false, declared: true)]),
    .setResultPart(last: true, cost: Message.BatchCost(sitesPatched: 3, patchProtocol: "int3", syncs: 3, nanoseconds: 41_000), changes: []),
    .forget(names: ["svc.verbsoe"]),
    .forgottenPart(last: true, names: ["svc.verbsoe"]),
  ]

  @Test func everyMessageRoundTrips() throws {
    var stream: [UInt8] = []
    for m in Self.samples { stream += try m.encoded() }
    // Fed one byte at a time: partial frames wait, complete ones decode.
    var buffer: [UInt8] = []
    var decoded: [Message] = []
    for b in stream {
      buffer.append(b)
      decoded += try Message.decodeAll(from: &buffer)
    }
    #expect(decoded == Self.samples && buffer.isEmpty)
  }

  /// Random bytes, random mutations of valid frames, random truncations:
  /// 200,000 inputs from a fixed seed (reproducible), each decoded without
  /// a crash; no mutated frame of a kind with a fixed size decodes with
  /// bytes left over (the decoder checks that).
  @Test func randomInputsNeverCrashTheDecoder() throws {
    var rng = SplitMix(seed: 0x4A4C_4354)
    let valid = try Self.samples.map { try $0.encoded() }
    var decodedOK = 0, rejected = 0
    for i in 0..<200_000 {
      var input: [UInt8]
      switch i % 4 {
      case 0:
        input = (0..<Int(rng.next() % 96)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
      case 1:
        input = valid[Int(rng.next() % UInt64(valid.count))]
        for _ in 0..<(1 + Int(rng.next() % 4)) where !input.isEmpty {
          input[Int(rng.next() % UInt64(input.count))] = UInt8(truncatingIfNeeded: rng.next())
        }
      case 2:
        let v = valid[Int(rng.next() % UInt64(valid.count))]
        input = Array(v.prefix(Int(rng.next() % UInt64(v.count + 1))))
      default:
        input = Frame.magic + (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
      }
      var buffer = input
      do {
        _ = try Message.decodeAll(from: &buffer)
        decodedOK += 1
        #expect(buffer.count <= input.count)
      } catch {
        rejected += 1
      }
    }
    #expect(decodedOK > 0 && rejected > 0)
  }

  /// Encoding never traps, whatever the message holds: a string over
  /// 65,535 bytes, more than 65,535 elements, or a body over the frame's
  /// limit throw `.tooLarge` (the old encoder's precondition killed the
  /// process that tried).
  @Test func encodingThrowsInsteadOfTrapping() throws {
    let long = String(repeating: "a", count: 70_000)
    let tooBig: [Message] = [
      .set(enable: true, dryRun: false, hold: false, ttlMillis: 0, force: false, undeclared: false, patterns: [long]),
      .set(enable: true, dryRun: false, hold: false, ttlMillis: 0, force: false, undeclared: false, patterns: (0..<70).map { "k\($0)" + String(repeating: "b", count: 1000) }),
      .error(code: .failed, message: long),
      .traceStartedPart(last: true, bufferEvents: 1, names: Array(repeating: "", count: 70_000)),
      .setResultPart(last: true, cost: nil, changes: Array(repeating: Message.Change(name: "x", before: false, after: true, declared: true), count: 20_000)),
      .event(Array(repeating: 0x61, count: Frame.maxBody + 1)),
    ]
    for m in tooBig {
      #expect(throws: ProtocolError.self, "\(m.kind)") { _ = try m.encoded() }
    }
    // The largest body that fits still encodes.
    #expect(try Message.event(Array(repeating: 0x61, count: Frame.maxBody)).encoded().count == Frame.maxSize)
  }

  /// The regression corpus (Tests/ControlProtocolTests/Corpus): inputs
  /// that were, or could be, trouble. Each must be rejected with the error
  /// its name says.
  @Test func corpusIsRejected() throws {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")
    let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".bin") }.sorted()
    #expect(files.count >= 10, "\(files)")
    for f in files {
      var buffer = Array(try Data(contentsOf: dir.appendingPathComponent(f)))
      do {
        let got = try Message.decodeAll(from: &buffer)
        // Only an incomplete frame may decode to nothing (and stay buffered).
        #expect(f.hasPrefix("partial") && got.isEmpty, "\(f) decoded to \(got)")
      } catch {
        let expected = f.split(separator: "-").first.map(String.init) ?? ""
        #expect("\(error)".lowercased().contains(Self.expectation[expected] ?? "?"), "\(f): \(error)")
      }
    }
  }

  static let expectation: [String: String] = [
    "badmagic": "bad magic", "reserved": "reserved", "toolarge": "exceeds", "version": "version",
    "unknowntype": "unknown message type", "malformed": "malformed",
  ]

  /// A small, seedable generator (the test must be reproducible).
  struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
  }
}
