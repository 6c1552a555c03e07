import Dispatch

/// Runs `body(i)` for every `i` in `0..<count` on all cores (Dispatch
/// `concurrentPerform`) and returns the results in index order.
///
/// Concurrency: each call of `body` writes only its own result slot; the slots are read
/// after `concurrentPerform` has returned, which orders every write before the reads.
func parallelMap<T>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    let slots = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
    slots.initialize(repeating: nil)
    defer {
        slots.deinitialize()
        slots.deallocate()
    }
    nonisolated(unsafe) let out = slots
    DispatchQueue.concurrentPerform(iterations: count) { i in out[i] = body(i) }
    return slots.map { $0! }
}
