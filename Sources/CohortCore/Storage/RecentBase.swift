/// A copy of the recent end of an event table's base: for each user row, the events of
/// its base slice with `time >= horizon`, in the same layout (compressed sparse rows,
/// time-sorted per row, ties in arrival order) and with every property column.
///
/// Why: the base is user-major, so the events of a `last 30d` window are the tail of
/// every user's slice, scattered across the whole table; a scan reads every user's
/// cache lines of times and properties although most of them are older. Here those
/// tails are contiguous: a window inside `[horizon, ∞)` reads only the recent copy, a
/// fifth of the table for the demo's 6 months of history. The batch kernel takes it for
/// such windows (`Evaluator.aggregateKernel`); everything else reads the base.
///
/// Invariant: for every row `u`, slice `u` here is exactly the suffix of base slice `u`
/// with `time >= horizon`, in the same order; so an aggregate over a window inside
/// `[horizon, ∞)` is the same computed on either. Positions here are not base positions:
/// only code that was handed this copy's columns reads them.
///
/// Built with the base (loads, snapshot reads, background merges), never on a
/// request's path: O(events + rows). Memory: 4 bytes of time and the property widths
/// per recent event, 4 bytes of offset per row up to the last row with recent events.
public struct RecentBase: Sendable {
    /// How far back from the base's latest event the copy reaches: `last 30d` windows
    /// at any `now` up to two days past the latest event fit.
    static let reach: UInt32 = 32 * 86_400

    /// The earliest time in the copy; day-aligned.
    let horizon: UInt32
    /// The latest time of the base the copy was made from (so of the copy, too).
    let latest: UInt32
    let offsets: ContiguousArray<UInt32>
    let times: ContiguousArray<UInt32>
    private(set) var properties: PropertyColumns
    /// The rows with at least one event in the copy: every row that can have an event
    /// in a window the copy covers.
    let rows: Bitmap

    /// The recent copy of a base; nil when the base is empty.
    init?(offsets base: ContiguousArray<UInt32>, times: ContiguousArray<UInt32>, properties: PropertyColumns) {
        guard let latest = times.max() else { return nil }
        self.latest = latest
        horizon = Self.horizon(latest: latest, reach: Self.reach)
        var offsets = ContiguousArray<UInt32>([0])
        var source = ContiguousArray<UInt32>()
        var lastRow = -1
        var active = ContiguousArray<UInt32>()
        for u in 0..<(base.count - 1) {
            let p = Self.tailStart(times, Int(base[u])..<Int(base[u + 1]), horizon: horizon)
            if p < Int(base[u + 1]) {
                lastRow = u
                active.append(UInt32(u))
            }
            for k in p..<Int(base[u + 1]) { source.append(UInt32(k)) }
            offsets.append(UInt32(source.count))
        }
        offsets.removeLast(offsets.count - (lastRow + 2))
        var rows = Bitmap()
        active.withUnsafeBufferPointer { rows.add(contentsOf: $0) }
        rows.optimize()
        self.rows = rows
        self.offsets = offsets
        self.times = gatherColumn(times, [], source)
        self.properties = PropertyColumns.gather(properties, properties.emptyCopy(), source: source)
    }

    /// The day-aligned time `reach` before `latest` (0 when that is before 1970): where a
    /// copy of a base's recent end begins (this one's, or `EventTimeline`'s).
    static func horizon(latest: UInt32, reach: UInt32) -> UInt32 {
        let day: UInt32 = 86_400
        return latest > reach ? (latest - reach) / day * day : 0
    }

    /// The first position of the time-sorted base slice `slice` at or after `horizon`: a
    /// walk back from its end, the recent tail being short.
    @inline(__always)
    static func tailStart(_ times: ContiguousArray<UInt32>, _ slice: Range<Int>, horizon: UInt32) -> Int {
        var p = slice.upperBound
        while p > slice.lowerBound, times[p - 1] >= horizon { p -= 1 }
        return p
    }

    /// A column for a newly declared property, null for every event (as the base's).
    mutating func addProperty(_ type: PropertyType) { properties.addProperty(type) }

    /// Whether a window with these bounds lies inside the copy.
    func covers(_ bounds: ClosedRange<UInt32>) -> Bool { bounds.lowerBound >= horizon }

    var memoryBytes: Int { offsets.capacity * 4 + times.capacity * 4 + properties.memoryBytes + rows.memoryBytes }
}
