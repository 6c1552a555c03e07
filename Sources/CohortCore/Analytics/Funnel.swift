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
    private struct Match {
        let time: Int64
        let steps: UInt32
    }

    /// The rows that may have a step-1 event in the entry range: those the step's
    /// `ActivityIndex` lists on the range's days, and every row with delta events. Every
    /// other row is at level 0 without being read.
    func possibleStarters(_ evaluator: Evaluator) -> Bitmap {
        let table = evaluator.db.events.tables[steps[0].table]
        let entryEnd = min(to - 1, evaluator.now)
        guard from <= entryEnd, entryEnd >= 0, from <= Int64(UInt32.max) else { return Bitmap() }
        var rows = table.activity.rows(in: UInt32(clamping: max(0, from))...UInt32(clamping: entryEnd))
        rows.formUnion(table.deltaUsers)
        return rows
    }

    /// The levels of `rows` at `evaluator.now`, in their order, 0 to `steps.count`.
    ///
    /// Table by table over the rows, not row by row over the tables: each `EventTable`
    /// is taken from the database once per call (a copy of one retains each of its
    /// buffers, and retains shared by threads contend). Pass 1 finds the rows with a
    /// step-1 event in the entry range (one binary search each; most have none), pass 2
    /// collects those rows' events that can be in a chain, pass 3 runs Appendix B.2.
    func levels(of rows: ArraySlice<UInt32>, _ evaluator: Evaluator) -> [UInt8] {
        let all = evaluator.db.events.tables
        let now = evaluator.now
        let entryEnd = min(to - 1, now)
        let chainEnd = min(now, to - 1 > Int64.max - window ? Int64.max : to - 1 + window)
        var events: [(position: Int, time: UInt32)] = []
        var candidates: [Int] = []
        do {
            let table = all[steps[0].table]
            let filter = steps[0].filter
            for i in rows.indices {
                events.removeAll(keepingCapacity: true)
                table.appendEvents(of: rows[i], from: from, through: entryEnd, into: &events)
                guard !events.isEmpty else { continue }
                if let filter, !events.contains(where: { evaluator.test(filter, rows[i], EventRef(table: steps[0].table, position: $0.position)) }) {
                    continue
                }
                candidates.append(i)
            }
        }
        var matches = [[Match]](repeating: [], count: candidates.count)
        for tableIndex in tables {
            let table = all[tableIndex]
            // Steps of this table without a filter match every event: one mask for them.
            var plain: UInt32 = 0
            var filtered: [(bit: UInt32, filter: BoolPlan)] = []
            for (j, step) in steps.enumerated() where step.table == tableIndex {
                if let filter = step.filter { filtered.append((1 << UInt32(j), filter)) } else { plain |= 1 << UInt32(j) }
            }
            for (c, i) in candidates.enumerated() {
                let row = rows[i]
                events.removeAll(keepingCapacity: true)
                table.appendEvents(of: row, from: from, through: chainEnd, into: &events)
                for (position, time) in events {
                    var mask = plain
                    for (bit, filter) in filtered where evaluator.test(filter, row, EventRef(table: tableIndex, position: position)) { mask |= bit }
                    if mask != 0 { matches[c].append(Match(time: Int64(time), steps: mask)) }
                }
            }
        }
        var levels = [UInt8](repeating: 0, count: rows.count)
        for (c, i) in candidates.enumerated() {
            // Equal times keep no meaningful order: any order counts.
            matches[c].sort { $0.time < $1.time }
            levels[i - rows.startIndex] = UInt8(level(matches[c]))
        }
        return levels
    }

    /// The level of one user's matching events (ascending by time).
    private func level(_ matches: [Match]) -> Int {
        guard !matches.isEmpty else { return 0 }
        let n = steps.count
        // s[j]: the latest start among chains of length j found so far (nil: none). A
        // later start is never worse: the window is measured from it.
        var s = [Int64?](repeating: nil, count: n + 1)
        var g = 0
        while g < matches.count {
            var end = g + 1
            while end < matches.count, matches[end].time == matches[g].time { end += 1 }
            let t = matches[g].time
            let group = matches[g..<end]
            if group.count == 1, group.first!.steps.nonzeroBitCount == 1 {
                // The usual case: one event, one step; descending so it is used once.
                let j = group.first!.steps.trailingZeroBitCount + 1
                if let start = usableStart(j - 1, t, s) { s[j] = max(s[j] ?? .min, start) }
            } else {
                let before = s
                for i in 0..<n {
                    guard let start = usableStart(i, t, before) else { continue }
                    let m = strictIncrease ? (group.contains { $0.steps & (1 << UInt32(i)) != 0 } ? 1 : 0) : longestRun(from: i, group)
                    for j in stride(from: i + 1, through: i + m, by: 1) { s[j] = max(s[j] ?? .min, start) }
                }
            }
            g = end
        }
        return s.lastIndex { $0 != nil } ?? 0
    }

    /// The start a chain of length `i` gives an event at `t` extending it to `i + 1`:
    /// `t` itself for `i = 0` inside the entry range, else `s[i]` if `t` is within the
    /// window of it (and, strictly increasing, after it: guaranteed, as `s` holds
    /// earlier seconds' chains only when a group is processed).
    private func usableStart(_ i: Int, _ t: Int64, _ s: [Int64?]) -> Int64? {
        if i == 0 { return from <= t && t < to ? t : nil }
        guard let start = s[i], t - start <= window else { return nil }
        return start
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
