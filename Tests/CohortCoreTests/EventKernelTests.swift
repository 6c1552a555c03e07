@testable import CohortCore
import CohortTestSupport
import Testing

/// The batch kernels' building blocks against their one-row definitions.
struct EventKernelTests {
    /// `EventWindow.slices` (one pass over a dense span, or per-row searches over a
    /// sparse one) gives every row exactly `EventWindow.slice` of its events.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func windowSlicesEqualOneSearchPerRow(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        // 400 users, 0 to 40 events each (sorted times, ties included), some past coverage.
        var offsets: [UInt32] = [0]
        var times: [UInt32] = []
        for _ in 0..<400 {
            let n = Int(rng.next() % 5 == 0 ? rng.next() % 41 : rng.next() % 6)
            times += (0..<n).map { _ in UInt32(rng.next() % 100) }.sorted()
            offsets.append(UInt32(times.count))
        }
        for _ in 0..<200 {
            let lo = UInt32(rng.next() % 110)
            let bounds = lo...(lo + UInt32(rng.next() % 60))
            // Dense (every row, past the covered ones too) or sparse (every ~30th row).
            let stride = rng.next() % 2 == 0 ? 1 : 30
            let first = UInt32(rng.next() % 50)
            let rows = Array(stride_from(first, 420, stride))
            var windows = [Range<Int>](repeating: 0..<0, count: rows.count)
            offsets.withUnsafeBufferPointer { o in
                times.withUnsafeBufferPointer { t in
                    rows.withUnsafeBufferPointer { r in
                        windows.withUnsafeMutableBufferPointer { EventWindow.slices(r, o, t, bounds, into: $0) }
                    }
                }
            }
            for (i, row) in rows.enumerated() {
                let expected: Range<Int> = Int(row) + 1 < offsets.count
                    ? times.withUnsafeBufferPointer { EventWindow.slice($0, Int(offsets[Int(row)]), Int(offsets[Int(row) + 1]), bounds) } : 0..<0
                #expect(windows[i] == expected || (windows[i].isEmpty && expected.isEmpty), "row \(row) bounds \(bounds) stride \(stride)")
            }
        }
    }

    private func stride_from(_ first: UInt32, _ end: UInt32, _ step: Int) -> StrideTo<UInt32> { stride(from: first, to: end, by: step) }

    /// `DistinctKey.count` is the number of distinct keys, whatever their order.
    @Test func distinctKeysCount() {
        var rng = SplitMix(seed: 9)
        for n in 0..<70 {
            var keys = (0..<n).map { _ in rng.next() % 12 }
            let expected = Set(keys).count
            keys.withUnsafeMutableBufferPointer { #expect(DistinctKey.count($0) == expected) }
        }
    }
}
