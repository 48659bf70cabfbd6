import Glibc
import Hummingbird
import JumpLabel
import JumpLabelHummingbird
import JumpLabelLogging
import Logging
import JumpLabelTracing
import Synchronization

/// The service's routes. Everything behind a key costs a NOP while the key
/// is off.
func buildRouter() -> Router<BasicRequestContext> {
  let router = Router()
  let log = Logger(label: "jumplabel-sample.items")
  // Innermost middleware: sees the matched route (`/items/:id`).
  router.add(middleware: RequestTracepointMiddleware())

  router.get("/health") { _, _ in "ok" }

  router.get("/items/:id") { _, context -> Response in
    let id = try context.parameters.require("id", as: Int.self)
    // A span only while `sample.items.spans` is on; `span` is nil when off.
    let name = withSpan(if: .itemSpans, "items.lookup") { span in
      span?.attributes["item.id"] = id
      return "item \(id)"
    }
    if StaticKey.countLookups.isEnabled { HotItems.count(id) }
    // A debug statement: a NOP until a query switches it on
    // (`"jumplabel": {"dyndbg": "format lookup +p"}`, or `ctl debug`).
    debug("lookup", "item \(id) -> \(name)")
    // A log call site on a NOP: on while the module's (or the label's)
    // live level is debug or lower (`"jumplabel": {"log": {"modules":
    // {"JumpLabelSample": "debug"}}}`, or `ctl log`).
    log.live.debug("served item \(id)")
    var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: name)))
    if StaticKey.itemDiagnostics.isEnabled {
      response.headers[.init("x-diagnostics")!] = "pid \(getpid()) item \(id)"
    }
    return response
  }

  // Diagnostics for operators and for the load test: the keys and, per
  // key, whether every site holds the instruction its state asks for.
  router.get("/debug/keys") { _, _ -> String in
    StaticKeys.list().filter { $0.name.hasPrefix("sample.") || $0.name.hasPrefix("hummingbird.") }
      .map { k in
        let sites = (try? StaticKeys.sites(named: k.name)) ?? []
        let nops = sites.filter { $0.currentBytes == StaticKeySite.nop5 }.count
        let right = sites.filter { $0.currentBytes == $0.expectedBytes(enabled: k.state) }.count
        return "\(k.name) \(k.state ? "on" : "off") sites=\(sites.count) nops=\(nops) matching=\(right)\n"
      }.joined()
  }
  router.get("/debug/hot-items") { _, _ in HotItems.report() }
  return router
}

/// Lookup counts, kept only while `sample.items.count-lookups` is on.
enum HotItems {
  static let counts = Mutex<[Int: Int]>([:])
  static func count(_ id: Int) { counts.withLock { $0[id, default: 0] += 1 } }
  static func report() -> String {
    counts.withLock { $0.sorted { $0.value > $1.value }.prefix(10).map { "\($0.key) \($0.value)\n" }.joined() }
  }
}
