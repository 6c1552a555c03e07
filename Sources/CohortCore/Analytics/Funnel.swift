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

    /// `row`'s level at `evaluator.now`, 0 to `steps.count`.
    func level(of row: UInt32, _ evaluator: Evaluator) -> Int {
        let matches = self.matches(of: row, evaluator)
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

    /// `row`'s events at or before now that match some step, ascending by time.
    private func matches(of row: UInt32, _ evaluator: Evaluator) -> [Match] {
        var out: [Match] = []
        let tables = evaluator.db.events.tables
        let now = evaluator.now
        for table in self.tables {
            tables[table].forEachEvent(of: row) { position, time in
                guard Int64(time) <= now else { return }
                var mask: UInt32 = 0
                for (j, step) in steps.enumerated() where step.table == table {
                    if let filter = step.filter, !evaluator.test(filter, row, EventRef(table: table, position: position)) { continue }
                    mask |= 1 << UInt32(j)
                }
                if mask != 0 { out.append(Match(time: Int64(time), steps: mask)) }
            }
        }
        // Stable: equal times keep no meaningful order anyway (any order counts).
        out.sort { $0.time < $1.time }
        return out
    }
}
