import Glibc
import Hummingbird
import JumpLabel
import JumpLabelControl
import JumpLabelHummingbird
import Logging

// The service of Scripts/service-bench, one variant per run:
//
//     jumplabel-service-bench-server VARIANT PORT
//
// none       no instrumentation
// jumplabel  RequestTracepointMiddleware and a key-guarded diagnostic, all
//            off (trace it with `ctl trace` or bpftrace for the "on" rows)
// tracing    Hummingbird's TracingMiddleware, no tracer bootstrapped
// metrics    Hummingbird's MetricsMiddleware, no metrics backend
// log        LogRequestsMiddleware(.debug) below the logger's level (info)
//
// Every variant serves the same `/items/:id` handler.

extension StaticKey {
  @inlinable static var benchDiagnostics: StaticKey { StaticKey("bench.items.diagnostics") }
}

@main
struct BenchServer {
  static func main() async throws {
    let args = CommandLine.arguments
    if args.count == 4, args[1] == "micro", let rounds = Int(args[2]), let n = Int(args[3]) {
      try await Micro.run(rounds: rounds, iterations: n)
      return
    }
    guard args.count == 3, let port = Int(args[2]) else {
      print("usage: jumplabel-service-bench-server none|jumplabel|tracing|metrics|log PORT | micro ROUNDS ITERATIONS")
      exit(2)
    }
    var logger = Logger(label: "bench")
    logger.logLevel = .info
    let router = Router()
    switch args[1] {
    case "none": break
    case "jumplabel":
      _ = try JumpLabelControl.start()
      router.add(middleware: RequestTracepointMiddleware())
    case "tracing": router.add(middleware: TracingMiddleware())
    case "metrics": router.add(middleware: MetricsMiddleware())
    case "log": router.add(middleware: LogRequestsMiddleware(.debug))
    default:
      print("unknown variant \(args[1])")
      exit(2)
    }
    router.get("/items/:id") { _, context -> String in
      let id = try context.parameters.require("id", as: Int.self)
      if StaticKey.benchDiagnostics.isEnabled { print("diagnostics for item \(id)") }
      return "item \(id)"
    }
    let app = Application(
      router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
      onServerRunning: { _ in print("ready"); fflush(nil) }, logger: logger)
    try await app.runService()
  }
}
