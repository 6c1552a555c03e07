/// The recent events of an event table's base in time order: for every base event with
/// `time >= horizon`, its user row, its time and every property, sorted by time (ties
/// in row order, then arrival).
///
/// Why: the base is user-major, so a filtered count over a window (`count(ride where
/// car = "i3_premium", last 14d) >= 2`) reads every candidate's slice, a cache miss or
/// more per user, even though only the window's events matter and few pass. Here a
/// window is one contiguous run: the filter runs over it as over any column slice (SIMD
/// leaves, no gather), and only the events that pass are counted into their users
/// (`Evaluator.timelineRows`). It is what an (event, time)-ordered column store's zone
/// maps give a `WHERE event = .. AND t BETWEEN ..` scan.
///
/// Invariant: the events here are exactly the base events with `time >= horizon`, each
/// once, with the values of its base position; `times` ascending. So the number of a
/// row's events in a window inside `[horizon, ∞)` that pass a filter is the same counted
/// here or in the base. Positions here are not base positions: only code handed this
/// copy's columns reads them (an `EventFilter` compiled against it).
///
/// Built with the base (loads, snapshot reads), never on a request's path: O(events +
/// rows), a two-pass radix sort of the recent events by time; a background merge extends
/// the old copy with the merged delta instead (`merging`: one pass, no sort of the
/// window). Memory: 8 bytes (row, time) plus the property widths per event of the last
/// `reach`; a second copy of those events, the price of reading a window contiguously.
public struct EventTimeline: Sendable {
    /// How far back from the base's latest event the copy reaches: `last 90d` windows at
    /// any `now` up to two days past the latest event fit.
    static let reach: UInt32 = 92 * 86_400

    /// The earliest time in the copy; day-aligned.
    let horizon: UInt32
    /// The user row of each event.
    let rows: ContiguousArray<UInt32>
    /// Ascending.
    let times: ContiguousArray<UInt32>
    private(set) var properties: PropertyColumns

    /// The time-ordered copy of a base's recent events; nil when the base is empty.
    init?(offsets: ContiguousArray<UInt32>, times: ContiguousArray<UInt32>, properties: PropertyColumns) {
        guard let latest = times.max() else { return nil }
        horizon = RecentBase.horizon(latest: latest, reach: Self.reach)
        precondition(latest - horizon < 1 << 24, "the timeline's reach exceeds its 24-bit sort key")
        let users = offsets.count - 1
        // Each row's tail at or after the horizon, found once, and their total.
        var starts = ContiguousArray<UInt32>(repeating: 0, count: users)
        var total = 0
        for u in 0..<users {
            let end = Int(offsets[u + 1])
            let start = RecentBase.tailStart(times, Int(offsets[u])..<end, horizon: horizon)
            starts[u] = UInt32(start)
            total += end - start
        }
        // Per tail event, in row order: its row, its position and `key << 40 | index`
        // into those, the key being the time past the horizon (below 2^24: see `reach`),
        // so sorting the words sorts by time. Filled through raw buffers, sized once.
        var tailRows = ContiguousArray<UInt32>(repeating: 0, count: total)
        var tailPositions = ContiguousArray<UInt32>(repeating: 0, count: total)
        var order = ContiguousArray<UInt64>(repeating: 0, count: total)
        let horizon = horizon
        times.withUnsafeBufferPointer { t in
            tailRows.withUnsafeMutableBufferPointer { rows in
                tailPositions.withUnsafeMutableBufferPointer { positions in
                    order.withUnsafeMutableBufferPointer { words in
                        var n = 0
                        for u in 0..<users {
                            for k in Int(starts[u])..<Int(offsets[u + 1]) {
                                words[n] = UInt64(t[k] - horizon) << 40 | UInt64(n)
                                rows[n] = UInt32(u)
                                positions[n] = UInt32(k)
                                n += 1
                            }
                        }
                    }
                }
            }
        }
        Self.radixSort(&order)
        // The sorted events' rows and positions: the tail arrays gathered by the words'
        // indices (as the recent copy gathers its times).
        let index: UInt64 = 1 << 40 - 1
        let picked = ContiguousArray(order.lazy.map { UInt32(truncatingIfNeeded: $0 & index) })
        rows = gatherColumn(tailRows, [], picked)
        let sortedPositions = gatherColumn(tailPositions, [], picked)
        self.times = ContiguousArray(order.lazy.map { UInt32(truncatingIfNeeded: $0 >> 40) + horizon })
        self.properties = PropertyColumns.gather(properties, properties.emptyCopy(), source: sortedPositions)
    }

    /// The copy for the base a merge makes of this copy's base and the merged delta,
    /// without re-sorting the window: this copy's events from the new horizon on, merged
    /// in one pass with the delta's, sorted by (time, row, arrival). What
    /// `init(offsets:times:properties:)` builds from the merged base, ties included (a
    /// row's base events before its delta events at equal times, as the merged base
    /// stores them). `byRow` lists the delta's events (indices into `addedRows`,
    /// `addedTimes`, `added`) grouped by row in row order, arrival order within a row, as
    /// the merge's counting sort gives them. Events of rows not in `live` are dropped: the
    /// delta's always, this copy's when `checkRows` (the base held deleted users' events).
    /// Nil when the new horizon lies before this one (the latest event was deleted): the
    /// caller builds from the base then. O(copy + delta).
    func merging(
        byRow: ContiguousArray<UInt32>, rows addedRows: ContiguousArray<UInt32>, times addedTimes: ContiguousArray<UInt32>,
        properties added: PropertyColumns, live: Bitmap, checkRows: Bool, latest: UInt32
    ) -> EventTimeline? {
        let newHorizon = RecentBase.horizon(latest: latest, reach: Self.reach)
        guard newHorizon >= horizon, latest - newHorizon < 1 << 24 else { return nil }
        // The delta events that stay, `key << 40 | index` as in `init`, in (row, arrival)
        // order: the stable sort by time leaves them by (time, row, arrival).
        var order = ContiguousArray<UInt64>()
        for i in byRow where addedTimes[Int(i)] >= newHorizon && live.contains(addedRows[Int(i)]) {
            order.append(UInt64(addedTimes[Int(i)] - newHorizon) << 40 | UInt64(i))
        }
        Self.radixSort(&order)
        let index: UInt64 = 1 << 40 - 1
        // This copy's events from the new horizon on and the delta's, merged: `source`
        // indexes this copy's columns followed by the delta's (`PropertyColumns.gather`).
        var k = positions(in: newHorizon...UInt32.max).lowerBound
        let count = times.count
        let capacity = count - k + order.count
        var source = ContiguousArray<UInt32>()
        var newRows = ContiguousArray<UInt32>()
        var newTimes = ContiguousArray<UInt32>()
        source.reserveCapacity(capacity)
        newRows.reserveCapacity(capacity)
        newTimes.reserveCapacity(capacity)
        var a = 0
        while k < count || a < order.count {
            if k < count, checkRows, !live.contains(rows[k]) {
                k += 1
                continue
            }
            let i = a < order.count ? Int(order[a] & index) : 0
            // On equal (time, row) this copy's event, a base one, comes first.
            if k < count && (a == order.count || (times[k], rows[k]) <= (addedTimes[i], addedRows[i])) {
                source.append(UInt32(k))
                newRows.append(rows[k])
                newTimes.append(times[k])
                k += 1
            } else {
                source.append(UInt32(count + i))
                newRows.append(addedRows[i])
                newTimes.append(addedTimes[i])
                a += 1
            }
        }
        return EventTimeline(
            horizon: newHorizon, rows: newRows, times: newTimes, properties: PropertyColumns.gather(properties, added, source: source))
    }

    private init(horizon: UInt32, rows: ContiguousArray<UInt32>, times: ContiguousArray<UInt32>, properties: PropertyColumns) {
        self.horizon = horizon
        self.rows = rows
        self.times = times
        self.properties = properties
    }

    /// Sorts `words` by their top 24 bits, stably (ties keep their order): two counting
    /// passes of 12 bits each, least significant first, so O(n + 4096).
    private static func radixSort(_ words: inout ContiguousArray<UInt64>) {
        var other = ContiguousArray<UInt64>(repeating: 0, count: words.count)
        for shift: UInt64 in [40, 52] {
            // Raw buffers: no array uniqueness check per element in the passes.
            words.withUnsafeBufferPointer { from in
                other.withUnsafeMutableBufferPointer { to in
                    var starts = [Int](repeating: 0, count: 4097)
                    for word in from { starts[Int((word >> shift) & 0xFFF) + 1] += 1 }
                    for b in 0..<4096 { starts[b + 1] += starts[b] }
                    for word in from {
                        let b = Int((word >> shift) & 0xFFF)
                        to[starts[b]] = word
                        starts[b] += 1
                    }
                }
            }
            swap(&words, &other)
        }
    }

    /// A column for a newly declared property, null for every event (as the base's).
    mutating func addProperty(_ type: PropertyType) { properties.addProperty(type) }

    /// Whether a window with these bounds lies inside the copy.
    func covers(_ bounds: ClosedRange<UInt32>) -> Bool { bounds.lowerBound >= horizon }

    /// The positions of the events inside `bounds`: two binary searches.
    func positions(in bounds: ClosedRange<UInt32>) -> Range<Int> {
        times.withUnsafeBufferPointer { t in
            func firstIndex(atLeast x: UInt32) -> Int {
                var (lo, hi) = (0, t.count)
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if t[mid] < x { lo = mid + 1 } else { hi = mid }
                }
                return lo
            }
            let start = firstIndex(atLeast: bounds.lowerBound)
            let end = bounds.upperBound == .max ? t.count : firstIndex(atLeast: bounds.upperBound + 1)
            return start..<Swift.max(start, end)
        }
    }

    var memoryBytes: Int { rows.capacity * 4 + times.capacity * 4 + properties.memoryBytes }
}
