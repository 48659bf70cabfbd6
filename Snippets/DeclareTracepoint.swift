// A tracepoint declared and emitted in one module: its payload type can
// stay internal.
import Tracepoints

// snippet.declare
struct RequestStart: Encodable, Sendable {
    var method: String
    var path: String
}

extension Tracepoint where Payload == RequestStart {
    static var requestStart: Self { Tracepoint("http.request.start") }
}
// snippet.end

// snippet.emit
func handle(method: String, path: String) {
    // One NOP while nobody listens: the payload is not even built.
    Tracepoint.requestStart.emit(RequestStart(method: method, path: path))
}
// snippet.end

// snippet.attach
do {
    // Attaching the first probe switches the tracepoint on; the probe
    // runs on the emitting thread.
    let probe = try Tracepoint.requestStart.attach { event in
        print(event.method, event.path)
    }
    handle(method: "GET", path: "/item/7")
    probe.detach()   // when it returns, the probe is never called again
} catch {
    print("cannot attach: \(error)")
}
// snippet.end
