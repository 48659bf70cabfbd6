import Foundation
import Glibc

/// The shared libraries this package builds as test fixtures
/// (Tests/SharedLibraries). `swift build` puts them next to this binary.
enum FixtureLibrary: String, CaseIterable {
  /// Swift, defines nothing but inverts two keys in its initializer.
  case pairA = "libJumpLabelTestPairA.so"
  /// Swift, loaded after A, uses A's keys.
  case pairB = "libJumpLabelTestPairB.so"
  /// C, 512 sites of four keys, linked without swiftrt.o: really unloads.
  case churn = "libJumpLabelTestChurn.so"
  /// C, two sites, linked with swiftrt.o (SwiftPM's default): pinned.
  case linkedC = "libJumpLabelTestLinkedC.so"
  /// C, carries a runtime note of another ABI (999).
  case foreignRuntime = "libJumpLabelTestForeignRuntime.so"

  /// Where this build of the package put it.
  var path: String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(rawValue).path
  }

  /// A clear error if it was not built.
  func requireBuilt() throws -> String {
    guard FileManager.default.fileExists(atPath: path) else {
      throw FixtureError("\(path) does not exist: build the package's libraries first (`swift build -c release`)")
    }
    return path
  }
}

struct FixtureError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// A library opened with dlopen(3).
struct OpenedLibrary: @unchecked Sendable {
  // @unchecked: a handle is an opaque token, usable from any thread.
  let handle: UnsafeMutableRawPointer
  let path: String

  /// dlopen(path, RTLD_NOW | RTLD_LOCAL).
  static func open(_ path: String) throws -> OpenedLibrary {
    guard let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      throw FixtureError("dlopen(\(path)) failed: \(String(cString: dlerror()))")
    }
    return OpenedLibrary(handle: h, path: path)
  }

  /// True if the loader still has `path` mapped (dlopen RTLD_NOLOAD).
  static func isLoaded(_ path: String) -> Bool {
    guard let h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD) else { return false }
    dlclose(h)
    return true
  }

  /// The function `name`, typed.
  func function<T>(_ name: String, as type: T.Type) throws -> T {
    guard let p = dlsym(handle, name) else { throw FixtureError("dlsym(\(name)) failed in \(path)") }
    return unsafeBitCast(p, to: type)
  }

  func close() { dlclose(handle) }
}

/// The lines a scenario prints: "ok   ..." or "FAIL ..." per check.
struct CheckLines {
  private(set) var lines: [String] = []

  mutating func check(_ ok: Bool, _ what: String) { lines.append((ok ? "ok   " : "FAIL ") + what) }
}
