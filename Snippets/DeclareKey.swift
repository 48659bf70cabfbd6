// A key declared and used in one module (an app, or a library that keeps
// its keys to itself).
import JumpLabel

// snippet.hide
func expensiveDiagnostics() {}
// snippet.show
// snippet.declare
extension StaticKey {
    // Same module: a `static var` is enough; the compiler sees the literal.
    static var verbose: StaticKey { StaticKey("app.verbose") }   // default: false
}
// snippet.end

// snippet.use
func handleRequest() {
    if StaticKey.verbose.isEnabled {   // one 5-byte NOP while the key is off
        expensiveDiagnostics()
    }
}
// snippet.end

// snippet.toggle
do {
    try StaticKey.verbose.enable()    // live: other threads keep running
    try StaticKey.verbose.disable()
} catch {
    print("cannot toggle: \(error)")  // for example, a debugger blocks patching
}
// snippet.end
// snippet.hide
handleRequest()
