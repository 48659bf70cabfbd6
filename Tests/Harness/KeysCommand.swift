import ArgumentParser
import StressWorkload
import JumpLabel
import TextPoke

/// `jumplabel-harness keys`: the keys compiled into this binary and their sites.
struct KeysCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "keys", abstract: "List the static keys of this binary (the stress workload's).")

  @Flag(help: "Also list every site with its address and current bytes.")
  var sites = false

  @Flag(help: "Also list the loaded images whose sites are indexed.")
  var images = false

  func run() throws {
    _ = stressFunctions.count  // make sure the workload's keys are known
    for k in StressKeys.all { _ = k.state }
    for info in StaticKeys.list() {
      print(info)
      if sites {
        for s in try StaticKeys.sites(named: info.name) {
          print("  \(s)  bytes \(s.currentBytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " "))")
        }
      }
    }
    if images {
      for image in StaticKeys.images() { print("image \(image)") }
    }
    do {
      print("writer: \(try TextPoke.prepare())")
    } catch {
      print("keys cannot be toggled in this process: \(error)")
    }
  }
}
