import CTextPoke

/// What the calling thread is in the middle of, as far as the runtime is
/// concerned (Sources/CTextPoke/thread_marks.c explains why this exists).
///
/// Entry points call ``enter(_:)`` before they touch a lock or a lazily
/// initialised global and ``leave(_:)`` after they have released
/// everything. An entry point whose mark is already set was re-entered on
/// the same thread, by a signal handler or by code the runtime itself runs,
/// and must refuse rather than wait for itself.
package enum ThreadMarks {
  /// Inside a TextPoke entry point.
  package static let engine = UInt32(TP_MARK_ENGINE)
  /// Inside a JumpLabel entry point (the engine's client).
  package static let client = UInt32(TP_MARK_CLIENT)
  /// Holds, or is about to take, one of the runtime's locks.
  package static let anyLock = UInt32(TP_MARK_LOCKS)

  /// The mark of lock slot `slot` (0...3).
  static func lock(_ slot: Int) -> UInt32 { UInt32(2) << UInt32(slot) }

  /// Sets `mark`; false (and nothing changed) if it was already set.
  @inline(__always)
  package static func enter(_ mark: UInt32) -> Bool { tp_marks_add(mark) & mark == 0 }

  /// Sets `mark` and returns whether it was set before; for internal paths
  /// that may legitimately nest (call ``leave(_:)`` only if it returned false).
  @inline(__always)
  package static func add(_ mark: UInt32) -> Bool { tp_marks_add(mark) & mark != 0 }

  /// Clears `mark`.
  @inline(__always)
  package static func leave(_ mark: UInt32) { tp_marks_remove(mark) }

  /// True if any bit of `mark` is set for the calling thread.
  @inline(__always)
  package static func isSet(_ mark: UInt32) -> Bool { tp_marks_get() & mark != 0 }
}
