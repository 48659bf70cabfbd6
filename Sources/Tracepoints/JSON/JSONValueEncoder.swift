/// An `Encoder` that builds a `JSONNode` tree, then written by
/// `JSONWriter.encodable(_:)`. Keys keep their encoding order.
final class JSONValueEncoder: Encoder {
  final class Storage { var root: JSONNode = .null }
  let storage: Storage
  let codingPath: [any CodingKey]
  var userInfo: [CodingUserInfoKey: Any] { [:] }
  private let assign: (JSONNode) -> Void

  init() {
    let s = Storage()
    storage = s
    codingPath = []
    assign = { s.root = $0 }
  }

  init(storage: Storage, codingPath: [any CodingKey], assign: @escaping (JSONNode) -> Void) {
    self.storage = storage
    self.codingPath = codingPath
    self.assign = assign
  }

  func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
    let box = JSONNode.ObjectBox()
    assign(.object(box))
    return KeyedEncodingContainer(Keyed<Key>(box: box, encoder: self))
  }

  func unkeyedContainer() -> any UnkeyedEncodingContainer {
    let box = JSONNode.ArrayBox()
    assign(.array(box))
    return Unkeyed(box: box, encoder: self)
  }

  func singleValueContainer() -> any SingleValueEncodingContainer { Single(encoder: self) }

  /// Encodes a nested value at `path` and returns its node.
  func nested(_ value: some Encodable, path: [any CodingKey]) throws -> JSONNode {
    if let n = JSONNode.scalar(value) { return n }
    var out: JSONNode = .null
    let e = JSONValueEncoder(storage: storage, codingPath: path) { out = $0 }
    try value.encode(to: e)
    return out
  }

  struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: JSONNode.ObjectBox
    let encoder: JSONValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil(forKey key: Key) throws { box.items.append((key.stringValue, .null)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
      box.items.append((key.stringValue, try encoder.nested(value, path: codingPath + [key])))
    }
    mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
      let inner = JSONNode.ObjectBox()
      box.items.append((key.stringValue, .object(inner)))
      return KeyedEncodingContainer(Keyed<N>(box: inner, encoder: JSONValueEncoder(storage: encoder.storage, codingPath: codingPath + [key]) { _ in }))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
      let inner = JSONNode.ArrayBox()
      box.items.append((key.stringValue, .array(inner)))
      return Unkeyed(box: inner, encoder: JSONValueEncoder(storage: encoder.storage, codingPath: codingPath + [key]) { _ in })
    }
    mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
      let index = box.items.count
      box.items.append((key.stringValue, .null))
      let b = box
      return JSONValueEncoder(storage: encoder.storage, codingPath: codingPath + [key]) { b.items[index].1 = $0 }
    }
  }

  struct Unkeyed: UnkeyedEncodingContainer {
    let box: JSONNode.ArrayBox
    let encoder: JSONValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int { box.items.count }

    mutating func encodeNil() throws { box.items.append(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws {
      box.items.append(try encoder.nested(value, path: codingPath + [IndexKey(count)]))
    }
    mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type) -> KeyedEncodingContainer<N> {
      let inner = JSONNode.ObjectBox()
      box.items.append(.object(inner))
      return KeyedEncodingContainer(Keyed<N>(box: inner, encoder: JSONValueEncoder(storage: encoder.storage, codingPath: codingPath + [IndexKey(count)]) { _ in }))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
      let inner = JSONNode.ArrayBox()
      box.items.append(.array(inner))
      return Unkeyed(box: inner, encoder: JSONValueEncoder(storage: encoder.storage, codingPath: codingPath + [IndexKey(count)]) { _ in })
    }
    mutating func superEncoder() -> any Encoder {
      let index = box.items.count
      box.items.append(.null)
      let b = box
      return JSONValueEncoder(storage: encoder.storage, codingPath: codingPath + [IndexKey(index)]) { b.items[index] = $0 }
    }
  }

  struct Single: SingleValueEncodingContainer {
    let encoder: JSONValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    mutating func encodeNil() throws { encoder.assign(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws { encoder.assign(try encoder.nested(value, path: codingPath)) }
  }

  struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { String(intValue ?? 0) }
    init(_ i: Int) { intValue = i }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
  }
}

/// A JSON value being built.
indirect enum JSONNode {
  final class ObjectBox { var items: [(String, JSONNode)] = [] }
  final class ArrayBox { var items: [JSONNode] = [] }

  case null
  case bool(Bool)
  case int(Int64)
  case uint(UInt64)
  case double(Double)
  case string(String)
  case object(ObjectBox)
  case array(ArrayBox)

  /// The node of a scalar the encoder writes directly, nil otherwise.
  static func scalar(_ v: some Encodable) -> JSONNode? {
    switch v {
    case let b as Bool: return .bool(b)
    case let s as String: return .string(s)
    case let i as Int: return .int(Int64(i))
    case let i as Int8: return .int(Int64(i))
    case let i as Int16: return .int(Int64(i))
    case let i as Int32: return .int(Int64(i))
    case let i as Int64: return .int(i)
    case let u as UInt: return .uint(UInt64(u))
    case let u as UInt8: return .uint(UInt64(u))
    case let u as UInt16: return .uint(UInt64(u))
    case let u as UInt32: return .uint(UInt64(u))
    case let u as UInt64: return .uint(u)
    case let d as Double: return .double(d)
    case let f as Float: return .double(Double(f))
    default: return nil
    }
  }

  func write(into w: inout JSONWriter) {
    switch self {
    case .null: w.raw("null")
    case let .bool(b): w.bool(b)
    case let .int(i): w.int(i)
    case let .uint(u): w.int(u)
    case let .double(d): w.double(d)
    case let .string(s): w.string(s)
    case let .object(box):
      w.raw("{")
      for (i, (k, v)) in box.items.enumerated() {
        if i > 0 { w.raw(",") }
        w.string(k)
        w.raw(":")
        v.write(into: &w)
      }
      w.raw("}")
    case let .array(box):
      w.raw("[")
      for (i, v) in box.items.enumerated() {
        if i > 0 { w.raw(",") }
        v.write(into: &w)
      }
      w.raw("]")
    }
  }
}
