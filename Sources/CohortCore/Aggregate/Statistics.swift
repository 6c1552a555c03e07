/// Count, sum, min and max of the non-null values of a group, computed in parallel
/// chunks and combined in chunk order (so the sum is the same on any core count).
struct Statistics {
    var count = 0
    var sum = 0.0
    var min = Double.infinity
    var max = -Double.infinity

    @inline(__always)
    mutating func add(_ x: Double) {
        guard !x.isNaN else { return }
        count += 1
        sum += x
        min = Swift.min(min, x)
        max = Swift.max(max, x)
    }

    /// `values` fills a buffer with the values of a chunk of rows (NaN for null).
    static func collect(
        _ rows: ContiguousArray<UInt32>, _ values: @escaping @Sendable (UnsafeBufferPointer<UInt32>, UnsafeMutableBufferPointer<Double>) -> Void
    ) -> Statistics {
        let chunkSize = 8192
        let chunks = Swift.max(1, (rows.count + chunkSize - 1) / chunkSize)
        let parts: [Statistics] = rows.withUnsafeBufferPointer { all in
            nonisolated(unsafe) let all = all
            return parallelMap(chunks) { k in
                let chunk = UnsafeBufferPointer(rebasing: all[(k * chunkSize)..<Swift.min(all.count, (k + 1) * chunkSize)])
                var part = Statistics()
                withUnsafeTemporaryAllocation(of: Double.self, capacity: chunk.count) { buffer in
                    values(chunk, buffer)
                    for x in buffer { part.add(x) }
                }
                return part
            }
        }
        var total = Statistics()
        for part in parts where part.count > 0 {
            total.count += part.count
            total.sum += part.sum
            total.min = Swift.min(total.min, part.min)
            total.max = Swift.max(total.max, part.max)
        }
        return total
    }
}
