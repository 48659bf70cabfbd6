// Debug statements: each call site is one NOP until an operator switches
// it on (`jumplabel ctl debug`, or JUMPLABEL_DYNDBG at start-up).
import JumpLabel

func lookup(_ key: Int) -> Int {
    debug("cache miss for \(key)")        // one 5-byte NOP while off
    debug("cache evict", "key=\(key)")    // a static format that `format` queries match
    return key &* 2
}
// snippet.hide
print(lookup(7))
