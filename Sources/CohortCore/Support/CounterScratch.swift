/// Reusable zeroed scratch memory for per-row counters (`Evaluator.timelineRows`): a
/// fresh megabyte per query costs its page faults (a quarter of a millisecond or more
/// per megabyte on this VM), reusing one costs a `memset`.
///
/// Concurrency: `lock` protects `free`; a buffer taken is owned by its caller until it
/// is given back. At most `kept` buffers are kept, so the pool holds at most that many
/// times the largest request (a byte per user row per core part).
final class CounterScratch: @unchecked Sendable {
    static let shared = CounterScratch()

    private let lock = Lock()
    private var free: [UnsafeMutableBufferPointer<UInt64>] = []
    private let kept = 4

    /// Calls `body` with `count` zeroed words, owned by it for the call.
    func withZeroedWords<T>(_ count: Int, _ body: (UnsafeMutableBufferPointer<UInt64>) -> T) -> T {
        var buffer = lock.withLock { () -> UnsafeMutableBufferPointer<UInt64>? in
            guard let i = free.firstIndex(where: { $0.count >= count }) else { return nil }
            return free.remove(at: i)
        }
        if buffer == nil {
            buffer = .allocate(capacity: Swift.max(count, 1))
        }
        let words = buffer!
        let slice = UnsafeMutableBufferPointer(rebasing: words[0..<count])
        slice.update(repeating: 0)
        defer {
            lock.withLock {
                free.append(words)
                if free.count > kept {
                    // Drop the smallest.
                    let i = free.indices.min { free[$0].count < free[$1].count }!
                    free.remove(at: i).deallocate()
                }
            }
        }
        return body(slice)
    }
}
