import Foundation
import Testing

/// Where the binaries are.
enum Paths {
  /// The build directory of this test binary, which holds the sample.
  static var buildDirectory: String {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
  }

  /// The root package (four levels above this file's directory).
  static var root: String {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.deletingLastPathComponent().path
  }

  /// The real `jumplabel` CLI, built in release in the root package, as a
  /// user builds it.
  static func cli() throws -> String {
    let r = try Child.run("/usr/bin/env", ["swift", "build", "-c", "release", "--product", "jumplabel", "--package-path", root],
                          timeout: .seconds(1800))
    try #require(r.status == 0, "building the jumplabel CLI failed: \(r.stdout) \(r.stderr)")
    return root + "/.build/release/jumplabel"
  }

  /// A fresh directory in /tmp.
  static func scratch() throws -> String {
    let dir = NSTemporaryDirectory() + "jumplabel-svc-test-\(getpid())-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  /// A wrk script that requests `/items/N` and `/health` in turn.
  static func wrkScript(in dir: String) throws -> String {
    let path = dir + "/routes.lua"
    try """
    local n = 0
    request = function()
      n = n + 1
      if n % 3 == 0 then return wrk.format("GET", "/health") end
      return wrk.format("GET", "/items/" .. (n % 100))
    end
    """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }
}

/// The sample service, started in release from this package's build.
struct Sample {
  let child: Child
  let port: Int

  static var binary: String { Paths.buildDirectory + "/jumplabel-sample" }

  /// Starts the sample on an ephemeral loopback port, following `config`
  /// (polled every 100 ms).
  static func start(config: String, environment: [String: String] = [:]) throws -> Sample {
    let env = ["CONFIG_FILE_PATH": config, "HTTP_PORT": "0", "HTTP_HOST": "127.0.0.1", "CONFIG_POLL_INTERVAL_MS": "100"]
    let child = try Child(binary, [], environment: env.merging(environment) { _, new in new })
    let started = child.waitForOutput(timeout: .seconds(60)) { $0.contains("listening on") }
    guard started, let line = child.stdout.split(separator: "\n").first(where: { $0.contains("listening on") }),
          let port = line.split(separator: ":").last.flatMap({ Int($0) }) else {
      child.stop()
      throw SampleError("the sample did not start: \(child.stdout) \(child.stderr)")
    }
    return Sample(child: child, port: port)
  }

  /// Writes the configuration file (replaced whole, as a ConfigMap update).
  static func write(_ path: String, diagnostics: Bool, extra: String? = nil) throws {
    let more = extra.map { ", " + $0 } ?? ""
    let text = "{\"jumplabel\": {\"keys\": {\"sample.items.diagnostics\": \(diagnostics)}}\(more)}\n"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  }

  /// One line of `/debug/keys`.
  struct Key: CustomStringConvertible {
    var name: String, on: Bool, sites: Int, nops: Int, matching: Int
    var description: String { "\(name) \(on ? "on" : "off") sites=\(sites) nops=\(nops) matching=\(matching)" }
  }

  /// The sample's keys and their sites, from `/debug/keys` (with curl).
  func keys() throws -> [Key] {
    let r = try Child.run("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(port)/debug/keys"], timeout: .seconds(30))
    guard r.status == 0 else { throw SampleError("curl /debug/keys: \(r.stderr)") }
    return r.stdout.split(separator: "\n").compactMap { line in
      let f = line.split(separator: " ")
      func n(_ i: Int) -> Int? { f.count > i ? f[i].split(separator: "=").last.flatMap { Int($0) } : nil }
      guard f.count == 5, let s = n(2), let nops = n(3), let m = n(4) else { return nil }
      return Key(name: String(f[0]), on: f[1] == "on", sites: s, nops: nops, matching: m)
    }
  }

  func key(_ name: String) throws -> Key? { try keys().first { $0.name == name } }

  /// The route and status of a `ctl trace` line of `hummingbird.request.done`.
  static func traceEvent(_ line: Substring) -> (route: String, status: Int)? {
    guard let data = line.data(using: .utf8),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          object["tracepoint"] as? String == "hummingbird.request.done",
          let payload = object["payload"] as? [String: Any],
          let route = payload["route"] as? String, let status = payload["status"] as? Int else { return nil }
    return (route, status)
  }

  /// bpftrace attached to the sample's `hummingbird:request_done` probe
  /// for 4 seconds: whether it attached, and the events it printed.
  static func bpftrace(pid: String) throws -> (attached: Bool, events: [(route: String, status: Int)], stderr: String) {
    let program = """
      BEGIN { printf("attached\\n"); }
      usdt:\(binary):hummingbird:request_done { printf("done %s %s %d\\n", str(arg0), str(arg1), arg2); }
      interval:s:4 { exit(); }
      """
    let r = try Child.run("/usr/bin/bpftrace", ["-p", pid, "-e", program], timeout: .seconds(120))
    let lines = r.stdout.split(separator: "\n")
    let events = lines.filter { $0.hasPrefix("done ") }.compactMap { line -> (String, Int)? in
      let f = line.split(separator: " ")
      guard f.count == 4, let status = Int(f[3]) else { return nil }
      return (String(f[2]), status)
    }
    return (lines.contains("attached") && r.status == 0, events, r.stderr)
  }

  /// The request count of a wrk summary ("12345 requests in 5.00s").
  static func requests(in summary: String) -> Int {
    summary.split(separator: "\n").first { $0.contains("requests in") }
      .flatMap { $0.split(separator: " ").first.flatMap { Int($0) } } ?? 0
  }
}

struct SampleError: Error, CustomStringConvertible {
  let description: String
  init(_ d: String) { description = d }
}
