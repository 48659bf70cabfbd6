/// Writes JSON text into a byte buffer: the building block of the JSON
/// Lines sink and of `jumplabel ctl trace`. No Foundation (the tracepoint
/// runtime links into every program that uses keys).
public struct JSONWriter: Sendable {
  /// The bytes written so far (UTF-8).
  public private(set) var bytes: [UInt8] = []

  /// An empty writer.
  public init() { bytes.reserveCapacity(256) }

  /// Appends raw, already valid JSON text.
  public mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

  /// Appends raw bytes (valid JSON text).
  public mutating func raw(bytes more: [UInt8]) { bytes.append(contentsOf: more) }

  /// Appends `s` as a JSON string, escaped.
  public mutating func string(_ s: String) {
    bytes.append(0x22)
    for b in s.utf8 {
      switch b {
      case 0x22: bytes.append(0x5C); bytes.append(0x22)
      case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
      case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
      case 0x0D: bytes.append(0x5C); bytes.append(0x72)
      case 0x09: bytes.append(0x5C); bytes.append(0x74)
      case 0..<0x20:
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
      default: bytes.append(b)
      }
    }
    bytes.append(0x22)
  }

  /// Appends an integer.
  public mutating func int<T: BinaryInteger>(_ v: T) { raw(String(v)) }

  /// Appends a number; non-finite values become null (JSON has none).
  public mutating func double(_ v: Double) {
    if v.isFinite { raw(v.description) } else { raw("null") }
  }

  /// Appends `true`/`false`.
  public mutating func bool(_ v: Bool) { raw(v ? "true" : "false") }

  /// Appends `value` encoded through `Encodable`. A value that fails to
  /// encode is written as `{"encodingError": "..."}`: a tracepoint never
  /// throws at its emitter.
  public mutating func encodable<T: Encodable>(_ value: T) {
    let e = JSONValueEncoder()
    do {
      try value.encode(to: e)
      e.storage.root.write(into: &self)
    } catch {
      raw("{\"encodingError\":")
      string("\(error)")
      raw("}")
    }
  }

  /// Appends one event as a line of JSON (no newline): its time, thread,
  /// tracepoint and payload, which `payload` writes. The one definition of
  /// the line, for the JSON Lines sink, ring records and `jumplabel ctl
  /// trace` alike.
  public mutating func event(timestamp: Int64, threadID: Int32, name: String, payload: (inout JSONWriter) -> Void) {
    raw("{\"time\":")
    string(RFC3339.format(nanoseconds: timestamp))
    raw(",\"tid\":")
    int(threadID)
    raw(",\"tracepoint\":")
    string(name)
    raw(",\"payload\":")
    payload(&self)
    raw("}")
  }
}
