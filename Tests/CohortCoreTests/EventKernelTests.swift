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

    /// A random base of 300 rows over 90 days (sorted times per row, ties included).
    private func randomBase(_ rng: inout SplitMix) -> (ContiguousArray<UInt32>, ContiguousArray<UInt32>) {
        var offsets: ContiguousArray<UInt32> = [0]
        var times = ContiguousArray<UInt32>()
        let start: UInt32 = 1_780_000_000
        for _ in 0..<300 {
            let n = Int(rng.next() % 12)
            times += (0..<n).map { _ in start + UInt32(rng.next() % (90 * 86_400)) }.sorted()
            offsets.append(UInt32(times.count))
        }
        return (offsets, times)
    }

    /// The recent copy holds exactly each row's events at or after its horizon, in order,
    /// with their property values; the activity index exactly the rows active each day,
    /// and by code, the rows with an event of that code that day.
    @Test(arguments: [4, 5] as [UInt64])
    func recentCopyAndActivityMatchTheBase(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let (offsets, times) = randomBase(&rng)
        var columns = PropertyColumns()
        columns.addProperty(.int)
        columns.ints[0] = ContiguousArray((0..<times.count).map { Int64($0) })
        let recent = try #require(RecentBase(offsets: offsets, times: times, properties: columns))
        #expect(recent.horizon % 86_400 == 0 && recent.horizon <= times.max()! && times.max()! - recent.horizon >= RecentBase.reach - 86_400)
        let codes = ContiguousArray<UInt32>((0..<times.count).map { _ in rng.next() % 5 == 0 ? NullSentinel.stringCode : UInt32(rng.next() % 4) })
        let activity = ActivityIndex(offsets: offsets, times: times, strings: [codes])
        for u in 0..<(offsets.count - 1) {
            let slice = Int(offsets[u])..<Int(offsets[u + 1])
            let expected = slice.filter { times[$0] >= recent.horizon }
            let copy = u + 1 < recent.offsets.count ? Int(recent.offsets[u])..<Int(recent.offsets[u + 1]) : 0..<0
            #expect(copy.map { recent.times[$0] } == expected.map { times[$0] }, "row \(u)")
            #expect(copy.map { recent.properties.ints[0][$0] } == expected.map { Int64($0) }, "row \(u)")
            let days = Set(slice.map { times[$0] / 86_400 })
            for d in (times.min()! / 86_400)...(times.max()! / 86_400) {
                let bounds = (d * 86_400)...(d * 86_400 + 86_399)
                #expect(activity.rows(in: bounds).contains(UInt32(u)) == days.contains(d), "row \(u) day \(d)")
                for code: UInt32 in 0..<4 {
                    let expected = slice.contains { times[$0] / 86_400 == d && codes[$0] == code }
                    let rows = activity.rows(in: bounds, slot: 0, codes: [code, 7], limit: .max)
                    #expect(rows?.contains(UInt32(u)) == expected, "row \(u) day \(d) code \(code)")
                }
            }
        }
    }

    /// A merge's incremental activity index (the old base's plus the delta) answers as the
    /// one built from the merged base: per row, day and code; with delta days before and
    /// after the base's, a slot the base did not have, and a delta code past the index's
    /// limit (the slot is then not indexed, as in the full build).
    @Test(arguments: [6, 7, 8] as [UInt64])
    func activityPlusADeltaEqualsTheMergedBase(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let (offsets, times) = randomBase(&rng)
        let baseCodes = ContiguousArray<UInt32>((0..<times.count).map { _ in rng.next() % 5 == 0 ? NullSentinel.stringCode : UInt32(rng.next() % 4) })
        let wideCode = seed == 8
        var rows = ChunkedArray<UInt32>(), deltaTimes = ChunkedArray<UInt32>()
        var codes = [ChunkedArray<UInt32>(), ChunkedArray<UInt32>()]
        for _ in 0..<200 {
            rows.append(UInt32(rng.next() % 320))  // rows past the base's too
            deltaTimes.append(1_780_000_000 - 5 * 86_400 + UInt32(rng.next() % (100 * 86_400)))
            codes[0].append(wideCode && rows.count == 100 ? 70 : UInt32(rng.next() % 6))
            codes[1].append(rng.next() % 3 == 0 ? NullSentinel.stringCode : UInt32(rng.next() % 3))
        }
        // The merged base, per row: its base events, then its delta events (order within a
        // row does not matter to the index).
        var mergedOffsets: ContiguousArray<UInt32> = [0]
        var mergedTimes = ContiguousArray<UInt32>()
        var mergedCodes: [ContiguousArray<UInt32>] = [[], []]
        for u in 0..<320 {
            if u + 1 < offsets.count {
                for p in Int(offsets[u])..<Int(offsets[u + 1]) {
                    mergedTimes.append(times[p])
                    mergedCodes[0].append(baseCodes[p])
                    mergedCodes[1].append(NullSentinel.stringCode)
                }
            }
            for i in 0..<rows.count where rows[i] == UInt32(u) {
                mergedTimes.append(deltaTimes[i])
                mergedCodes[0].append(codes[0][i])
                mergedCodes[1].append(codes[1][i])
            }
            mergedOffsets.append(UInt32(mergedTimes.count))
        }
        let full = ActivityIndex(offsets: mergedOffsets, times: mergedTimes, strings: mergedCodes)
        let added = ActivityIndex(offsets: offsets, times: times, strings: [baseCodes]).adding(rows: rows, times: deltaTimes, strings: codes)
        #expect((added.byCode[0] == nil) == wideCode && (full.byCode[0] == nil) == wideCode)
        let (first, last) = (mergedTimes.min()! / 86_400, mergedTimes.max()! / 86_400)
        for d in (first - 1)...(last + 1) {
            let bounds = (d * 86_400)...(d * 86_400 + 86_399)
            #expect(added.rows(in: bounds) == full.rows(in: bounds), "day \(d)")
            #expect(added.estimatedRows(in: bounds) == full.estimatedRows(in: bounds), "day \(d)")
            for slot in 0..<2 {
                for code: UInt32 in 0..<6 {
                    #expect(added.rows(in: bounds, slot: slot, codes: [code], limit: .max) == full.rows(in: bounds, slot: slot, codes: [code], limit: .max),
                            "day \(d) slot \(slot) code \(code)")
                }
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
