// The module that uses ServiceKeys' key and tracepoint: its sites are
// NOPs in a release build, as if they were declared here.
import JumpLabel
import ServiceKeys
import Tracepoints

func handle(path: String) -> Int {
    if StaticKey.verbose.isEnabled { print("handling \(path)") }
    let status = 200
    Tracepoint.requestDone.emit(RequestDone(path: path, status: status))
    return status
}

// Shows that the sites above are real NOP sites: in a release build no
// read of the key is a fallback, and the runtime reports no problem.
_ = handle(path: "/")
let info = try StaticKeys.info(named: "svc.verbose")
print("svc.verbose: \(info.sites) sites, \(info.fallbackHits) fallback reads; problems: \(StaticKeys.problems())")
