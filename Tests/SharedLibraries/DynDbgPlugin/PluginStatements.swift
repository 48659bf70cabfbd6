import JumpLabel

// A debug statement in a library that the harness dlopens.

/// Runs the library's statement once.
@_cdecl("jl_test_dyndbg_plugin_run")
public func jlTestDynDbgPluginRun(_ i: Int) {
  debug("plugin run \(i)")
}
