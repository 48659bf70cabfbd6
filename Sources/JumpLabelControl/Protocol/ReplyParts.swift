/// The client's side of a reply in parts: collects the parts of one
/// reply (``Message/listPart(last:entries:)``,
/// ``Message/setResultPart(last:cost:changes:)``,
/// ``Message/traceStartedPart(last:bufferEvents:names:)``) until the last,
/// and bounds what a server can make the client hold: a reply over
/// ``ReplyParts/maxBytes`` is refused (a hostile server could otherwise
/// send parts without end).
public struct ReplyParts<Item> {
  /// The largest whole reply a client accepts, in bytes on the wire.
  public static var maxBytes: Int { 64 << 20 }

  /// What a message did to the reply.
  public enum Step {
    /// A part that was not the last: more follow.
    case more
    /// The last part: `items` is the whole reply.
    case done
    /// The server answered with an error instead.
    case failed(code: Message.ErrorCode, message: String)
  }

  public private(set) var items: [Item] = []
  public private(set) var bytes = 0
  /// Set by the first part that carries one (traceStartedPart's buffer).
  public private(set) var bufferEvents: UInt32 = 0
  private let expected: String

  /// `expected` names the part for the error when another message comes.
  public init(expecting expected: String) { self.expected = expected }

  /// Takes the next message of the reply, `size` bytes on the wire.
  /// Throws for a message that is not a part of this reply, and for a
  /// reply over the bound.
  public mutating func take(_ m: Message, size: Int, part: (Message) -> (last: Bool, items: [Item])?) throws(ProtocolError) -> Step {
    if case let .error(code, message) = m { return .failed(code: code, message: message) }
    guard let (last, new) = part(m) else { throw .malformed("expected \(expected), got \(m.kind)") }
    bytes += size
    guard bytes <= Self.maxBytes else { throw .malformed("the reply exceeds \(Self.maxBytes >> 20) MiB") }
    if case let .traceStartedPart(_, b, _) = m, bufferEvents == 0 { bufferEvents = b }
    items += new
    return last ? .done : .more
  }
}
