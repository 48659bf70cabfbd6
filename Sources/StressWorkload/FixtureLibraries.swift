import Foundation
import Glibc

/// The shared libraries this package builds as test fixtures
/// (Tests/SharedLibraries). `swift build` puts them next to this binary.
package enum FixtureLibrary: String, CaseIterable {
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
  /// Swift, a tracepoint with a USDT probe point (`jltestlib:usdt_libtick`).
  case usdt = "libJumpLabelTestUSDTLib.so"

  /// Where this build of the package put it.
  package var path: String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(rawValue).path
  }

  /// A clear error if it was not built.
  package func requireBuilt() throws -> String {
    guard FileManager.default.fileExists(atPath: path) else {
      throw FixtureError("\(path) does not exist: build the package's libraries first (`swift build -c release`)")
    }
    return path
  }
}

package struct FixtureError: Error, CustomStringConvertible {
  package let description: String
  package init(_ description: String) { self.description = description }
}

/// A library opened with dlopen(3).
package struct OpenedLibrary: @unchecked Sendable {
  // @unchecked: a handle is an opaque token, usable from any thread.
  package let handle: UnsafeMutableRawPointer
  package let path: String

  /// dlopen(path, RTLD_NOW | RTLD_LOCAL).
  package static func open(_ path: String) throws -> OpenedLibrary {
    guard let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      throw FixtureError("dlopen(\(path)) failed: \(String(cString: dlerror()))")
    }
    return OpenedLibrary(handle: h, path: path)
  }

  /// True if the loader still has `path` mapped (dlopen RTLD_NOLOAD).
  package static func isLoaded(_ path: String) -> Bool {
    guard let h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD) else { return false }
    dlclose(h)
    return true
  }

  /// The function `name`, typed.
  package func function<T>(_ name: String, as type: T.Type) throws -> T {
    guard let p = dlsym(handle, name) else { throw FixtureError("dlsym(\(name)) failed in \(path)") }
    return unsafeBitCast(p, to: type)
  }

  package func close() { dlclose(handle) }
}

/// The lines a scenario prints: "ok   ..." or "FAIL ..." per check.
package struct CheckLines {
  package private(set) var lines: [String] = []

  package init() {}

  package mutating func check(_ ok: Bool, _ what: String) { lines.append((ok ? "ok   " : "FAIL ") + what) }
}
