import Glibc
@_spi(Testing) import JumpLabelControl
import Testing

/// The client's side of the protocol takes bytes from whatever answers on
/// a socket (a hostile or broken server): decoding replies, assembling
/// their parts, the hello. Whatever it is sent, the client must return a
/// result or throw, never crash, never hang, never hold more than
/// ``ReplyParts/maxBytes``.
@Suite struct ClientFuzzTests {
  /// Replies a server may send, as frames.
  static let replies: [Message] = [
    .listPart(last: false, entries: [Message.ListEntry(
      name: "a.key", isTracepoint: false, state: true, defaultValue: false, declared: true, count: 1, sites: 2,
      fallbackHits: 0, fallbackHitsInOptimizedCode: 0, probes: 0, payloadType: "", problem: "")]),
    .listPart(last: true, entries: []),
    .setResultPart(last: false, cost: nil, changes: [Message.Change(name: "a.key", before: false, after: true, declared: true)]),
    .setResultPart(last: true, cost: Message.BatchCost(sitesPatched: 2, patchProtocol: "int3", syncs: 3, nanoseconds: 9_000), changes: []),
    .traceStartedPart(last: false, bufferEvents: 256, names: ["t.p"]),
    .traceStartedPart(last: true, bufferEvents: 256, names: []),
    .error(code: .failed, message: "no"),
    .pong,
    .event(Array("{}".utf8)),
  ]
  static let welcome = Message.welcome(version: 2, pid: 1, startTime: 2, pidNamespace: 3, program: "p", runtimeABI: 2, idleTimeoutMillis: 60_000)

  /// 50,000 reply streams from a fixed seed: a welcome (intact, mutated
  /// or missing), then valid reply frames, mutated ones, truncated ones
  /// and random bytes, then the end of stream; the client runs `list`,
  /// `set` or `trace` on each.
  @Test func randomRepliesNeverCrashTheClient() throws {
    var rng = DecoderTests.SplitMix(seed: 0x5EC0_0016)
    let frames = try Self.replies.map { try $0.encoded() }
    let hello = try Self.welcome.encoded()
    var completed = 0, failed = 0
    for i in 0..<50_000 {
      var stream: [UInt8] = []
      switch rng.next() % 8 {
      case 0: break  // no welcome
      case 1: stream = hello; stream[Int(rng.next() % UInt64(stream.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
      default: stream = hello
      }
      for _ in 0..<Int(rng.next() % 6) {
        var f = frames[Int(rng.next() % UInt64(frames.count))]
        switch rng.next() % 6 {
        case 0: f[Int(rng.next() % UInt64(f.count))] = UInt8(truncatingIfNeeded: rng.next())
        case 1: f = Array(f.prefix(Int(rng.next() % UInt64(f.count + 1))))
        case 2: f = (0..<Int(rng.next() % 48)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        default: break
        }
        stream += f
      }
      switch try Self.run(stream, operation: i % 3) {
      case true: completed += 1
      case false: failed += 1
      }
    }
    // Both outcomes happen (the generator reaches the whole path).
    #expect(completed > 1000 && failed > 1000, "completed \(completed), failed \(failed)")
  }

  /// Feeds `stream` to a client through a socketpair and runs one request.
  /// True if the request returned, false if it threw.
  static func run(_ stream: [UInt8], operation: Int) throws -> Bool {
    sigpipeHandled
    var sv: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0 else { throw ControlError.socket("socketpair") }
    defer { close(sv[1]) }
    var done = 0
    while done < stream.count {
      let n = stream.withUnsafeBytes { send(sv[1], $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
      if n <= 0 { break }
      done += n
    }
    shutdown(sv[1], Int32(SHUT_WR))  // then the end of stream: nothing ever waits
    do {
      let c = try ControlClient(connected: sv[0], path: "fuzz", timeout: .seconds(5))
      switch operation {
      case 0: _ = try c.list()
      case 1: _ = try c.set(enable: true, patterns: ["a.*"])
      default: _ = try c.startTrace(patterns: ["t.*"])
      }
      return true
    } catch {
      return false
    }
  }

  /// A server that sends parts without end is cut off at the bound.
  @Test func endlessPartsAreRefused() throws {
    var parts = ReplyParts<String>(expecting: "a trace started part")
    let part = Message.traceStartedPart(last: false, bufferEvents: 1, names: ["x"])
    var refused = false
    for _ in 0..<2000 {
      do {
        // Counted at the size of a full frame each.
        _ = try parts.take(part, size: Frame.maxSize) { if case let .traceStartedPart(l, _, n) = $0 { (l, n) } else { nil } }
      } catch {
        refused = "\(error)".contains("exceeds 64 MiB")
        break
      }
    }
    #expect(refused && parts.bytes <= ReplyParts<String>.maxBytes + Frame.maxSize)
  }
}

/// The test process never dies of SIGPIPE (a write to a closed socket
/// fails with EPIPE instead): set once. An empty handler, not SIG_IGN,
/// which children would inherit through exec.
let sigpipeHandled: Void = {
  _ = signal(SIGPIPE) { _ in }
}()
