import CIntrinsics

/// A funnel (FEATURES §3): ordered steps, each an event filter word, an entry range
/// `[from, to)` for step 1 and a window `W` from step 1.
///
/// A user's level is the longest chain of distinct events `e_1 ... e_k` with `e_j`
/// matching step `j`, `from <= t(e_1) < to`, non-decreasing times (strictly increasing
/// with `strictIncrease`), `t(e_k) - t(e_1) <= W`, all at or before now. Computed by the
/// one-pass algorithm of Appendix B.2: O(the user's events of the steps' types × steps),
/// with a tiny bipartite matching only for several events in one second.
struct Funnel: Sendable {
    /// One step: an event type and an optional `where` filter (instantiated).
    struct Step: Sendable {
        let table: Int
        let filter: BoolPlan?
    }

    static let maxSteps = 32

    let steps: [Step]
    let window: Int64
    let from: Int64
    let to: Int64
    let strictIncrease: Bool
    /// The distinct tables of the steps.
    let tables: [Int]

    init(steps: [Step], window: Int64, from: Int64, to: Int64, strictIncrease: Bool) {
        (self.steps, self.window, self.from, self.to, self.strictIncrease) = (steps, window, from, to, strictIncrease)
        var tables: [Int] = []
        for step in steps where !tables.contains(step.table) { tables.append(step.table) }
        self.tables = tables
    }

    /// One of a user's events that matches some step: its time and the steps it matches.
    struct Match: Sendable {
        let time: Int64
        let steps: UInt32
    }

    /// The rows that may have a step-1 event in the entry range: those the step's
    /// `ActivityIndex` lists on the range's days, and every row with delta events. Every
    /// other row is at level 0 without being read.
    func possibleStarters(_ evaluator: Evaluator) -> Bitmap {
        evaluator.db.events.tables[steps[0].table].rowsWithEvents(from: from, through: min(to - 1, evaluator.now))
    }

    /// The seconds an event can have and be in a chain at `now`: from the entry range's
    /// start to the window's end after its last second, and not after now.
    func chainBounds(now: Int64) -> ClosedRange<UInt32>? {
        let chainEnd = min(now, to - 1 > Int64.max - window ? Int64.max : to - 1 + window)
        guard from <= min(to - 1, now), chainEnd >= 0, from <= Int64(UInt32.max) else { return nil }
        return UInt32(clamping: max(0, from))...UInt32(clamping: chainEnd)
    }

    /// What a call reads of one of the steps' tables, prepared once and shared by the
    /// parallel chunks: the columns (its recent copy when the chain bounds are inside it
    /// and no step filter needs the base, else its base), the steps' compiled filters and
    /// the delta.
    ///
    /// Memory safety: `baseTimes` points into `times`, which this immutable value holds,
    /// so it stays valid as long as the reader; a writer mutating the table copies the
    /// column first and never moves this one. The per-event loop reads through it, and
    /// calls the filters through unretained references while the readers are alive, so
    /// that it costs no reference counting (threads retaining the same buffers contend).
    struct TableReader: @unchecked Sendable {
        let table: EventTable
        /// The steps of this table without a filter: each event matches them all.
        let plain: UInt32
        /// The steps of this table with a filter: bit and compiled filter (against
        /// `times`' columns).
        let filtered: [(bit: UInt32, filter: EventFilter)]
        let delta: DeltaReader
        let offsets: ContiguousArray<UInt32>
        let times: ContiguousArray<UInt32>
        let baseTimes: UnsafePointer<UInt32>

        init(_ tableIndex: Int, _ steps: [Step], _ bounds: ClosedRange<UInt32>, _ evaluator: Evaluator) {
            table = evaluator.db.events.tables[tableIndex]
            var plain: UInt32 = 0
            var plans: [(UInt32, BoolPlan)] = []
            for (j, step) in steps.enumerated() where step.table == tableIndex {
                if let filter = step.filter { plans.append((1 << UInt32(j), filter)) } else { plain |= 1 << UInt32(j) }
            }
            self.plain = plain
            var recent = table.recent.flatMap { $0.covers(bounds) ? $0 : nil }
            var filtered = plans.map { ($0.0, EventFilter($0.1, table: tableIndex, evaluator: evaluator, source: recent != nil ? .recent : .base)) }
            if recent != nil, filtered.contains(where: { $0.1.hasFallback }) {
                recent = nil
                filtered = plans.map { ($0.0, EventFilter($0.1, table: tableIndex, evaluator: evaluator)) }
            }
            self.filtered = filtered
            delta = DeltaReader(table, nil)
            offsets = recent?.offsets ?? table.offsets
            times = recent?.times ?? table.times
            baseTimes = times.withUnsafeBufferPointer { $0.baseAddress } ?? UnsafePointer(bitPattern: 8)!
        }

        /// Appends `row`'s delta events inside `bounds` to `out`, in time order, each with
        /// the steps it matches (an event matching none is left out).
        func appendDelta(of row: UInt32, _ bounds: ClosedRange<UInt32>, _ evaluator: Evaluator, into out: inout [Match]) {
            var d = delta.first(of: row, from: bounds.lowerBound)
            while d != DeltaList.end, delta.times[Int(d)] <= bounds.upperBound {
                var mask = plain
                for (bit, filter) in filtered where filter.holds(table.baseCount + Int(d), row: row, evaluator) { mask |= bit }
                if mask != 0 { out.append(Match(time: Int64(delta.times[Int(d)]), steps: mask)) }
                d = delta.next[Int(d)]
            }
        }
    }

    /// The readers of the steps' tables, in `tables` order.
    func readers(_ evaluator: Evaluator) -> [TableReader] {
        guard let bounds = chainBounds(now: evaluator.now) else { return [] }
        return tables.map { TableReader($0, steps, bounds, evaluator) }
    }

    private typealias DeltaList = EventTable.DeltaList

    /// Where a row's merge stands in one table: the next base position of its slice and
    /// its end, and the next and end of its delta events.
    private struct Cursor {
        var base = 0
        var end = 0
        var delta = 0
        var deltaEnd = 0
    }

    /// The levels of `rows` (ascending) at `evaluator.now`, in their order, 0 to
    /// `steps.count`, with `readers` from `readers(_:)`.
    ///
    /// Per table, one pass finds every row's slice of the chain bounds (`EventWindow.
    /// slices`, in the recent copy when it covers them). Then per row: the step masks of
    /// its delta events, if any, and a merge of its slices and delta events by time that
    /// runs Appendix B.2 as the events come, stopping at the last step. A step filter is
    /// asked about a base event only when the event could extend a chain (`level`). No
    /// allocation per row: delta events, chain starts and a second's group live in
    /// buffers reused across the rows.
    func levels(of rows: ArraySlice<UInt32>, _ readers: [TableReader], _ evaluator: Evaluator) -> [UInt8] {
        var levels = [UInt8](repeating: 0, count: rows.count)
        guard let bounds = chainBounds(now: evaluator.now) else { return levels }
        let entryEnd = UInt32(clamping: min(to - 1, evaluator.now))
        let (k, n) = (readers.count, steps.count)
        let first = tables.firstIndex(of: steps[0].table)!
        let stepReader = steps.map { step in tables.firstIndex(of: step.table)! }
        let hasDelta = readers.map { !$0.table.deltaUsers.isEmpty }
        // The per-row loop's buffers, allocated once per call: no reference counting or
        // uniqueness checks inside it.
        let times = UnsafeMutableBufferPointer<UnsafePointer<UInt32>>.allocate(capacity: k)
        let plain = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: k)
        /// Per table, the bits of its filtered steps; per step, its filter unretained
        /// (the readers keep them alive).
        let filtered = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: k)
        let stepFilters = UnsafeMutableBufferPointer<Unmanaged<EventFilter>?>.allocate(capacity: n)
        let windows = UnsafeMutableBufferPointer<Range<Int>>.allocate(capacity: rows.count * k)
        let chainStarts = UnsafeMutableBufferPointer<Int64>.allocate(capacity: 2 * (n + 1))
        let cursors = UnsafeMutableBufferPointer<Cursor>.allocate(capacity: k)
        let verdicts = UnsafeMutableBufferPointer<(start: Int, count: Int, word: UInt64)>.allocate(capacity: n)
        defer {
            for buffer in [UnsafeMutableRawBufferPointer(times), .init(plain), .init(filtered), .init(stepFilters), .init(windows), .init(chainStarts), .init(cursors), .init(verdicts)] {
                buffer.deallocate()
            }
        }
        stepFilters.initialize(repeating: nil)
        for (r, reader) in readers.enumerated() {
            (times[r], plain[r], filtered[r]) = (reader.baseTimes, reader.plain, 0)
            for (bit, filter) in reader.filtered {
                stepFilters[bit.trailingZeroBitCount] = .passUnretained(filter)
                filtered[r] |= bit
            }
        }
        var deltaEvents: [Match] = []
        var group: [Match] = []
        withExtendedLifetime(readers) {
            rows.withUnsafeBufferPointer { rowBuffer in
                for r in 0..<k {
                    readers[r].offsets.withUnsafeBufferPointer { o in
                        readers[r].times.withUnsafeBufferPointer { t in
                            EventWindow.slices(rowBuffer, o, t, bounds, into: UnsafeMutableBufferPointer(rebasing: windows[(r * rows.count)..<((r + 1) * rows.count)]))
                        }
                    }
                }
            }
            for i in 0..<rows.count {
                let row = rows[rows.startIndex + i]
                // The events of a row a few ahead, on their way into the cache while this
                // one is merged (each is a miss otherwise).
                if i + Self.prefetchDistance < rows.count {
                    for r in 0..<k {
                        let w = windows[r * rows.count + i + Self.prefetchDistance]
                        if !w.isEmpty { cohort_prefetch(times[r] + w.lowerBound) }
                    }
                    for b in 0..<n {
                        guard let filter = stepFilters[b] else { continue }
                        let w = windows[stepReader[b] * rows.count + i + Self.prefetchDistance]
                        if !w.isEmpty { filter._withUnsafeGuaranteedRef { $0.prefetch(w.lowerBound) } }
                    }
                }
                if !deltaEvents.isEmpty { deltaEvents.removeAll(keepingCapacity: true) }
                for r in 0..<k {
                    let start = deltaEvents.count
                    if hasDelta[r] { readers[r].appendDelta(of: row, bounds, evaluator, into: &deltaEvents) }
                    let w = windows[r * rows.count + i]
                    cursors[r] = Cursor(base: w.lowerBound, end: w.upperBound, delta: start, deltaEnd: deltaEvents.count)
                }
                // A row without a step-1 event in the entry range stays at level 0.
                let c = cursors[first]
                guard (c.base < c.end && times[first][c.base] <= entryEnd) || (c.delta < c.deltaEnd && deltaEvents[c.delta].time <= Int64(entryEnd)) else {
                    continue
                }
                verdicts.update(repeating: (0, 0, 0))
                deltaEvents.withUnsafeBufferPointer { deltaEvents in
                    let sources = Sources(
                        cursors: cursors, times: UnsafeBufferPointer(times), plain: UnsafeBufferPointer(plain), filtered: UnsafeBufferPointer(filtered),
                        filters: UnsafeBufferPointer(stepFilters), delta: deltaEvents, row: row, verdicts: verdicts)
                    levels[i] = UInt8(level(sources, chainStarts, &group, evaluator))
                }
            }
        }
        return levels
    }

    /// How many rows ahead `levels` prefetches a row's events.
    private static let prefetchDistance = 8

    /// One row's events for `level`: per table `r`, the base events `cursors[r].base ..<
    /// cursors[r].end` at `times[r]`, each matching the steps `plain[r]` and those of
    /// `filtered[r]` whose filter (`filters[step]`) holds for it, and its delta events
    /// `delta[cursors[r].delta ..< cursors[r].deltaEnd]` with their steps.
    private struct Sources {
        let cursors: UnsafeMutableBufferPointer<Cursor>
        let times: UnsafeBufferPointer<UnsafePointer<UInt32>>
        let plain: UnsafeBufferPointer<UInt32>
        let filtered: UnsafeBufferPointer<UInt32>
        let filters: UnsafeBufferPointer<Unmanaged<EventFilter>?>
        let delta: UnsafeBufferPointer<Match>
        let row: UInt32
        /// Per step, the last verdicts its filter gave: bit `i` for base position `start
        /// + i`, `i < count` (the merge moves forward, so one word answers the next events).
        let verdicts: UnsafeMutableBufferPointer<(start: Int, count: Int, word: UInt64)>

        /// Whether base event `p` of the row matches step bit `b` of its table `r`: the
        /// filter is asked for up to 64 events from `p` at once.
        @inline(__always)
        func matches(_ b: Int, _ r: Int, _ p: Int, _ evaluator: Evaluator) -> Bool {
            if plain[r] & (1 << UInt32(b)) != 0 { return true }
            var v = verdicts[b]
            if p < v.start || p >= v.start + v.count {
                let n = Swift.min(64, cursors[r].end - p)
                v = (p, n, filters[b]!._withUnsafeGuaranteedRef { $0.mask(p, n, row: row, evaluator) })
                verdicts[b] = v
            }
            return v.word >> UInt64(p - v.start) & 1 != 0
        }

        /// Every step base event `p` of table `r` matches.
        func steps(_ r: Int, _ p: Int, _ evaluator: Evaluator) -> UInt32 {
            var mask = plain[r]
            var rest = filtered[r]
            while rest != 0 {
                let b = rest.trailingZeroBitCount
                if matches(b, r, p, evaluator) { mask |= 1 << UInt32(b) }
                rest &= rest &- 1
            }
            return mask
        }
    }

    /// No chain of that length (a start time is an event's, so never this).
    private static let none = Int64.min

    /// Appendix B.2 over one row's events, merged by time from `sources`: its level.
    /// `chainStarts` holds `s` and its copy before a group (`2 * (steps + 1)`); `group`
    /// is reused across rows for the seconds with several events.
    ///
    /// `s[j]` is the latest start among the chains of length `j` found so far (`none`
    /// for none): a later start is never worse, as the window is measured from it. The
    /// usual second has one event: for each step `j` it may match, descending (so that
    /// it is used once), it extends `s[j - 1]` to `s[j]`. A step filter is asked only
    /// when `s[j - 1]` can be extended, so events before a chain reaches their step
    /// cost no filter work.
    private func level(
        _ sources: Sources, _ chainStarts: UnsafeMutableBufferPointer<Int64>, _ group: inout [Match], _ evaluator: Evaluator
    ) -> Int {
        let n = steps.count
        let (c, times, delta) = (sources.cursors, sources.times, sources.delta)
        let s = UnsafeMutableBufferPointer(rebasing: chainStarts[0...n])
        let before = UnsafeMutableBufferPointer(rebasing: chainStarts[(n + 1)...])
        s.update(repeating: Self.none)
        while s[n] == Self.none {
            // The earliest next time over the tables' slices and delta events, how many
            // of them are at it, and the first (2r for a slice, 2r + 1 for a delta).
            var t = Int64.max
            var ties = 0
            var source = 0
            for r in c.indices {
                if c[r].base < c[r].end {
                    let x = Int64(times[r][c[r].base])
                    if x < t { (t, ties, source) = (x, 1, 2 * r) } else if x == t { ties += 1 }
                }
                if c[r].delta < c[r].deltaEnd {
                    let x = delta[c[r].delta].time
                    if x < t { (t, ties, source) = (x, 1, 2 * r + 1) } else if x == t { ties += 1 }
                }
            }
            guard t != .max else { break }
            if !group.isEmpty { group.removeAll(keepingCapacity: true) }
            if ties == 1 {
                // Take the source's first event at `t`; if it is alone in its second (the
                // usual case), extend the chains by it here.
                let r = source / 2
                if source & 1 == 0 {
                    let p = c[r].base
                    c[r].base = p + 1
                    if p + 1 == c[r].end || Int64(times[r][p + 1]) != t {
                        extend(by: sources.plain[r] | sources.filtered[r], at: t, s) { sources.matches($0, r, p, evaluator) }
                        continue
                    }
                    let mask = sources.steps(r, p, evaluator)
                    if mask != 0 { group.append(Match(time: t, steps: mask)) }
                } else {
                    let mask = delta[c[r].delta].steps
                    c[r].delta += 1
                    if c[r].delta == c[r].deltaEnd || delta[c[r].delta].time != t {
                        extend(by: mask, at: t, s) { _ in true }
                        continue
                    }
                    group.append(Match(time: t, steps: mask))
                }
            }
            // Every (other) event at `t`.
            for r in c.indices {
                while c[r].base < c[r].end, Int64(times[r][c[r].base]) == t {
                    let mask = sources.steps(r, c[r].base, evaluator)
                    if mask != 0 { group.append(Match(time: t, steps: mask)) }
                    c[r].base += 1
                }
                while c[r].delta < c[r].deltaEnd, delta[c[r].delta].time == t {
                    group.append(delta[c[r].delta])
                    c[r].delta += 1
                }
            }
            guard !group.isEmpty else { continue }
            // Several events in one second: for each usable start, the longest run of
            // steps distinct events of the group can take.
            before.update(fromContentsOf: s)
            for i in 0..<n {
                guard let start = usableStart(i, t, before) else { continue }
                let m = strictIncrease ? (group.contains { $0.steps & (1 << UInt32(i)) != 0 } ? 1 : 0) : longestRun(from: i, group[...])
                for j in stride(from: i + 1, through: i + m, by: 1) { s[j] = Swift.max(s[j], start) }
            }
        }
        return s.lastIndex { $0 != Self.none } ?? 0
    }

    /// Extends the chains by a lone event at `t` that may match the steps of `candidates`
    /// (bit `b`: step `b + 1`), descending so that it is used once; `matches(b)` says
    /// whether it does, asked only where a chain could be extended.
    @inline(__always)
    private func extend(by candidates: UInt32, at t: Int64, _ s: UnsafeMutableBufferPointer<Int64>, _ matches: (Int) -> Bool) {
        var rest = candidates
        while rest != 0 {
            let b = 31 - rest.leadingZeroBitCount
            rest &= ~(1 << UInt32(b))
            if let start = usableStart(b, t, s), matches(b) { s[b + 1] = Swift.max(s[b + 1], start) }
        }
    }

    /// The start a chain of length `i` gives an event at `t` extending it to `i + 1`:
    /// `t` itself for `i = 0` inside the entry range, else `s[i]` if `t` is within the
    /// window of it (and, strictly increasing, after it: guaranteed, as `s` holds
    /// earlier seconds' chains only when a group is processed).
    @inline(__always)
    private func usableStart(_ i: Int, _ t: Int64, _ s: UnsafeMutableBufferPointer<Int64>) -> Int64? {
        if i == 0 { return from <= t && t < to ? t : nil }
        guard s[i] != Self.none, t - s[i] <= window else { return nil }
        return s[i]
    }

    /// The largest `m` such that steps `i+1 ... i+m` go to distinct events of one
    /// second's `group` (Kuhn's augmenting paths; groups are tiny).
    private func longestRun(from i: Int, _ group: ArraySlice<Match>) -> Int {
        let events = Array(group)
        var owner = [Int](repeating: -1, count: events.count)  // event -> step
        func augment(_ step: Int, _ seen: inout [Bool]) -> Bool {
            for (e, event) in events.enumerated() where event.steps & (1 << UInt32(step)) != 0 && !seen[e] {
                seen[e] = true
                if owner[e] < 0 || augment(owner[e], &seen) {
                    owner[e] = step
                    return true
                }
            }
            return false
        }
        var m = 0
        while i + m < steps.count {
            var seen = [Bool](repeating: false, count: events.count)
            guard augment(i + m, &seen) else { break }
            m += 1
        }
        return m
    }
}
