// The module that declares keys and tracepoints for other modules.
import JumpLabel
import Tracepoints

extension StaticKey {
    // Another module uses it: `@inlinable public`, so that the literal name
    // is compiled into every site in every module.
    @inlinable public static var verbose: StaticKey { StaticKey("svc.verbose") }
}

// The payload is public too, with what `usdtArguments` reads.
public struct RequestDone: USDTPayload {
    public var path: String
    public var status: Int
    public init(path: String, status: Int) { self.path = path; self.status = status }
    public var usdtArguments: USDTArguments2<String, Int> { .init(path, status) }
}

extension Tracepoint where Payload == RequestDone {
    @inlinable public static var requestDone: Self { Tracepoint("http.request.done") }
}
