// Several holders of one key: it is on while any of them holds it.
import JumpLabel

extension StaticKey {
    static var sampling: StaticKey { StaticKey("app.sampling") }
}

do {
    try StaticKey.sampling.increment()   // 0 -> 1: patches every site
    try StaticKey.sampling.increment()   // 1 -> 2: no patching
    try StaticKey.sampling.decrement()   // 2 -> 1: still on
    // The last holder lets go after 100 ms, so that a quick on-off-on
    // does not patch twice (the kernel's deferred keys).
    try StaticKey.sampling.decrement(deferredBy: .milliseconds(100))
} catch {
    print(error)
}
