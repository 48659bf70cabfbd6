/// Formats timestamps as RFC 3339 in UTC with nanoseconds, without
/// Foundation: "2026-12-03T12:18:51.123456789Z".
public enum TimeFormat {
  /// `t` nanoseconds since the Unix epoch, as RFC 3339 UTC.
  public static func rfc3339(nanoseconds t: Int64) -> String { RFC3339.format(nanoseconds: t) }
}

enum RFC3339 {
  static func format(nanoseconds t: Int64) -> String {
    let secs = t >= 0 ? t / 1_000_000_000 : (t - 999_999_999) / 1_000_000_000
    let nanos = t - secs * 1_000_000_000
    var days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
    let rem = secs - days * 86_400
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    days += 719_468
    let era = (days >= 0 ? days : days - 146_096) / 146_097
    let doe = days - era * 146_097
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
    func pad(_ v: Int64, _ n: Int) -> String {
      let s = String(v)
      return String(repeating: "0", count: max(0, n - s.count)) + s
    }
    return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2)).\(pad(nanos, 9))Z"
  }
}
