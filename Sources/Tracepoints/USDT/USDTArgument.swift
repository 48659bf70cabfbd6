/// A value that a USDT probe point hands to tracers: an integer of any
/// width, a `Bool`, or a string (as a pointer to its NUL-terminated UTF-8
/// bytes, which bpftrace reads with `str(argN)`).
///
/// The conformances are the library's; the requirements are not for
/// callers.
public protocol USDTArgument {
  /// The argument's size in the USDT convention: bytes, negative if signed.
  ///
  /// Public only so that code inlined into other modules can reach it;
  /// not API: do not call it, it may change in any release.
  static var _usdtSize: Int { get }
  /// Calls `body` with the argument as 64 bits (a string's pointer is valid
  /// inside `body` only).
  ///
  /// Public only so that code inlined into other modules can reach it;
  /// not API: do not call it, it may change in any release.
  func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R
}

extension Int: USDTArgument {
  @inlinable public static var _usdtSize: Int { -8 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(UInt64(bitPattern: Int64(self))) }
}

extension Int64: USDTArgument {
  @inlinable public static var _usdtSize: Int { -8 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(UInt64(bitPattern: self)) }
}

extension Int32: USDTArgument {
  @inlinable public static var _usdtSize: Int { -4 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(UInt64(bitPattern: Int64(self))) }
}

extension Int16: USDTArgument {
  @inlinable public static var _usdtSize: Int { -2 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(UInt64(bitPattern: Int64(self))) }
}

extension Int8: USDTArgument {
  @inlinable public static var _usdtSize: Int { -1 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(UInt64(bitPattern: Int64(self))) }
}

extension UInt: USDTArgument {
  @inlinable public static var _usdtSize: Int { 8 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(UInt64(self)) }
}

extension UInt64: USDTArgument {
  @inlinable public static var _usdtSize: Int { 8 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(self) }
}

extension UInt32: USDTArgument {
  @inlinable public static var _usdtSize: Int { 4 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(UInt64(self)) }
}

extension UInt16: USDTArgument {
  @inlinable public static var _usdtSize: Int { 2 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(UInt64(self)) }
}

extension UInt8: USDTArgument {
  @inlinable public static var _usdtSize: Int { 1 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(UInt64(self)) }
}

extension Bool: USDTArgument {
  @inlinable public static var _usdtSize: Int { 1 }
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(self ? 1 : 0) }
}

extension String: USDTArgument {
  @inlinable public static var _usdtSize: Int { 8 }
  /// A NUL-terminated copy of the string's UTF-8 bytes (one allocation;
  /// arguments are made only while a tracer is attached). Not `withCString`: its closure is
  /// compiled out of line, and the probe point inside it would no longer
  /// see its name as a constant.
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R {
    utf8CString.withUnsafeBufferPointer { body(UInt64(UInt(bitPattern: $0.baseAddress))) }
  }
}

extension StaticString: USDTArgument {
  @inlinable public static var _usdtSize: Int { 8 }
  /// A literal's bytes are NUL-terminated in the binary: no copy.
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R {
    if hasPointerRepresentation { return body(UInt64(UInt(bitPattern: utf8Start))) }
    return description.withCString { body(UInt64(UInt(bitPattern: $0))) }
  }
}

extension UnsafePointer: USDTArgument where Pointee == CChar {
  @inlinable public static var _usdtSize: Int { 8 }
  /// A C string, passed as is.
  @inlinable @inline(__always) public func _withUSDTValue<R>(_ body: (UInt64) -> R) -> R { body(UInt64(UInt(bitPattern: self))) }
}
