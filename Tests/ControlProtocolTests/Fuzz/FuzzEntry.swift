// libFuzzer entry for the control protocol's decoder, built by
// Scripts/fuzz-control-protocol together with Sources/JumpLabelControl/Protocol
// (not part of the package build).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var buffer = Array(UnsafeBufferPointer(start: data, count: size))
  if let messages = try? Message.decodeAll(from: &buffer) {
    // What decodes must encode back to a frame that decodes to the same.
    for m in messages {
      guard var again = try? m.encoded() else { fatalError("a decoded message does not encode: \(m)") }
      guard let back = try? Message.decodeAll(from: &again), back == [m] else { fatalError("round trip failed for \(m)") }
    }
  }
  return 0
}
