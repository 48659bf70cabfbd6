import TextPoke

// How each value that crosses between runtime copies is written. Each
// `encode` has its `decode` right below it; keep them in step.

extension TextPokeError {
  func encode(_ w: inout WireWriter) {
    switch self {
    case let .invalidPatch(address, reason): w.u8(0); w.uint(address); w.string(reason)
    case let .overlappingPatches(first, second): w.u8(1); w.uint(first); w.uint(second)
    case let .unexpectedBytes(site, expected, found): w.u8(2); w.uint(site.address); w.byteArray(expected); w.byteArray(found)
    case let .coreSyncUnavailable(reason): w.u8(3); w.string(reason)
    case let .writerUnavailable(reason): w.u8(4); w.string(reason)
    case let .trapHandlerUnavailable(errno): w.u8(5); w.int(Int(errno))
    case .reentrantPatch: w.u8(6)
    case let .threadsUnresponsive(detail): w.u8(7); w.string(detail)
    case let .tooManySites(limit): w.u8(8); w.int(limit)
    }
  }

  static func decode(_ r: inout WireReader) -> TextPokeError {
    switch r.u8() {
    case 0: return .invalidPatch(address: r.uint(), reason: r.string())
    case 1: return .overlappingPatches(first: r.uint(), second: r.uint())
    case 2: return .unexpectedBytes(site: CodeLocation(r.uint()), expected: r.byteArray(), found: r.byteArray())
    case 3: return .coreSyncUnavailable(reason: r.string())
    case 4: return .writerUnavailable(reason: r.string())
    case 5: return .trapHandlerUnavailable(errno: Int32(truncatingIfNeeded: r.int()))
    case 6: return .reentrantPatch
    case 7: return .threadsUnresponsive(detail: r.string())
    default: return .tooManySites(limit: r.int())
    }
  }
}

extension JumpLabelError {
  func encode(_ w: inout WireWriter) {
    switch self {
    case let .unknownKey(name): w.u8(0); w.string(name)
    case let .conflictingDefaults(key, declared, recorded, declaredAt, recordedAt):
      w.u8(1); w.string(key); w.bool(declared); w.bool(recorded); w.string(declaredAt); w.string(recordedAt)
    case let .unexpectedSite(key, site, expected, found): w.u8(2); w.string(key); w.uint(site.address); w.byteArray(expected); w.byteArray(found)
    case let .underflow(key): w.u8(3); w.string(key)
    case let .heldBy(key, holders): w.u8(4); w.string(key); w.holders(holders)
    case let .reentrantControl(key): w.u8(5); w.string(key)
    case let .patch(key, error): w.u8(6); w.string(key); error.encode(&w)
    case let .foreignRuntime(image, abi): w.u8(7); w.string(image); w.int(Int(abi))
    case let .fallbackInOptimizedCode(key, hits, image): w.u8(8); w.string(key); w.int(hits); w.string(image)
    case let .notHeld(key, holder): w.u8(9); w.string(key); w.holder(holder)
    case let .declaredKey(name): w.u8(10); w.string(name)
    case let .tooManyUndeclared(key, limit): w.u8(11); w.string(key); w.int(limit)
    }
  }

  static func decode(_ r: inout WireReader) -> JumpLabelError {
    switch r.u8() {
    case 0: return .unknownKey(r.string())
    case 1: return .conflictingDefaults(key: r.string(), declared: r.bool(), recorded: r.bool(), declaredAt: r.string(), recordedAt: r.string())
    case 2: return .unexpectedSite(key: r.string(), site: CodeLocation(r.uint()), expected: r.byteArray(), found: r.byteArray())
    case 3: return .underflow(key: r.string())
    case 4: return .heldBy(key: r.string(), holders: r.holders())
    case 5: return .reentrantControl(key: r.string())
    case 6: return .patch(key: r.string(), TextPokeError.decode(&r))
    case 7: return .foreignRuntime(image: r.string(), abi: UInt32(truncatingIfNeeded: r.int()))
    case 8: return .fallbackInOptimizedCode(key: r.string(), hits: r.int(), image: r.string())
    case 9: return .notHeld(key: r.string(), holder: r.holder())
    case 11: return .tooManyUndeclared(key: r.string(), limit: r.int())
    default: return .declaredKey(r.string())
    }
  }
}

extension WireWriter {
  mutating func holder(_ h: StaticKeyHolder) { string(h.kind.rawValue); string(h.id) }
  mutating func holders(_ v: [StaticKeyHolder: Int]) {
    int(v.count)
    for (h, n) in v.sorted(by: { $0.key < $1.key }) { holder(h); int(n) }
  }
  mutating func cost(_ c: StaticKeyBatchCost?) {
    bool(c != nil)
    if let c { int(c.sitesPatched); string(c.protocol); int(c.syncs); u64(c.nanoseconds) }
  }
}

extension WireReader {
  mutating func holder() -> StaticKeyHolder {
    let kind = StaticKeyHolder.Kind(rawValue: string()) ?? .code
    return StaticKeyHolder(kind, id: string())
  }
  mutating func holders() -> [StaticKeyHolder: Int] {
    var out: [StaticKeyHolder: Int] = [:]
    for _ in 0..<Swift.max(0, int()) { let h = holder(); out[h] = int() }
    return out
  }
  mutating func cost() -> StaticKeyBatchCost? {
    guard bool() else { return nil }
    return StaticKeyBatchCost(sitesPatched: int(), protocol: string(), syncs: int(), nanoseconds: u64())
  }
}

extension StaticKeyInfo {
  func encode(_ w: inout WireWriter) {
    w.string(name); w.bool(state); w.int(count); w.int(sites); w.bool(defaultValue); w.int(fallbackHits)
    w.int(fallbackHitsInOptimizedCode); w.bool(isTracepoint); w.bool(declared); w.optionalString(problem)
    w.holders(holders); w.optionalString(forcedOff)
  }

  static func decode(_ r: inout WireReader) -> StaticKeyInfo {
    let (name, state, count, sites, dflt) = (r.string(), r.bool(), r.int(), r.int(), r.bool())
    let (hits, optimized, tracepoint, declared) = (r.int(), r.int(), r.bool(), r.bool())
    var i = StaticKeyInfo(
      name: name, state: state, count: count, sites: sites, defaultValue: dflt, fallbackHits: hits,
      fallbackHitsInOptimizedCode: optimized, isTracepoint: tracepoint, problem: r.optionalString())
    i.declared = declared
    i.holders = r.holders()
    i.forcedOff = r.optionalString()
    return i
  }
}

extension StaticKeySite {
  func encode(_ w: inout WireWriter) {
    w.string(key); w.uint(address); w.uint(target); w.bool(likely); w.string(image)
  }

  static func decode(_ r: inout WireReader) -> StaticKeySite {
    StaticKeySite(key: r.string(), address: r.uint(), target: r.uint(), likely: r.bool(), image: r.string())
  }
}

extension Array {
  func encode(_ w: inout WireWriter, _ element: (Element, inout WireWriter) -> Void) {
    w.int(count)
    for e in self { element(e, &w) }
  }

  static func decode(_ r: inout WireReader, _ element: (inout WireReader) -> Element) -> [Element] {
    let n = r.int()
    var out: [Element] = []
    for _ in 0..<Swift.max(0, n) { out.append(element(&r)) }
    return out
  }
}
