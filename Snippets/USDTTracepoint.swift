// A tracepoint that bpftrace and perf can attach to (a USDT probe point),
// declared and emitted in one module.
import Tracepoints

// snippet.declare
struct RequestDone: USDTPayload {   // USDTPayload: Encodable and Sendable too
    var path: String
    var status: Int
    // What bpftrace sees as arg0 and arg1.
    var usdtArguments: USDTArguments2<String, Int> { .init(path, status) }
}

extension Tracepoint where Payload == RequestDone {
    static var requestDone: Self { Tracepoint("http.request.done") }   // usdt:…:http:request_done
}
// snippet.end

// snippet.emit
func finish(path: String, status: Int) {
    Tracepoint.requestDone.emit(RequestDone(path: path, status: status))   // one NOP until someone attaches
}
// snippet.end
// snippet.hide
finish(path: "/", status: 200)
