import CTracepoints

/// The arguments of a USDT probe point: one of `USDTArguments0` ...
/// `USDTArguments6`, holding up to six integers, `Bool`s and strings.
///
/// ``USDTPayload/usdtArguments`` returns one; the emit site, where the
/// tracepoint's name is a constant, turns it into the probe point.
public protocol USDTArgumentList {
  /// Runs the probe point of the tracepoint `name` with these arguments:
  /// the argument registers, then a NOP that a tracer's breakpoint
  /// replaces. Must be inlined where `name` is a literal; returns 1 if the
  /// probe point was compiled, 0 if it could not be, -1 in a build
  /// without probe points.
  ///
  /// Public only so that code inlined into other modules can reach it;
  /// not API: do not call it, it may change in any release.
  func _fire(_ name: StaticString) -> Int32
}

// USDTArguments1...6 below are the same code for each arity: each
// argument's 64-bit value is made inside its `_withUSDTValue` closure (a
// string's pointer lives only there), and the innermost closure runs the
// probe point. Every level is inlined, so that the C function sees the
// name and the sizes as constants.

/// A probe point with no arguments.
public struct USDTArguments0 {
  /// The arguments, in order.
  @inlinable @inline(__always)
  public init() {}
}

extension USDTArguments0: USDTArgumentList {
  @inlinable @inline(__always)
  public func _fire(_ name: StaticString) -> Int32 {
    guard name.hasPointerRepresentation else { return 0 }
    return jl_usdt_probe0(UnsafeRawPointer(name.utf8Start), name.utf8CodeUnitCount)
  }
}

/// A probe point with one argument.
public struct USDTArguments1<A: USDTArgument> {
  /// Argument 0 (`arg0` in bpftrace).
  public var a0: A
  /// The arguments, in order.
  @inlinable @inline(__always)
  public init(_ a0: A) {
    self.a0 = a0
  }
}

extension USDTArguments1: USDTArgumentList {
  @inlinable @inline(__always)
  public func _fire(_ name: StaticString) -> Int32 {
    guard name.hasPointerRepresentation else { return 0 }
    return a0._withUSDTValue { v0 in
      jl_usdt_probe1(UnsafeRawPointer(name.utf8Start), name.utf8CodeUnitCount, A._usdtSize, v0)
    }
  }
}

/// A probe point with 2 arguments.
public struct USDTArguments2<A: USDTArgument, B: USDTArgument> {
  /// Argument 0 (`arg0` in bpftrace).
  public var a0: A
  /// Argument 1 (`arg1` in bpftrace).
  public var a1: B
  /// The arguments, in order.
  @inlinable @inline(__always)
  public init(_ a0: A, _ a1: B) {
    self.a0 = a0
    self.a1 = a1
  }
}

extension USDTArguments2: USDTArgumentList {
  @inlinable @inline(__always)
  public func _fire(_ name: StaticString) -> Int32 {
    guard name.hasPointerRepresentation else { return 0 }
    return a0._withUSDTValue { v0 in
      a1._withUSDTValue { v1 in
        jl_usdt_probe2(UnsafeRawPointer(name.utf8Start), name.utf8CodeUnitCount, A._usdtSize, v0, B._usdtSize, v1)
      }
    }
  }
}

/// A probe point with 3 arguments.
public struct USDTArguments3<A: USDTArgument, B: USDTArgument, C: USDTArgument> {
  /// Argument 0 (`arg0` in bpftrace).
  public var a0: A
  /// Argument 1 (`arg1` in bpftrace).
  public var a1: B
  /// Argument 2 (`arg2` in bpftrace).
  public var a2: C
  /// The arguments, in order.
  @inlinable @inline(__always)
  public init(_ a0: A, _ a1: B, _ a2: C) {
    self.a0 = a0
    self.a1 = a1
    self.a2 = a2
  }
}

extension USDTArguments3: USDTArgumentList {
  @inlinable @inline(__always)
  public func _fire(_ name: StaticString) -> Int32 {
    guard name.hasPointerRepresentation else { return 0 }
    return a0._withUSDTValue { v0 in
      a1._withUSDTValue { v1 in
        a2._withUSDTValue { v2 in
          jl_usdt_probe3(UnsafeRawPointer(name.utf8Start), name.utf8CodeUnitCount, A._usdtSize, v0, B._usdtSize, v1, C._usdtSize, v2)
        }
      }
    }
  }
}

/// A probe point with 4 arguments.
public struct USDTArguments4<A: USDTArgument, B: USDTArgument, C: USDTArgument, D: USDTArgument> {
  /// Argument 0 (`arg0` in bpftrace).
  public var a0: A
  /// Argument 1 (`arg1` in bpftrace).
  public var a1: B
  /// Argument 2 (`arg2` in bpftrace).
  public var a2: C
  /// Argument 3 (`arg3` in bpftrace).
  public var a3: D
  /// The arguments, in order.
  @inlinable @inline(__always)
  public init(_ a0: A, _ a1: B, _ a2: C, _ a3: D) {
    self.a0 = a0
    self.a1 = a1
    self.a2 = a2
    self.a3 = a3
  }
}

extension USDTArguments4: USDTArgumentList {
  @inlinable @inline(__always)
  public func _fire(_ name: StaticString) -> Int32 {
    guard name.hasPointerRepresentation else { return 0 }
    return a0._withUSDTValue { v0 in
      a1._withUSDTValue { v1 in
        a2._withUSDTValue { v2 in
          a3._withUSDTValue { v3 in
            jl_usdt_probe4(UnsafeRawPointer(name.utf8Start), name.utf8CodeUnitCount, A._usdtSize, v0, B._usdtSize, v1, C._usdtSize, v2, D._usdtSize, v3)
          }
        }
      }
    }
  }
}

/// A probe point with 5 arguments.
public struct USDTArguments5<A: USDTArgument, B: USDTArgument, C: USDTArgument, D: USDTArgument, E: USDTArgument> {
  /// Argument 0 (`arg0` in bpftrace).
  public var a0: A
  /// Argument 1 (`arg1` in bpftrace).
  public var a1: B
  /// Argument 2 (`arg2` in bpftrace).
  public var a2: C
  /// Argument 3 (`arg3` in bpftrace).
  public var a3: D
  /// Argument 4 (`arg4` in bpftrace).
  public var a4: E
  /// The arguments, in order.
  @inlinable @inline(__always)
  public init(_ a0: A, _ a1: B, _ a2: C, _ a3: D, _ a4: E) {
    self.a0 = a0
    self.a1 = a1
    self.a2 = a2
    self.a3 = a3
    self.a4 = a4
  }
}

extension USDTArguments5: USDTArgumentList {
  @inlinable @inline(__always)
  public func _fire(_ name: StaticString) -> Int32 {
    guard name.hasPointerRepresentation else { return 0 }
    return a0._withUSDTValue { v0 in
      a1._withUSDTValue { v1 in
        a2._withUSDTValue { v2 in
          a3._withUSDTValue { v3 in
            a4._withUSDTValue { v4 in
              jl_usdt_probe5(UnsafeRawPointer(name.utf8Start), name.utf8CodeUnitCount, A._usdtSize, v0, B._usdtSize, v1, C._usdtSize, v2, D._usdtSize, v3, E._usdtSize, v4)
            }
          }
        }
      }
    }
  }
}

/// A probe point with 6 arguments.
public struct USDTArguments6<A: USDTArgument, B: USDTArgument, C: USDTArgument, D: USDTArgument, E: USDTArgument, F: USDTArgument> {
  /// Argument 0 (`arg0` in bpftrace).
  public var a0: A
  /// Argument 1 (`arg1` in bpftrace).
  public var a1: B
  /// Argument 2 (`arg2` in bpftrace).
  public var a2: C
  /// Argument 3 (`arg3` in bpftrace).
  public var a3: D
  /// Argument 4 (`arg4` in bpftrace).
  public var a4: E
  /// Argument 5 (`arg5` in bpftrace).
  public var a5: F
  /// The arguments, in order.
  @inlinable @inline(__always)
  public init(_ a0: A, _ a1: B, _ a2: C, _ a3: D, _ a4: E, _ a5: F) {
    self.a0 = a0
    self.a1 = a1
    self.a2 = a2
    self.a3 = a3
    self.a4 = a4
    self.a5 = a5
  }
}

extension USDTArguments6: USDTArgumentList {
  @inlinable @inline(__always)
  public func _fire(_ name: StaticString) -> Int32 {
    guard name.hasPointerRepresentation else { return 0 }
    return a0._withUSDTValue { v0 in
      a1._withUSDTValue { v1 in
        a2._withUSDTValue { v2 in
          a3._withUSDTValue { v3 in
            a4._withUSDTValue { v4 in
              a5._withUSDTValue { v5 in
                jl_usdt_probe6(UnsafeRawPointer(name.utf8Start), name.utf8CodeUnitCount, A._usdtSize, v0, B._usdtSize, v1, C._usdtSize, v2, D._usdtSize, v3, E._usdtSize, v4, F._usdtSize, v5)
              }
            }
          }
        }
      }
    }
  }
}
