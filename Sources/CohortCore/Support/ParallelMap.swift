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

/// `parallelMap` over consecutive slices of `items` of at most `chunk` elements: the
/// results per slice, in order. The shape of every per-user scan (funnels, series,
/// splits, next-change times): a chunk's worth of state per task, merged by the caller.
func parallelChunks<C: RandomAccessCollection & Sendable, T>(
    _ items: C, chunk: Int = 8192, _ body: @Sendable (C.SubSequence) -> T
) -> [T] where C.Index == Int {
    parallelMap((items.count + chunk - 1) / chunk) { k in
        let start = items.startIndex + k * chunk
        return body(items[start..<Swift.min(items.endIndex, start + chunk)])
    }
}
