// libFuzzer entry for the control protocol, built by
// Scripts/fuzz-control-protocol together with Sources/JumpLabelControl/Protocol
// (not part of the package build). Both directions: the server's decoding
// of requests and the client's decoding of replies share the decoder; the
// client's assembly of replies in parts (ReplyParts) is driven too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var buffer = Array(UnsafeBufferPointer(start: data, count: size))
  var frames: [Frame] = []
  while let f = try? Frame.extractOne(from: &buffer) { frames.append(f) }
  var list = ReplyParts<Message.ListEntry>(expecting: "a list part")
  var set = ReplyParts<Message.Change>(expecting: "a set result part")
  var started = ReplyParts<String>(expecting: "a trace started part")
  for f in frames {
    guard let m = try? Message.decode(f) else { continue }
    // What decodes must encode back to a frame that decodes to the same.
    guard var again = try? m.encoded() else { fatalError("a decoded message does not encode: \(m)") }
    guard let back = try? Message.decodeAll(from: &again), back == [m] else { fatalError("round trip failed for \(m)") }
    // The client's reply assembly: whatever comes, a step or a throw.
    let n = Frame.headerSize + f.body.count
    _ = try? list.take(m, size: n) { if case let .listPart(l, e) = $0 { (l, e) } else { nil } }
    _ = try? set.take(m, size: n) { if case let .setResultPart(l, _, c) = $0 { (l, c) } else { nil } }
    _ = try? started.take(m, size: n) { if case let .traceStartedPart(l, _, x) = $0 { (l, x) } else { nil } }
  }
  return 0
}
