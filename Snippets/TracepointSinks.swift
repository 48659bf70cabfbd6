// Tracepoint events into a file of JSON lines, and into a ring in memory.
import Tracepoints

struct CacheMiss: Encodable, Sendable {
    var key: UInt64
}

extension Tracepoint where Payload == CacheMiss {
    static var cacheMiss: Self { Tracepoint("cache.miss") }
}

do {
    // One `write` per event: {"time":"…","tid":…,"tracepoint":"cache.miss","payload":{"key":42}}
    let file = try JSONLinesSink(path: "/tmp/cache-events.jsonl")
    let toFile = try Tracepoint.cacheMiss.attach(file)

    // The last 1,024 events; a bitwise-copyable payload is copied, not allocated.
    let ring = try RingBufferSink(capacity: 1024)
    let toRing = try Tracepoint.cacheMiss.attach(ring)

    Tracepoint.cacheMiss.emit(CacheMiss(key: 42))

    for record in ring.drain() { print(record.jsonLine) }
    toFile.detach()
    toRing.detach()
} catch {
    print(error)
}
