/// Which user rows have base events of one type on each day (UTC): a bitmap per day,
/// FeatureBase's time quantums at day granularity, and the same split by keys of each
/// property (a string's dictionary code; a number's tail thresholds). What lets a
/// windowed scan skip the users with no event in the window, or none that a `where`
/// filter (or a `max`/`min` threshold) can pass: their aggregate is the value over no
/// events, or fails the comparison, known without reading them (`Evaluator.activeRows`).
///
/// Invariant: `days[k]` holds exactly the rows with at least one base event whose time
/// is on day `firstDay + k` (`time / 86_400`), for the base it was built from;
/// `splits[slot].days[key][k]` the rows with such an event that has `key` for property
/// `slot` (`Split`). It describes the base only: rows with delta events are the
/// table's `deltaUsers`, and rows deleted since (whose base events are garbage) may
/// still be listed, which is harmless because scans only ask about live rows.
///
/// Built with the base (loads, snapshot reads: O(events × split properties + rows)
/// time) or, by a background merge, from the old base's index plus the delta
/// (`adding`: O(delta events)); never on a request's path. Memory: one roaring entry
/// (about 2 bytes) per distinct (user, day) with events and per distinct (user, day,
/// key), plus a container header per bitmap and 65,536 rows; a numeric property's
/// keys hold about one entry per event (`Split.quantiles`), a string's one.
public struct ActivityIndex: Sendable {
    static let day: UInt32 = 86_400
    /// The Unix day of `days[0]`.
    var firstDay = 0
    var days: [Bitmap] = []
    /// Per property with a split: a string property whose codes in the base are all
    /// below `maxCodes`, or a numeric property with a non-null value in the base.
    var splits: [PropertyColumns.Slot: Split] = [:]
    /// String properties with a code past `maxCodes` in the base: never split.
    var unsplit: Set<PropertyColumns.Slot> = []
    static let maxCodes = 64

    /// One property's rows per (key, day). A string property's key is its code. A
    /// numeric property's keys are thresholds in its tails: key `k` is "value below
    /// `edges[k]`" for `k < below`, "value at or above `edges[k]`" for the others; an
    /// event has every key its value meets (nulls none). Edges are quantiles of the
    /// base's values when the split is built (`quantiles`), ascending within each
    /// group, and kept by merges, so they may drift from the data's quantiles: they
    /// then lose selectivity, never exactness. Only the tails are split: a comparison
    /// with a constant in the middle of the values is not selective enough to pay.
    struct Split: Sendable {
        /// Threshold edges (`below` lower ones, then the upper ones); nil for a string property.
        let edges: [Double]?
        let below: Int
        /// `days[key][k]`: the rows with a base event on day `firstDay + k` with that key.
        var days: [[Bitmap]]

        /// The quantiles thresholds are taken at: lower ones (the bottom quarter down to
        /// the bottom 64th of the values) and upper ones.
        static let quantiles: (below: [Double], above: [Double]) = ([1.0 / 64, 1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4], [3.0 / 4, 7.0 / 8, 15.0 / 16, 31.0 / 32, 63.0 / 64])

        var keyCount: Int { Self.keyCount(edges: edges) }

        /// Keys of a split with these edges: one per threshold, or one per code.
        static func keyCount(edges: [Double]?) -> Int { edges?.count ?? ActivityIndex.maxCodes }

        /// The keys whose rows include every row with an event valued in `range`: the
        /// highest upper threshold at or below its lower bound, and the lowest lower
        /// threshold above its upper bound, where they exist; each alone suffices.
        func keys(containing range: ClosedRange<Double>) -> [Int] {
            guard let edges else { return [] }
            var keys = [Int]()
            if let k = (below..<edges.count).last(where: { edges[$0] <= range.lowerBound }) { keys.append(k) }
            if let k = (0..<below).first(where: { edges[$0] > range.upperBound }) { keys.append(k) }
            return keys
        }
    }

    /// What a `where` filter needs of an event for the event to pass it, in the terms
    /// of the splits: a string property's code among `codes`, or a numeric property's
    /// value inside `values` (closed, possibly wider than the filter's test).
    enum Requirement: Sendable {
        case codes(slot: Int, [UInt32])
        case values(PropertyColumns.Slot, ClosedRange<Double>)
    }

    /// The days `bounds` (inclusive seconds) touches, as indices of `days`.
    func span(_ bounds: ClosedRange<UInt32>) -> Range<Int> {
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

    /// The keys of `split` an event meeting `requirement` has, as groups: the event
    /// has some key of every group. Nil when the requirement is not about this kind of
    /// split.
    private static func keyGroups(_ requirement: Requirement, _ split: Split) -> [[Int]]? {
        switch requirement {
        case .codes(_, let codes):
            guard split.edges == nil else { return nil }
            return [codes.filter { $0 < UInt32(maxCodes) }.map { Int($0) }]
        case .values(_, let range):
            guard split.edges != nil else { return nil }
            return split.keys(containing: range).map { [$0] }
        }
    }

    /// A superset of the rows with a base event inside `bounds` that meets every one of
    /// `requirements`: the rows with an event on a day `bounds` touches that has one of
    /// the keys of the most selective key group among the requirements' (requirements
    /// on properties without a split are left out). Nil when none has a split, or when
    /// that group's estimate (the sum of the sizes of its keys' day bitmaps) is `limit`
    /// or more. O(days × keys) bitmap operations.
    ///
    /// One group, not the intersection of all of them per day: measured on the demo
    /// data (`car = "i3_premium"` and `distance_km > 10` over 14 days), intersecting
    /// a day's rows with a second group's bitmaps cost more than the candidates it
    /// removed saved.
    func rows(in bounds: ClosedRange<UInt32>, requiring requirements: [Requirement], limit: Int) -> Bitmap? {
        let span = span(bounds)
        var best: (bitmaps: [Bitmap], estimate: Int)?
        for requirement in requirements {
            let slot: PropertyColumns.Slot
            switch requirement {
            case .codes(let s, _): slot = .string(s)
            case .values(let s, _): slot = s
            }
            guard let split = splits[slot], let groups = Self.keyGroups(requirement, split) else { continue }
            for keys in groups {
                let bitmaps = span.flatMap { d in keys.map { split.days[$0][d] } }
                let estimate = bitmaps.reduce(0) { $0 + $1.count }
                if estimate < best?.estimate ?? limit { best = (bitmaps, estimate) }
            }
        }
        return best.map { Bitmap.union(of: $0.bitmaps) }
    }

    /// Heap bytes of the bitmaps, counted once when the index is built (it has tens of
    /// thousands of bitmaps; `INFO` should not walk them).
    var memoryBytes = 0
}
