/// Which user rows have base events of one type on each day (UTC): a bitmap per day,
/// FeatureBase's time quantums at day granularity. What lets a windowed scan skip the
/// users with no event in the window: their aggregate is the value over no events,
/// known without reading them (`Evaluator.compareRows`).
///
/// Invariant: `days[k]` holds exactly the rows with at least one base event whose time
/// is on day `firstDay + k` (`time / 86_400`), for the base it was built from; `byCode`
/// the same split by the code of each small-dictionary string property. It
/// describes the base only: rows with delta events are the table's `deltaUsers`, and
/// rows deleted since (whose base events are garbage) may still be listed, which is
/// harmless because scans only ask about live rows.
///
/// Built with the base (loads, snapshot reads: O(events + rows) time) or, by a background
/// merge, from the old base's index plus the delta (`adding`: O(delta events)); never on a
/// request's path. Memory: one roaring entry per distinct (user, day) with
/// events, about 2 bytes, plus a container header per day and 65,536 rows.
public struct ActivityIndex: Sendable {
    static let day: UInt32 = 86_400
    /// The Unix day of `days[0]`.
    private(set) var firstDay = 0
    private(set) var days: [Bitmap] = []
    /// Per string property slot, when every code in the base is below `maxCodes`:
    /// `byCode[slot]![code][k]` holds the rows with a base event on day `firstDay + k`
    /// whose property has that code. What prunes a scan by a `where` filter's string
    /// test (`car = "i3_premium"`): only users with such an event can pass it.
    private(set) var byCode: [[[Bitmap]]?] = []
    static let maxCodes = 64

    init() {}

    /// The index of a base (compressed sparse rows, each row's times sorted) whose string
    /// property columns are `strings`.
    init(offsets: ContiguousArray<UInt32>, times: ContiguousArray<UInt32>, strings: [ContiguousArray<UInt32>] = []) {
        guard let earliest = times.min(), let latest = times.max() else { return }
        firstDay = Int(earliest / Self.day)
        let dayCount = Int(latest / Self.day) - firstDay + 1
        var rows = [ContiguousArray<UInt32>](repeating: [], count: dayCount)
        // Slots indexed by code, and their per-(code, day) row lists.
        let indexed = strings.map { column in column.allSatisfy { $0 < UInt32(Self.maxCodes) || $0 == NullSentinel.stringCode } }
        var codeRows = indexed.map { $0 ? [[ContiguousArray<UInt32>]](repeating: .init(repeating: [], count: dayCount), count: Self.maxCodes) : nil }
        var seen = [UInt64](repeating: 0, count: strings.count)  // per slot, the codes listed for the row today
        for u in 0..<(offsets.count - 1) {
            var previous = -1
            // Times are sorted within a row: each day of the row is one run.
            for p in Int(offsets[u])..<Int(offsets[u + 1]) {
                let d = Int(times[p] / Self.day) - firstDay
                if d != previous {
                    rows[d].append(UInt32(u))
                    previous = d
                    for s in seen.indices { seen[s] = 0 }
                }
                for s in strings.indices where indexed[s] {
                    let c = strings[s][p]
                    if c == NullSentinel.stringCode || seen[s] & (1 &<< UInt64(c)) != 0 { continue }
                    seen[s] |= 1 &<< UInt64(c)
                    codeRows[s]![Int(c)][d].append(UInt32(u))
                }
            }
        }
        days = rows.map(Self.bitmap)
        byCode = codeRows.map { slot in slot.map { codes in codes.map { $0.map(Self.bitmap) } } }
    }

    /// This index with more events added: that of a base holding this one's events and
    /// `rows[i]` at `times[i]` with string codes `strings[slot][i]` (a merge's delta,
    /// `strings` one column per string slot of the new base, which may have more slots
    /// than this index's base: their earlier events are null). Equal to the index built
    /// from the merged base, except that rows deleted since may stay listed (harmless, as
    /// for the base itself). O(delta events + days × codes), plus a copy of each day
    /// bitmap the delta touches; what a merge pays instead of rebuilding from every event.
    func adding(rows: ChunkedArray<UInt32>, times: ChunkedArray<UInt32>, strings: [ChunkedArray<UInt32>]) -> ActivityIndex {
        guard !rows.isEmpty else { return self }
        var lo = Int.max, hi = Int.min
        for i in 0..<times.count {
            let d = Int(times[i] / Self.day)
            lo = Swift.min(lo, d)
            hi = Swift.max(hi, d)
        }
        // The new day range, and every per-day array padded to it with empty days.
        let first = days.isEmpty ? lo : Swift.min(firstDay, lo)
        let last = days.isEmpty ? hi : Swift.max(firstDay + days.count - 1, hi)
        let dayCount = last - first + 1
        let front = days.isEmpty ? 0 : firstDay - first
        func padded(_ list: [Bitmap]) -> [Bitmap] {
            Array(repeating: Bitmap(), count: front) + list + Array(repeating: Bitmap(), count: dayCount - front - list.count)
        }
        var out = self
        out.firstDay = first
        out.days = padded(days)
        // A slot the base did not have holds nulls there: indexed, with no rows yet.
        out.byCode = (0..<Swift.max(strings.count, byCode.count)).map { s in
            s < byCode.count ? byCode[s].map { $0.map(padded) } : Array(repeating: Array(repeating: Bitmap(), count: dayCount), count: Self.maxCodes)
        }
        // The delta's rows per day, and per (slot, code, day) as the full build lists them.
        var perDay = [ContiguousArray<UInt32>](repeating: [], count: dayCount)
        var perCode = out.byCode.map { slot in slot.map { _ in [[ContiguousArray<UInt32>]](repeating: .init(repeating: [], count: dayCount), count: Self.maxCodes) } }
        for i in 0..<rows.count {
            let d = Int(times[i] / Self.day) - first
            perDay[d].append(rows[i])
            for s in strings.indices where perCode[s] != nil {
                let c = strings[s][i]
                if c == NullSentinel.stringCode { continue }
                // A code past the limit: the full build would not index the slot.
                guard c < UInt32(Self.maxCodes) else {
                    (perCode[s], out.byCode[s]) = (nil, nil)
                    continue
                }
                perCode[s]![Int(c)][d].append(rows[i])
            }
        }
        func add(_ list: inout ContiguousArray<UInt32>, to bitmap: inout Bitmap) {
            list.sort()
            list.withUnsafeBufferPointer { bitmap.add(contentsOf: $0) }
            bitmap.optimize()
        }
        for d in perDay.indices where !perDay[d].isEmpty { add(&perDay[d], to: &out.days[d]) }
        for s in perCode.indices where perCode[s] != nil {
            for code in 0..<Self.maxCodes {
                for d in 0..<dayCount where !perCode[s]![code][d].isEmpty { add(&perCode[s]![code][d], to: &out.byCode[s]![code][d]) }
            }
        }
        return out
    }

    private static func bitmap(_ list: ContiguousArray<UInt32>) -> Bitmap {
        var bitmap = Bitmap()
        list.withUnsafeBufferPointer { bitmap.add(contentsOf: $0) }
        bitmap.optimize()
        return bitmap
    }

    /// The days `bounds` (inclusive seconds) touches, as indices of `days`.
    private func span(_ bounds: ClosedRange<UInt32>) -> Range<Int> {
        let lo = Swift.max(0, Int(bounds.lowerBound / Self.day) - firstDay)
        let hi = Swift.min(days.count, Int(bounds.upperBound / Self.day) - firstDay + 1)
        return lo < hi ? lo..<hi : 0..<0
    }

    /// An upper bound on the rows `rows(in:)` returns, in O(days): the sum of the days'
    /// sizes (a row active on several days counts several times).
    func estimatedRows(in bounds: ClosedRange<UInt32>) -> Int {
        span(bounds).reduce(0) { $0 + days[$1].count }
    }

    /// The rows with a base event on a day `bounds` touches: every row with a base event
    /// inside `bounds`, and a few with events only outside it on its first or last day.
    func rows(in bounds: ClosedRange<UInt32>) -> Bitmap {
        Bitmap.union(of: Array(days[span(bounds)]))
    }

    /// Exactly the rows with a base event inside `bounds`, when `bounds` is whole days
    /// (from a midnight UTC to the second before one); nil otherwise. O(days).
    func rows(inWholeDays bounds: ClosedRange<UInt32>) -> Bitmap? {
        guard bounds.lowerBound % Self.day == 0, bounds.upperBound % Self.day == Self.day - 1 else { return nil }
        return rows(in: bounds)
    }

    /// The rows with a base event on a day `bounds` touches whose string property `slot`
    /// has one of `codes`, and the sum of those days' sizes (an upper bound, in O(days ×
    /// codes)); nil when the slot is not indexed by code.
    func rows(in bounds: ClosedRange<UInt32>, slot: Int, codes: [UInt32], limit: Int) -> Bitmap? {
        guard slot < byCode.count, let index = byCode[slot] else { return nil }
        let inIndex = codes.filter { $0 < UInt32(Self.maxCodes) }
        let estimate = span(bounds).reduce(0) { total, d in inIndex.reduce(total) { $0 + index[Int($1)][d].count } }
        guard estimate < limit else { return nil }
        return Bitmap.union(of: span(bounds).flatMap { d in inIndex.map { index[Int($0)][d] } })
    }

    /// Heap bytes of the bitmaps.
    var memoryBytes: Int {
        let byCodeBytes = byCode.reduce(0) { total, slot in
            (slot ?? []).reduce(total) { t, code in code.reduce(t) { $0 + $1.memoryBytes } }
        }
        return days.reduce(days.capacity * 8 + byCodeBytes) { $0 + $1.memoryBytes }
    }
}
