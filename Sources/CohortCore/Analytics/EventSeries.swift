/// `SERIES.EVENTS fn(event[.prop] [where expr])` per bucket (FEATURES §4.3): the events
/// of one type passing the filter with `start_b <= t < end_b` and `t <= now`, of the
/// group's users, reduced by `fn` over all of them (an `avg` is the mean of every value,
/// not of per-user means; `distinct` counts distinct values across users).
///
/// One pass over each user's events in the series' span (a binary search for its
/// start), in parallel over users; per-chunk accumulators merged in chunk order.
struct EventSeries: Sendable {
    enum Function: String, Sendable {
        case count, sum, avg, min, max, distinct, users
    }

    let function: Function
    let table: Int
    let property: PropertyColumns.Slot?
    let filter: BoolPlan?

    /// One bucket's reduction.
    struct Accumulator: Sendable {
        var events = 0
        var users = 0
        var values = 0
        var intSum: Int64 = 0
        var intOverflow = false
        var sum = 0.0
        var min = Double.infinity
        var max = -Double.infinity
        /// Exact extremes of int and bool values.
        var intMin = Int64.max
        var intMax = Int64.min
        var distinct: Set<UInt64> = []
        fileprivate var lastRow: UInt32 = .max

        mutating func merge(_ other: Accumulator) {
            events += other.events
            users += other.users
            values += other.values
            let (s, overflow) = intSum.addingReportingOverflow(other.intSum)
            (intSum, intOverflow) = (s, intOverflow || other.intOverflow || overflow)
            sum += other.sum
            min = Swift.min(min, other.min)
            max = Swift.max(max, other.max)
            intMin = Swift.min(intMin, other.intMin)
            intMax = Swift.max(intMax, other.intMax)
            distinct.formUnion(other.distinct)
        }
    }

    /// The accumulators of `buckets` (consecutive, ascending) over the members of
    /// `groups[k]` for bucket k, or of `rows` for every bucket when `groups` is empty
    /// (each group a subset of `rows`, every row live).
    ///
    /// Only rows with events of the type in the series' span are read: those the table's
    /// `ActivityIndex` lists on its days, and those with delta events. `users(e)` without
    /// a filter is not read at all for a bucket of whole UTC days that is over by `now`:
    /// its users are the index's rows on those days, plus the rows with a delta event in
    /// it, within its group (DAU as a union of day bitmaps).
    func values(rows: Bitmap, groups: [Bitmap], _ buckets: [Buckets.Bucket], now: Int64, _ evaluator: Evaluator) -> [Accumulator] {
        let table = evaluator.db.events.tables[self.table]
        var values = [Accumulator?](repeating: nil, count: buckets.count)
        if function == .users, filter == nil, let last = buckets.last {
            let hits = deltaRows(table, rows, buckets, through: Swift.min(now, last.end - 1))
            for (k, bucket) in buckets.enumerated() where bucket.complete(now) && bucket.start >= 0 && bucket.end - 1 <= Int64(UInt32.max) {
                guard var users = table.activity.rows(inWholeDays: UInt32(bucket.start)...UInt32(bucket.end - 1)) else { continue }
                users.formUnion(hits[k])
                var a = Accumulator()
                a.users = users.intersectionCount(groups.isEmpty ? rows : groups[k])
                values[k] = a
            }
        }
        let rest = buckets.indices.filter { values[$0] == nil }
        if let first = rest.first, let last = rest.last {
            // Only the rows with events between the first's start and the last's now_b.
            let scan = table.rowsWithEvents(from: buckets[first].start, through: Swift.min(now, buckets[last].end - 1))
            let scanned = accumulate(scan.intersection(rows).toArray(), rest.map { buckets[$0] }, now: now, evaluator) { k, row in
                groups.isEmpty || groups[rest[k]].contains(row)
            }
            for (k, a) in zip(rest, scanned) { values[k] = a }
        }
        return values.map { $0 ?? Accumulator() }
    }

    /// Per bucket, the rows of `candidates` with a delta event in it at or before
    /// `through`: one walk of each such row's delta list. O(their delta events).
    private func deltaRows(_ table: EventTable, _ candidates: Bitmap, _ buckets: [Buckets.Bucket], through: Int64) -> [Bitmap] {
        var lists = [ContiguousArray<UInt32>](repeating: [], count: buckets.count)
        guard !table.deltaUsers.isEmpty, through >= buckets[0].start else { return lists.map { _ in Bitmap() } }
        let delta = DeltaReader(table, nil)
        let lower = UInt32(clamping: Swift.max(0, buckets[0].start))
        for row in table.deltaUsers.intersection(candidates) {
            var d = delta.first(of: row, from: lower)
            while d != EventTable.DeltaList.end, Int64(delta.times[Int(d)]) <= through {
                let t = Int64(delta.times[Int(d)])
                let b = Self.bucket(of: t, buckets)
                if t < buckets[b].end, lists[b].last != row { lists[b].append(row) }
                d = delta.next[Int(d)]
            }
        }
        return lists.map { list in
            var bitmap = Bitmap()
            list.withUnsafeBufferPointer { bitmap.add(contentsOf: $0) }
            return bitmap
        }
    }

    /// The accumulators of `buckets` (ascending, not necessarily consecutive: an event
    /// between two of them counts in neither) over `rows`; `member(k, row)` says whether
    /// `row` is in bucket k's group.
    func accumulate(
        _ rows: ContiguousArray<UInt32>, _ buckets: [Buckets.Bucket], now: Int64, _ evaluator: Evaluator,
        member: @Sendable @escaping (Int, UInt32) -> Bool
    ) -> [Accumulator] {
        guard let first = buckets.first, let last = buckets.last else { return [] }
        let through = Swift.min(now, last.end - 1)
        let parts = parallelChunks(rows) { chunk -> [Accumulator] in
            var acc = [Accumulator](repeating: Accumulator(), count: buckets.count)
            var evaluator = evaluator
            let table = evaluator.db.events.tables[self.table]
            var events: [(position: Int, time: UInt32)] = []
            for row in chunk {
                events.removeAll(keepingCapacity: true)
                table.appendEvents(of: row, from: first.start, through: through, into: &events)
                for (position, time) in events {
                    let b = Self.bucket(of: Int64(time), buckets)
                    guard Int64(time) < buckets[b].end, member(b, row) else { continue }
                    if let filter {
                        evaluator.now = buckets[b].now(now)
                        evaluator.bucket = (buckets[b].start, buckets[b].end)
                        guard evaluator.test(filter, row, EventRef(table: self.table, position: position)) else { continue }
                    }
                    add(table, position, row, into: &acc[b])
                }
            }
            return acc
        }
        var total = [Accumulator](repeating: Accumulator(), count: buckets.count)
        for part in parts { for b in total.indices { total[b].merge(part[b]) } }
        return total
    }

    /// The index of the last bucket starting at or before `t` (the buckets ascending).
    private static func bucket(of t: Int64, _ buckets: [Buckets.Bucket]) -> Int {
        var (low, high) = (0, buckets.count - 1)
        while low < high {
            let mid = (low + high + 1) / 2
            if buckets[mid].start <= t { low = mid } else { high = mid - 1 }
        }
        return low
    }

    private func add(_ table: EventTable, _ p: Int, _ row: UInt32, into a: inout Accumulator) {
        a.events += 1
        if a.lastRow != row {
            a.users += 1
            a.lastRow = row
        }
        guard let property else { return }
        let x: Double
        let key: UInt64
        switch property {
        case .int(let s):
            let v = table.intValue(s, p)
            if v == NullSentinel.int { return }
            let (sum, overflow) = a.intSum.addingReportingOverflow(v)
            (a.intSum, a.intOverflow) = (sum, a.intOverflow || overflow)
            (a.intMin, a.intMax) = (Swift.min(a.intMin, v), Swift.max(a.intMax, v))
            (x, key) = (Double(v), UInt64(bitPattern: v))
        case .float(let s):
            let v = table.floatValue(s, p)
            if v.isNaN { return }
            (x, key) = (v, (v == 0 ? 0.0 : v).bitPattern)
        case .bool(let s):
            let v = table.boolValue(s, p)
            if v == NullSentinel.bool { return }
            a.intSum += Int64(v)
            (a.intMin, a.intMax) = (Swift.min(a.intMin, Int64(v)), Swift.max(a.intMax, Int64(v)))
            (x, key) = (Double(v), UInt64(v))
        case .string(let s):
            let code = table.stringCode(s, p)
            if code == NullSentinel.stringCode { return }
            a.values += 1
            if function == .distinct { a.distinct.insert(UInt64(code)) }
            return
        }
        a.values += 1
        a.sum += x
        a.min = Swift.min(a.min, x)
        a.max = Swift.max(a.max, x)
        if function == .distinct { a.distinct.insert(key) }
    }

    /// A bucket's value as replied: counts as integers, int and bool sums, minima and
    /// maxima as integers, float ones and averages as doubles, nil for no value.
    func reply(_ a: Accumulator) -> Reply {
        let integral: Bool
        switch property {
        case .int?, .bool?: integral = true
        default: integral = false
        }
        switch function {
        case .count: return .integer(Int64(a.events))
        case .users: return .integer(Int64(a.users))
        case .distinct: return .integer(Int64(a.distinct.count))
        case .sum: return integral && !a.intOverflow ? .integer(a.intSum) : .double(a.values == 0 ? 0 : a.sum)
        case .avg: return a.values == 0 ? .null : .double(a.sum / Double(a.values))
        case .min: return a.values == 0 ? .null : integral ? .integer(a.intMin) : .double(a.min)
        case .max: return a.values == 0 ? .null : integral ? .integer(a.intMax) : .double(a.max)
        }
    }
}
