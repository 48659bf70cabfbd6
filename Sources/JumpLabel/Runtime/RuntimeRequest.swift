import TextPoke

/// A control or query call, as one runtime copy asks it of the primary.
/// The primary runs its own calls through the same `perform`, unencoded.
enum RuntimeRequest: Sendable {
  case control(ControlOperation, KeyReference)
  case list
  case info(String)
  case sites(String)
  case verify
  case problems
  case patchingProblem
  case images
  /// Several keys in one batch (KeyRegistry+Batch.swift); `force`: the
  /// reason of a forced disable.
  case setMany(names: [String], enabled: Bool, undeclared: Bool, dryRun: Bool, force: String?)
  /// A decrement deferred by `nanoseconds` (DeferredDecrements.swift).
  case decrementDeferred(KeyReference, nanoseconds: UInt64)
  /// A holder's share (Holders/).
  case hold(KeyReference, StaticKeyHolder)
  /// A holder's release, deferred by `nanoseconds` if it would disable.
  case release(KeyReference, StaticKeyHolder, nanoseconds: UInt64)
  /// A deferred release that is due (the deferral thread, in the primary).
  case releaseDue(KeyReference, StaticKeyHolder)
  /// Why a forced disable dropped `holder`'s share of the key, if it did.
  case droppedReason(String, StaticKeyHolder)
  /// Forgets remembered states of undeclared names.
  case forget([String])
  /// An enabled debug statement's message, printed by the primary (which
  /// keeps the decorations and the output: DynamicDebug/DebugOutput.swift).
  case debugEmit(name: String, message: String)

  /// The key a request is about, for a refusal ("" if none).
  var keyName: String {
    switch self {
    case let .control(_, key): return key.name
    case let .info(name), let .sites(name): return name
    case let .setMany(names, _, _, _, _): return names.first ?? ""
    case let .forget(names): return names.first ?? ""
    case let .decrementDeferred(key, _), let .hold(key, _), let .release(key, _, _), let .releaseDue(key, _): return key.name
    case let .droppedReason(name, _): return name
    default: return ""
    }
  }

  /// The boolean and counting forms of a control call.
  enum ControlOperation: UInt8, Sendable {
    case enable, disable, increment, decrement
  }

  func encode(_ w: inout WireWriter) {
    switch self {
    case let .control(op, key): w.u8(0); w.u8(op.rawValue); w.string(key.name); w.optionalBool(key.defaultValue)
    case .list: w.u8(1)
    case let .info(name): w.u8(2); w.string(name)
    case let .sites(name): w.u8(3); w.string(name)
    case .verify: w.u8(4)
    case .problems: w.u8(5)
    case .patchingProblem: w.u8(6)
    case .images: w.u8(7)
    case let .setMany(names, enabled, undeclared, dryRun, force):
      w.u8(8); names.encode(&w) { $1.string($0) }; w.bool(enabled); w.bool(undeclared); w.bool(dryRun); w.optionalString(force)
    case let .decrementDeferred(key, ns): w.u8(9); w.key(key); w.u64(ns)
    case let .hold(key, h): w.u8(10); w.key(key); w.holder(h)
    case let .release(key, h, ns): w.u8(11); w.key(key); w.holder(h); w.u64(ns)
    case let .releaseDue(key, h): w.u8(12); w.key(key); w.holder(h)
    case let .droppedReason(name, h): w.u8(13); w.string(name); w.holder(h)
    case let .forget(names): w.u8(14); names.encode(&w) { $1.string($0) }
    case let .debugEmit(name, message): w.u8(15); w.string(name); w.string(message)
    }
  }

  static func decode(_ r: inout WireReader) -> RuntimeRequest {
    switch r.u8() {
    case 0:
      let raw = r.u8()
      guard let op = ControlOperation(rawValue: raw) else { preconditionFailure("JumpLabel: unknown control operation \(raw)") }
      return .control(op, KeyReference(name: r.string(), defaultValue: r.optionalBool()))
    case 1: return .list
    case 2: return .info(r.string())
    case 3: return .sites(r.string())
    case 4: return .verify
    case 5: return .problems
    case 6: return .patchingProblem
    case 7: return .images
    case 8:
      return .setMany(names: .decode(&r) { $0.string() }, enabled: r.bool(), undeclared: r.bool(), dryRun: r.bool(), force: r.optionalString())
    case 9: return .decrementDeferred(r.key(), nanoseconds: r.u64())
    case 10: return .hold(r.key(), r.holder())
    case 11: return .release(r.key(), r.holder(), nanoseconds: r.u64())
    case 12: return .releaseDue(r.key(), r.holder())
    case 13: return .droppedReason(r.string(), r.holder())
    case 14: return .forget(.decode(&r) { $0.string() })
    case 15: return .debugEmit(name: r.string(), message: r.string())
    case let tag: preconditionFailure("JumpLabel: unknown request \(tag) from another runtime copy of the same ABI")
    }
  }

  /// Runs the request in this copy's registry (the primary's).
  func performLocally() -> RuntimeReply {
    let registry = KeyRegistry.shared
    do throws(JumpLabelError) {
      switch self {
      case let .control(op, key):
        try registry.withKey(key) { (r) throws(JumpLabelError) in
          switch op {
          case .enable: _ = try registry.switchLocked([r], enabled: true, dryRun: false, force: nil)
          case .disable: _ = try registry.switchLocked([r], enabled: false, dryRun: false, force: nil)
          case .increment: try registry.incrementLocked(r)
          case .decrement: try registry.decrementAnonymousLocked(r)
          }
        }
        return .done
      case .list:
        return .infos(registry.list())
      case let .info(name):
        return .infos([try registry.withKey(KeyReference(name: name, defaultValue: nil)) { registry.infoLocked($0) }.info])
      case let .sites(name):
        return .sites(try registry.sites(named: name))
      case .verify:
        return .errors(registry.verifyAll())
      case .problems:
        return .errors(registry.allProblems())
      case .patchingProblem:
        return .text(TextPoke.patchingProblem())
      case .images:
        return .images(registry.indexedImages().map { StaticKeyImage(path: $0.image, sites: $0.sites, pinned: $0.pinned) })
      case let .setMany(names, enabled, undeclared, dryRun, force):
        registry.ensureLoaded()
        guard let outcome = try registry.lock.withLockUnlessReentrant({ () throws(JumpLabelError) in
          try registry.setManyLocked(names, enabled: enabled, undeclared: undeclared, dryRun: dryRun, force: force)
        }) else { throw .reentrantControl(key: names.first ?? "") }
        // Observers (probe lists) may take their own locks and wait for
        // emitters: only now that the registry lock is released.
        DroppedHoldObservers.notify(outcome.drops)
        return .changes(outcome.changes)
      case let .decrementDeferred(key, ns):
        try registry.decrementDeferred(key, nanoseconds: ns)
        return .done
      case let .hold(key, holder):
        try registry.withKey(key) { (r) throws(JumpLabelError) in try registry.holdLocked(r, by: holder) }
        return .done
      case let .release(key, holder, ns):
        return .flag(try registry.withKey(key) { (r) throws(JumpLabelError) in
          try registry.releaseDeferredLocked(r, by: holder, nanoseconds: ns)
        })
      case let .releaseDue(key, holder):
        try registry.withKey(key) { (r) throws(JumpLabelError) in try registry.releaseDueLocked(r, by: holder) }
        return .done
      case let .droppedReason(name, holder):
        return .text(try registry.withKey(KeyReference(name: name, defaultValue: nil)) { $0.book.dropped[holder] })
      case let .forget(names):
        return .names(try registry.forget(names))
      case let .debugEmit(name, message):
        DebugOutput.emitHere(keyName: name, message: message)
        return .done
      }
    } catch {
      return .failed(error)
    }
  }
}

extension WireWriter {
  mutating func key(_ k: KeyReference) { string(k.name); optionalBool(k.defaultValue) }
}

extension WireReader {
  mutating func key() -> KeyReference { KeyReference(name: string(), defaultValue: optionalBool()) }
}

/// The answer to a `RuntimeRequest`.
enum RuntimeReply: Sendable {
  case done
  case failed(JumpLabelError)
  case infos([StaticKeyInfo])
  case sites([StaticKeySite])
  case errors([JumpLabelError])
  case text(String?)
  case images([StaticKeyImage])
  case changes([StaticKeyChange])
  case flag(Bool)
  case names([String])

  func encode(_ w: inout WireWriter) {
    switch self {
    case .done: w.u8(0)
    case let .failed(e): w.u8(1); e.encode(&w)
    case let .infos(v): w.u8(2); v.encode(&w) { $0.encode(&$1) }
    case let .sites(v): w.u8(3); v.encode(&w) { $0.encode(&$1) }
    case let .errors(v): w.u8(4); v.encode(&w) { $0.encode(&$1) }
    case let .text(v): w.u8(5); w.optionalString(v)
    case let .images(v): w.u8(6); v.encode(&w) { i, w in w.string(i.path); w.int(i.sites); w.bool(i.pinned) }
    case let .changes(v):
      w.u8(7); v.encode(&w) { c, w in w.string(c.name); w.bool(c.before); w.bool(c.after); w.bool(c.declared); w.cost(c.cost) }
    case let .flag(v): w.u8(8); w.bool(v)
    case let .names(v): w.u8(9); v.encode(&w) { $1.string($0) }
    }
  }

  static func decode(_ r: inout WireReader) -> RuntimeReply {
    switch r.u8() {
    case 0: return .done
    case 1: return .failed(JumpLabelError.decode(&r))
    case 2: return .infos(.decode(&r) { StaticKeyInfo.decode(&$0) })
    case 3: return .sites(.decode(&r) { StaticKeySite.decode(&$0) })
    case 4: return .errors(.decode(&r) { JumpLabelError.decode(&$0) })
    case 5: return .text(r.optionalString())
    case 6: return .images(.decode(&r) { StaticKeyImage(path: $0.string(), sites: $0.int(), pinned: $0.bool()) })
    case 7:
      return .changes(.decode(&r) { r in
        var c = StaticKeyChange(name: r.string(), before: r.bool(), after: r.bool(), declared: r.bool())
        c.cost = r.cost()
        return c
      })
    case 8: return .flag(r.bool())
    default: return .names(.decode(&r) { $0.string() })
    }
  }

  /// Throws a failure; otherwise returns the reply.
  func get() throws(JumpLabelError) -> RuntimeReply {
    if case let .failed(e) = self { throw e }
    return self
  }
}
