/// Count, sum, min and max of the non-null values of a group, in either evaluation
/// representation (`EvaluationNumber`: an Int64 sum is exact, and null once it
/// overflows). Computed in parallel chunks and combined in chunk order, so a Double sum
/// is the same on any core count.
struct Statistics<Number: EvaluationNumber> {
    var count = 0
    var sum = Number(int: 0)
    var min = Number.highest
    var max = Number.lowest

    @inline(__always)
    mutating func add(_ x: Number) {
        guard !x.isNull else { return }
        count += 1
        sum = Number.apply(.add, sum, x)
        min = Swift.min(min, x)
        max = Swift.max(max, x)
    }

    /// `values` fills a buffer with the values of a chunk of rows (null for null).
    static func collect(
        _ rows: ContiguousArray<UInt32>, _ values: @escaping @Sendable (UnsafeBufferPointer<UInt32>, UnsafeMutableBufferPointer<Number>) -> Void
    ) -> Statistics {
        let chunkSize = 8192
        let chunks = Swift.max(1, (rows.count + chunkSize - 1) / chunkSize)
        let parts: [Statistics] = rows.withUnsafeBufferPointer { all in
            nonisolated(unsafe) let all = all
            return parallelMap(chunks) { k in
                let chunk = UnsafeBufferPointer(rebasing: all[(k * chunkSize)..<Swift.min(all.count, (k + 1) * chunkSize)])
                var part = Statistics()
                withUnsafeTemporaryAllocation(of: Number.self, capacity: chunk.count) { buffer in
                    values(chunk, buffer)
                    for x in buffer { part.add(x) }
                }
                return part
            }
        }
        var total = Statistics()
        for part in parts where part.count > 0 {
            total.count += part.count
            total.sum = Number.apply(.add, total.sum, part.sum)
            total.min = Swift.min(total.min, part.min)
            total.max = Swift.max(total.max, part.max)
        }
        return total
    }
}
