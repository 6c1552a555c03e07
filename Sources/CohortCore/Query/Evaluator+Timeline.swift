#if canImport(Glibc)
    import Glibc
#endif

/// Filtered counts over the table's time-ordered copy (`EventTimeline`): a window of it is
/// one contiguous run of events, so `count(e where F, window) op c` is a scan of that run
/// (the filter's SIMD leaves over its columns) adding each passing event to its user's
/// counter, instead of a visit to every candidate's slice (a cache miss or more per user,
/// for a filter most events fail).
extension Evaluator {
    /// The candidates for which `count(e where F, window) op c` (either way round) holds,
    /// from a scan of the window in the table's timeline; nil when the shape does not fit
    /// (another function, a per-user window or constant, no filter, a filter with
    /// interpreted leaves, a window older than the timeline, `c` of 254 or more), when the
    /// window holds more than `timelineEventsPerCandidate` events per candidate, or when
    /// it fills three quarters of the recent copy or more (the batch kernel reads that as fast).
    ///
    /// Exact: the timeline holds every base event in the window, so a counter is a user's
    /// base count (saturated at 255, where every comparison with `c < 254` is decided);
    /// users with delta events are then computed by the batch kernel, base and delta
    /// together; deleted users are not candidates. Cost: O(events in the window) for the
    /// filter, O(passing events) random counter updates, O(rows) for the counters, on all
    /// cores.
    func timelineRows<Number: EvaluationNumber>(
        _ l: ValuePlan, _ op: Comparison, _ r: ValuePlan, _ candidates: Bitmap, as: Number.Type
    ) -> Bitmap? {
        guard let (a, constant, countOp) = aggregateThreshold(l, op, r), a.function == .count, a.property == nil,
            let plan = a.filter, a.window.isConstant,
            let bounds = EventWindow.bounds(a.window, now: now, { number($0, 0, nil) }),
            let timeline = db.events.tables[a.table].timeline, timeline.covers(bounds)
        else { return nil }
        let c = number(constant, 0, nil)
        guard !c.isNaN, c < 254 else { return nil }
        let window = timeline.positions(in: bounds)
        guard window.count <= Self.timelineEventsPerCandidate * candidates.count else { return nil }
        let table = db.events.tables[a.table]
        // A window filling most of the recent copy is read as fast there (the batch
        // kernel's dense pass over each user's contiguous recent slice; measured at 1M
        // users, 30 of its 32 days: the same within noise), so that keeps its path; a
        // narrower one is not (14 days, half the copy's events: 4.1 ms there, 2.1 here).
        if let recent = table.recent, recent.covers(bounds), 4 * window.count >= 3 * recent.times.count { return nil }
        let filter = EventFilter(plan, table: a.table, evaluator: self, source: .timeline)
        guard !filter.hasFallback else { return nil }
        // The counts k in 1...255 whose verdict differs from that of no events: an interval
        // for any comparison of a count with a constant (255 stands for 255 or more, whose
        // verdicts equal 254's as c < 254).
        let passes = (0...255).map { countOp.holds(Double($0), c) }
        let differing = (1...255).filter { passes[$0] != passes[0] }
        var changed = Bitmap()
        if let lo = differing.first, let hi = differing.last {
            // Not an interval would be an operator this does not know: the other paths answer.
            guard differing.count == hi - lo + 1 else { return nil }
            changed = countedRows(filter, window, timeline, rowCount: table.coveredRows, in: UInt8(lo)...UInt8(hi))
        }
        var result = passes[0] ? candidates.subtracting(changed) : changed.intersection(candidates)
        let delta = table.deltaUsers.intersection(candidates)
        if !delta.isEmpty {
            result.subtract(delta)
            result.formUnion(compareEach(l, op, r, delta, as: Number.self))
        }
        return result
    }

    /// How many events of a window a scan may read per candidate before visiting the
    /// candidates is cheaper: a scan costs about a nanosecond per event, a visit tens.
    static let timelineEventsPerCandidate = 64

    /// The rows whose count of events in `window` that pass `filter` (saturated at 255)
    /// lies in `counts` (which excludes 0): a byte per row (a bit for "at least one", an
    /// eighth of the memory, so the random updates stay in the cache) in each core's part
    /// (`scan`), the parts then added, eight rows at a time.
    private func countedRows(
        _ filter: EventFilter, _ window: Range<Int>, _ timeline: EventTimeline, rowCount: Int, in counts: ClosedRange<UInt8>
    ) -> Bitmap {
        if counts == 1...255 {
            return scan(filter, window, timeline, words: (rowCount + 63) / 64, RowMarks.self) { parts, w, found in
                var bits = parts.reduce(0) { $0 | $1[w] }
                while bits != 0 {
                    found.append(UInt32(64 * w + bits.trailingZeroBitCount))
                    bits &= bits &- 1
                }
            }
        }
        let (lo, span) = (SIMD8<UInt8>(repeating: counts.lowerBound), SIMD8<UInt8>(repeating: counts.upperBound - counts.lowerBound))
        let weights = SIMD8<UInt8>(1, 2, 4, 8, 16, 32, 64, 128)
        return scan(filter, window, timeline, words: (rowCount + 7) / 8, RowCounters.self) { parts, w, found in
            // Eight counters per word, lane i the byte of row 8w + i (little-endian).
            guard parts.contains(where: { $0[w] != 0 }) else { return }
            var sum = SIMD8<UInt8>(repeating: 0)
            for part in parts {
                let added = sum &+ unsafeBitCast(part[w], to: SIMD8<UInt8>.self)
                sum = added.replacing(with: 255, where: added .< sum)  // saturating at 255
            }
            // In `counts` (0 is not: `lo >= 1`, so 0 - lo wraps past the span).
            var bits = SIMD8<UInt8>(repeating: 0).replacing(with: weights, where: (sum &- lo) .<= span).wrappedSum()
            while bits != 0 {
                found.append(UInt32(8 * w + bits.trailingZeroBitCount))
                bits &= bits &- 1
            }
        }
    }

    /// The window split into one part per core (of at least 64 Ki events), each part
    /// recording each passing event's row (`Tally.add`) in its own `words` zeroed words
    /// of scratch (`CounterScratch`); then `collect(parts, w, &found)` for every word
    /// index `w` in order, appending the rows it finds (ascending): those rows. Generic
    /// over the tally, so the per-event update is inlined into the loop, not called.
    @inline(__always)
    private func scan<Tally: RowTally>(
        _ filter: EventFilter, _ window: Range<Int>, _ timeline: EventTimeline, words: Int, _: Tally.Type,
        collect: ([UnsafeMutableBufferPointer<UInt64>], Int, inout ContiguousArray<UInt32>) -> Void
    ) -> Bitmap {
        let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let parts = max(1, min(cores, window.count / 65_536))
        var found = ContiguousArray<UInt32>()
        CounterScratch.shared.withZeroedWords(parts * words) { scratch in
            let partWords = (0..<parts).map { UnsafeMutableBufferPointer(rebasing: scratch[($0 * words)..<(($0 + 1) * words)]) }
            timeline.rows.withUnsafeBufferPointer { rows in
                // Each part writes only its own words; they are read after `parallelMap`
                // returns, which orders every write before the reads.
                nonisolated(unsafe) let (rows, partWords) = (rows, partWords)
                let step = (window.count + parts - 1) / parts
                _ = parallelMap(parts) { k in
                    let start = window.lowerBound + k * step
                    let own = partWords[k]
                    Self.forEachPassing(filter, start..<min(window.upperBound, start + step), rows, self) { Tally.add($0, to: own) }
                }
            }
            for w in 0..<words { collect(partWords, w, &found) }
        }
        var result = Bitmap()
        found.withUnsafeBufferPointer { result.add(contentsOf: $0) }
        return result
    }

    /// Calls `body` with the row of each event of `part` that passes `filter`, in order:
    /// the filter 4,096 events at a time into verdict words, then a walk of their set bits.
    @inline(__always)
    private static func forEachPassing(
        _ filter: EventFilter, _ part: Range<Int>, _ rows: UnsafeBufferPointer<UInt32>, _ evaluator: Evaluator, _ body: (Int) -> Void
    ) {
        let block = 4096
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: block / 64) { words in
            var start = part.lowerBound
            while start < part.upperBound {
                let n = min(block, part.upperBound - start)
                filter.fill(words, from: start, count: n, evaluator)
                for w in 0..<((n + 63) / 64) {
                    var m = words[w]
                    while m != 0 {
                        body(Int(rows[start + 64 * w + m.trailingZeroBitCount]))
                        m &= m &- 1
                    }
                }
                start += n
            }
        }
    }
}

/// How a part of a timeline scan records a passing event's row in its words of scratch.
private protocol RowTally {
    static func add(_ row: Int, to words: UnsafeMutableBufferPointer<UInt64>)
}

/// A bit per row: "at least one event".
private enum RowMarks: RowTally {
    @inline(__always) static func add(_ row: Int, to words: UnsafeMutableBufferPointer<UInt64>) {
        words[row >> 6] |= 1 &<< UInt64(row & 63)
    }
}

/// A byte per row, counting events, saturating at 255.
private enum RowCounters: RowTally {
    @inline(__always) static func add(_ row: Int, to words: UnsafeMutableBufferPointer<UInt64>) {
        let counters = UnsafeMutableRawPointer(words.baseAddress!).assumingMemoryBound(to: UInt8.self)
        let c = counters[row]
        counters[row] = c &+ (c == 255 ? 0 : 1)
    }
}
