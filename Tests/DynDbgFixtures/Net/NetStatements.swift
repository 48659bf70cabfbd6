import JumpLabel

// Debug statements of the tests' second module (see CacheStatements.swift).

/// A frame decoder with a debug statement per frame.
public enum DynDbgNet {
  @inline(never)
  public static func decode(_ frame: Int) -> Int {
    debug("frame", "\(frame)")
    return frame &+ 1
  }
}
