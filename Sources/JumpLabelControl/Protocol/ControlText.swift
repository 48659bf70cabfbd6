/// The bounds of the control channel, in one place (the security model,
/// ControlSecurity.md, lists them with the threat each one stops).
public enum ControlLimits {
  /// The longest key name or pattern a request may carry, in UTF-8 bytes.
  public static let maxNameBytes = 1024
  /// Text of a request echoed in an error is cut to this many bytes
  /// (then escaped, so the echo is at most four times as long).
  public static let quotedBytes = 200
  /// A list entry's payload type and problem are cut to this many bytes.
  public static let maxEntryTextBytes = 1024
  /// Replies are packed into parts of at most this many body bytes (a
  /// frame's body holds 65,520; the rest is slack for the part's header).
  public static let partBytes = 60 * 1024
}

/// Names are data, never markup: what a key name or pattern may hold,
/// and how text from a peer is made safe to print or log.
///
/// A name is 1 to ``ControlLimits/maxNameBytes`` bytes of UTF-8 with
/// none of these scalars (``isForbidden(_:)``):
/// - C0 controls U+0000–U+001F (NUL, TAB, LF, CR, ESC, ...) and DEL U+007F;
/// - C1 controls U+0080–U+009F (8-bit CSI and friends);
/// - line and paragraph separators U+2028, U+2029;
/// - bidirectional formatting U+200E, U+200F, U+202A–U+202E, U+2066–U+2069
///   (they reorder what a terminal shows);
/// - U+FEFF (zero-width no-break space / byte-order mark).
/// Everything else (letters of any script, digits, punctuation, spaces)
/// is allowed.
public enum ControlText {
  /// True for the scalars a name may not hold (see the type's comment).
  public static func isForbidden(_ u: Unicode.Scalar) -> Bool {
    switch u.value {
    case 0x00...0x1F, 0x7F, 0x80...0x9F: return true
    case 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0xFEFF: return true
    default: return false
    }
  }

  /// Why `name` is not a valid key name or pattern, or nil if it is.
  /// The reason quotes the name cut and escaped.
  public static func problem(withName name: String, what: String = "name") -> String? {
    let n = name.utf8.count
    if n == 0 { return "empty \(what)" }
    if n > ControlLimits.maxNameBytes {
      return "\(what) \(quoted(name)) is \(n) bytes long; at most \(ControlLimits.maxNameBytes) are allowed"
    }
    if let bad = name.unicodeScalars.first(where: isForbidden) {
      return "\(what) \(quoted(name)) holds the control character U+\(hex(bad.value, 4)); names may not hold C0/C1 controls, DEL, line separators or bidirectional formatting characters"
    }
    return nil
  }

  /// `s` with every forbidden scalar and every backslash escaped
  /// (`\n`, `\r`, `\t`, `\e`, `\\`, `\xNN` below U+0100, `\u{NNNN}`
  /// above): the result holds no control character and prints as one line.
  public static func escaped(_ s: String) -> String {
    guard s.unicodeScalars.contains(where: { isForbidden($0) || $0 == "\\" }) else { return s }
    var out = String.UnicodeScalarView()
    for u in s.unicodeScalars {
      if u == "\\" {
        out.append(contentsOf: "\\\\".unicodeScalars)
      } else if isForbidden(u) {
        let e: String
        switch u.value {
        case 0x0A: e = "\\n"
        case 0x0D: e = "\\r"
        case 0x09: e = "\\t"
        case 0x1B: e = "\\e"
        case 0..<0x100: e = "\\x" + hex(u.value, 2)
        default: e = "\\u{" + hex(u.value, 4) + "}"
        }
        out.append(contentsOf: e.unicodeScalars)
      } else {
        out.append(u)
      }
    }
    return String(out)
  }

  /// `s` cut to at most `limit` UTF-8 bytes (at a scalar boundary).
  public static func cut(_ s: String, to limit: Int) -> String {
    if s.utf8.count <= limit { return s }
    var out = String.UnicodeScalarView()
    var n = 0
    for u in s.unicodeScalars {
      let w = String(u).utf8.count
      if n + w > limit { break }
      out.append(u)
      n += w
    }
    return String(out)
  }

  /// `s` for an error message: cut to ``ControlLimits/quotedBytes``,
  /// escaped, in single quotes, and "(N bytes)" after it if it was cut.
  public static func quoted(_ s: String, limit: Int = ControlLimits.quotedBytes) -> String {
    let n = s.utf8.count
    let head = "'" + escaped(cut(s, to: limit)) + "'"
    return n > limit ? head + "... (\(n) bytes)" : head
  }

  /// Several patterns quoted, the whole list bounded too (at most eight
  /// shown, and how many more).
  public static func quoted(_ list: [String]) -> String {
    let shown = list.prefix(8).map { quoted($0) }.joined(separator: " ")
    return list.count > 8 ? shown + " (and \(list.count - 8) more)" : shown
  }

  static func hex(_ v: UInt32, _ width: Int) -> String {
    let h = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, width - h.count)) + h
  }
}
