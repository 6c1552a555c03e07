import Dispatch

/// Runs `body(i)` for every `i` in `0..<count` on all cores (Dispatch
/// `concurrentPerform`), or on at most `workers` threads, and returns the results in
/// index order. Background jobs that run beside the server (snapshots) pass fewer
/// workers than cores, so request threads always find a free core.
///
/// Concurrency: each call of `body` writes only its own result slot; the slots are read
/// after `concurrentPerform` has returned, which orders every write before the reads.
func parallelMap<T>(_ count: Int, workers: Int = .max, _ body: @Sendable (Int) -> T) -> [T] {
    let slots = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
    slots.initialize(repeating: nil)
    defer {
        slots.deinitialize()
        slots.deallocate()
    }
    nonisolated(unsafe) let out = slots
    if workers >= count {
        DispatchQueue.concurrentPerform(iterations: count) { i in out[i] = body(i) }
    } else if workers <= 1 {
        for i in 0..<count { out[i] = body(i) }
    } else {
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in stride(from: w, to: count, by: workers) { out[i] = body(i) }
        }
    }
    return slots.map { $0! }
}
