/// Building an `ActivityIndex`: from a whole base, or from an older index plus a delta.
///
/// Both feed every bitmap from one flat list of (bucket, row) pairs grouped by a
/// counting sort (`BucketLists`), where a bucket is a day or a (split, key, day): no
/// per-bucket arrays to grow, no nested copy-on-write checks per event. The whole-base
/// build goes 65,536 rows at a time (one roaring container per bitmap), so its
/// scratch stays the size of one chunk's events.
extension ActivityIndex {
    /// The index of a base (compressed sparse rows, each row's times sorted) with
    /// property columns `properties`. O(events × split properties + buckets).
    init(offsets: ContiguousArray<UInt32>, times: ContiguousArray<UInt32>, properties: PropertyColumns = PropertyColumns()) {
        guard let earliest = times.min(), let latest = times.max() else { return }
        firstDay = Int(earliest / Self.day)
        let dayCount = Int(latest / Self.day) - firstDay + 1
        let columns = KeyColumns(properties, thresholds: [:], unsplit: [])
        var bitmaps = [Bitmap](repeating: Bitmap(), count: dayCount * (1 + columns.keyCount))
        var lists = BucketLists(buckets: bitmaps.count)
        let first = firstDay
        columns.withSources { sources in
            times.withUnsafeBufferPointer { times in
                offsets.withUnsafeBufferPointer { offsets in
                    var seen = [UInt64](repeating: 0, count: sources.count)  // per split, the keys listed for the row today
                    let rowCount = offsets.count - 1
                    for chunk in stride(from: 0, to: rowCount, by: 65_536) {
                        for u in chunk..<Swift.min(rowCount, chunk + 65_536) {
                            var previous = -1
                            // Times are sorted within a row: each day of the row is one run.
                            for p in Int(offsets[u])..<Int(offsets[u + 1]) {
                                let d = Int(times[p] / Self.day) - first
                                if d != previous {
                                    lists.add(d, UInt32(u))
                                    previous = d
                                    for s in seen.indices { seen[s] = 0 }
                                }
                                for s in sources.indices {
                                    var keys = sources[s].keys(p) & ~seen[s]
                                    seen[s] |= keys
                                    while keys != 0 {
                                        lists.add((1 + sources[s].firstKey + keys.trailingZeroBitCount) * dayCount + d, UInt32(u))
                                        keys &= keys &- 1
                                    }
                                }
                            }
                        }
                        lists.flush(into: &bitmaps, sortRuns: false)
                    }
                }
            }
        }
        unsplit = columns.unsplit
        install(bitmaps, columns, dayCount: dayCount)
    }

    /// This index with more events added: that of a base holding this one's events and
    /// `rows[i]` at `times[i]` with property values `properties` (a merge's delta, with
    /// every slot of the new base, which may have more slots than this index's base:
    /// their earlier events are null). Equal to the index built from the merged base,
    /// except that rows deleted since may stay listed (harmless, as for the base itself)
    /// and numeric splits keep their edges. O(delta events × split properties + buckets),
    /// plus a copy of each bitmap the delta touches; what a merge pays instead of
    /// rebuilding from every event.
    func adding(rows: ChunkedArray<UInt32>, times: ChunkedArray<UInt32>, properties: PropertyColumns) -> ActivityIndex {
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
        // The delta's keys: a property split here keeps its edges; one without a split
        // and not unsplit has only null base events (a slot added since, or a numeric
        // one that was all null), so it splits as the delta's values do.
        let columns = KeyColumns(properties, thresholds: splits.compactMapValues { split in split.edges.map { ($0, split.below) } }, unsplit: unsplit)
        var bitmaps = padded(days)
        for column in columns.columns {
            bitmaps += splits[column.slot]?.days.flatMap(padded) ?? Array(repeating: Bitmap(), count: dayCount * column.keyCount)
        }
        var lists = BucketLists(buckets: bitmaps.count)
        columns.withSources { sources in
            for i in 0..<rows.count {
                let d = Int(times[i] / Self.day) - first
                lists.add(d, rows[i])
                for s in sources.indices {
                    var keys = sources[s].keys(i)
                    while keys != 0 {
                        lists.add((1 + sources[s].firstKey + keys.trailingZeroBitCount) * dayCount + d, rows[i])
                        keys &= keys &- 1
                    }
                }
            }
        }
        lists.flush(into: &bitmaps, sortRuns: true)
        var out = ActivityIndex()
        out.firstDay = first
        out.unsplit = columns.unsplit
        out.install(bitmaps, columns, dayCount: dayCount)
        return out
    }

    /// Sets `days` and `splits` from the flat bucket bitmaps (optimized first).
    private mutating func install(_ bitmaps: [Bitmap], _ columns: KeyColumns, dayCount: Int) {
        var bitmaps = bitmaps
        for b in bitmaps.indices { bitmaps[b].optimize() }
        memoryBytes = bitmaps.reduce(bitmaps.count * 8) { $0 + $1.memoryBytes }
        days = Array(bitmaps[0..<dayCount])
        splits = [:]
        var next = dayCount
        for column in columns.columns {
            splits[column.slot] = Split(edges: column.edges, below: column.below, days: (0..<column.keyCount).map { k in Array(bitmaps[(next + k * dayCount)..<(next + (k + 1) * dayCount)]) })
            next += column.keyCount * dayCount
        }
    }
}

/// The split properties of a column set and how to key its events.
private struct KeyColumns {
    struct Column {
        let slot: PropertyColumns.Slot
        /// Thresholds of a numeric property (`Split.edges`, `below` of them lower
        /// ones); nil for a string property (keyed by code).
        let edges: [Double]?
        var below = 0
        var keyCount: Int { ActivityIndex.Split.keyCount(edges: edges) }
    }

    private(set) var columns: [Column] = []
    /// String slots not split (a code past `maxCodes`), the given ones included.
    private(set) var unsplit: Set<PropertyColumns.Slot>
    private let properties: PropertyColumns

    /// The split properties of `properties`: string slots not in `unsplit` whose codes
    /// are all below `maxCodes`, and int and float slots with non-null values, with the
    /// thresholds `thresholds[slot]` or, for a slot without, their own (`thresholds`).
    init(_ properties: PropertyColumns, thresholds given: [PropertyColumns.Slot: ([Double], Int)], unsplit: Set<PropertyColumns.Slot>) {
        self.properties = properties
        self.unsplit = unsplit
        for (i, codes) in properties.strings.enumerated() where !unsplit.contains(.string(i)) {
            if codes.allSatisfy({ $0 < UInt32(ActivityIndex.maxCodes) || $0 == NullSentinel.stringCode }) {
                columns.append(Column(slot: .string(i), edges: nil))
            } else {
                self.unsplit.insert(.string(i))
            }
        }
        func numeric(_ slot: PropertyColumns.Slot, _ count: Int, _ value: (Int) -> Double) {
            guard let (edges, below) = given[slot] ?? Self.thresholds(count: count, value) else { return }
            columns.append(Column(slot: slot, edges: edges, below: below))
        }
        for (i, column) in properties.ints.enumerated() {
            numeric(.int(i), column.count) { column[$0] == NullSentinel.int ? .nan : Double(column[$0]) }
        }
        for (i, column) in properties.floats.enumerated() { numeric(.float(i), column.count) { column[$0] } }
    }

    /// Keys of all splits together.
    var keyCount: Int { columns.reduce(0) { $0 + $1.keyCount } }

    /// Thresholds for a column's non-null values (`value` gives them, NaN for null): its
    /// `Split.quantiles`, of a sample of at most 64 Ki evenly spaced values, without
    /// repeats within each group, and how many are lower ones. Nil when every value is
    /// null.
    static func thresholds(count: Int, _ value: (Int) -> Double) -> ([Double], Int)? {
        let step = Swift.max(1, count / 65_536)
        var sample = [Double]()
        for p in stride(from: 0, to: count, by: step) {
            let x = value(p)
            if !x.isNaN { sample.append(x) }
        }
        guard !sample.isEmpty else { return nil }
        sample.sort()
        func edges(_ quantiles: [Double]) -> [Double] {
            var edges = [Double]()
            for q in quantiles {
                let x = sample[Swift.min(sample.count - 1, Int(q * Double(sample.count)))]
                if edges.last != x { edges.append(x) }
            }
            return edges
        }
        let below = edges(ActivityIndex.Split.quantiles.below)
        return (below + edges(ActivityIndex.Split.quantiles.above), below.count)
    }

    /// Calls `body` with a key source per split column, in `columns` order.
    ///
    /// Memory safety: the sources hold raw pointers into `properties`' columns and a
    /// copy of the edges made here; both live until `body` returns, and nothing
    /// mutates them meanwhile.
    func withSources<R>(_ body: (UnsafeBufferPointer<KeySource>) -> R) -> R {
        let allEdges = ContiguousArray(columns.flatMap { $0.edges ?? [] })
        return allEdges.withUnsafeBufferPointer { edges in
            var sources = ContiguousArray<KeySource>()
            var firstKey = 0, firstEdge = 0
            for column in columns {
                let count = column.edges?.count ?? 0
                let columnEdges = UnsafeBufferPointer(rebasing: edges[firstEdge..<(firstEdge + count)])
                let values: UnsafeRawPointer?
                let kind: KeySource.Kind
                switch column.slot {
                case .string(let s): (kind, values) = (.codes, properties.strings[s].withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) })
                case .int(let s): (kind, values) = (.ints, properties.ints[s].withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) })
                case .float(let s): (kind, values) = (.floats, properties.floats[s].withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) })
                case .bool: preconditionFailure("bool properties are not split")
                }
                sources.append(KeySource(kind: kind, values: values, edges: columnEdges, below: column.below, firstKey: firstKey))
                firstKey += column.keyCount
                firstEdge += count
            }
            return withExtendedLifetime(properties) { sources.withUnsafeBufferPointer(body) }
        }
    }
}

/// One split column's keys per event, read through raw pointers (trivial: copying it or
/// calling `keys` costs no reference counting).
private struct KeySource {
    enum Kind { case codes, ints, floats }
    let kind: Kind
    /// The column's first element (nil for an empty column, never read then).
    let values: UnsafeRawPointer?
    let edges: UnsafeBufferPointer<Double>
    let below: Int
    /// The split's first key among all splits' keys (its buckets' offset).
    let firstKey: Int

    /// Event `p`'s keys as bits: its code; or the thresholds its value meets (below
    /// `edges[k]` for `k < below`, at or above it for the others). None for null.
    @inline(__always) func keys(_ p: Int) -> UInt64 {
        let x: Double
        switch kind {
        case .codes:
            let c = values!.load(fromByteOffset: p * 4, as: UInt32.self)
            return c == NullSentinel.stringCode ? 0 : 1 &<< UInt64(c)
        case .ints:
            let v = values!.load(fromByteOffset: p * 8, as: Int64.self)
            if v == NullSentinel.int { return 0 }
            x = Double(v)
        case .floats:
            x = values!.load(fromByteOffset: p * 8, as: Double.self)
            if x.isNaN { return 0 }
        }
        var keys: UInt64 = 0
        for k in 0..<below where x < edges[k] { keys |= 1 &<< UInt64(k) }
        for k in below..<edges.count where x >= edges[k] { keys |= 1 &<< UInt64(k) }
        return keys
    }
}
/// (bucket, row) pairs, grouped per bucket by a counting sort and added to that
/// bucket's bitmap. Rows of a bucket keep the order they were added in (the whole-base
/// build adds them ascending); `sortRuns` sorts each bucket's rows first.
private struct BucketLists {
    private var pairs = ContiguousArray<UInt64>()  // bucket << 32 | row
    private var starts: ContiguousArray<Int>
    private var grouped = ContiguousArray<UInt32>()

    init(buckets: Int) { starts = ContiguousArray(repeating: 0, count: buckets + 1) }

    @inline(__always) mutating func add(_ bucket: Int, _ row: UInt32) { pairs.append(UInt64(bucket) << 32 | UInt64(row)) }

    /// Adds every bucket's rows to `bitmaps[bucket]`, then forgets them.
    mutating func flush(into bitmaps: inout [Bitmap], sortRuns: Bool) {
        guard !pairs.isEmpty else { return }
        for b in starts.indices { starts[b] = 0 }
        for pair in pairs { starts[Int(pair >> 32) + 1] += 1 }
        for b in 1..<starts.count { starts[b] += starts[b - 1] }
        grouped.removeAll(keepingCapacity: true)
        grouped.append(contentsOf: repeatElement(0, count: pairs.count))
        var next = starts
        for pair in pairs {
            let b = Int(pair >> 32)
            grouped[next[b]] = UInt32(truncatingIfNeeded: pair)
            next[b] += 1
        }
        grouped.withUnsafeMutableBufferPointer { grouped in
            for b in 0..<(starts.count - 1) where starts[b] < starts[b + 1] {
                var run = UnsafeMutableBufferPointer(rebasing: grouped[starts[b]..<starts[b + 1]])
                if sortRuns { run.sort() }
                bitmaps[b].add(contentsOf: UnsafeBufferPointer(run))
            }
        }
        pairs.removeAll(keepingCapacity: true)
    }
}
