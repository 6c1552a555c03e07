/// Batch evaluation: a value plan for many rows at once, into a buffer of doubles.
///
/// This is the fast path of per-user leaves in `rows(_:within:)`. Columns are read
/// through scoped unsafe buffers, constants are folded, and unfiltered aggregates over
/// a constant window run as tight loops over `offsets`/`times`/property columns with
/// two binary searches per user. Anything else (filtered aggregates, per-user windows,
/// strings) falls back to the scalar interpreter row by row, so both paths always
/// agree (the differential tests compare them with a reference).
extension Evaluator {
    /// `out[i]` = the value of `plan` for `rows[i]` (NaN for null).
    func numbers(_ plan: ValuePlan, _ rows: UnsafeBufferPointer<UInt32>, into out: UnsafeMutableBufferPointer<Double>) {
        switch plan {
        case .number(let x):
            out.update(repeating: x)
        case .int64Column(let c):
            db.attributes.int64s[c].values.withUnsafeBufferPointer { column in
                for i in rows.indices {
                    let r = Int(rows[i])
                    out[i] = r < column.count && column[r] != NullSentinel.int ? Double(column[r]) : .nan
                }
            }
        case .doubleColumn(let c):
            db.attributes.doubles[c].values.withUnsafeBufferPointer { column in
                for i in rows.indices {
                    let r = Int(rows[i])
                    out[i] = r < column.count ? column[r] : .nan
                }
            }
        case .binary(let op, let l, let r, _):
            numbers(l, rows, into: out)
            withUnsafeTemporaryAllocation(of: Double.self, capacity: rows.count) { right in
                numbers(r, rows, into: right)
                switch op {
                case .add: for i in rows.indices { out[i] += right[i] }
                case .subtract: for i in rows.indices { out[i] -= right[i] }
                case .multiply: for i in rows.indices { out[i] *= right[i] }
                case .divide: for i in rows.indices { out[i] = right[i] == 0 ? .nan : out[i] / right[i] }
                }
            }
        case .negate(let v):
            numbers(v, rows, into: out)
            for i in rows.indices { out[i] = -out[i] }
        case .aggregate(let a) where a.function != .distinct:
            if let (lo, hi) = constantWindow(a.window) {
                aggregateKernel(a, lo, hi, rows, into: out)
            } else {
                for i in rows.indices { out[i] = number(plan, rows[i], nil) }
            }
        default:
            for i in rows.indices { out[i] = number(plan, rows[i], nil) }
        }
    }

    /// The window as an inclusive `[lo, hi]` in stored (UInt32) seconds when it does not
    /// depend on the user; nil otherwise. An empty window is `(1, 0)`.
    func constantWindow(_ window: WindowPlan) -> (UInt32, UInt32)? {
        var lo = Int64.min
        var hi = now
        switch window {
        case .all: break
        case .last(.number(let d)):
            if d.isNaN { return (1, 0) }
            lo = now - Int64(d.rounded(.up))
        case .range(.number(let a), .number(let b)):
            if a.isNaN || b.isNaN { return (1, 0) }
            lo = Int64(a.rounded(.up))
            hi = Swift.min(hi, Int64(b.rounded(.up)) - 1)
        default: return nil
        }
        if hi < lo || hi < 0 || lo > Int64(UInt32.max) { return (1, 0) }
        return (UInt32(Swift.max(lo, 0)), UInt32(Swift.min(hi, Int64(UInt32.max))))
    }

    /// Unfiltered aggregate over `[lo, hi]` for each row. Reads the table's columns
    /// through buffers scoped to this call.
    private func aggregateKernel(
        _ a: AggregatePlan, _ lo: UInt32, _ hi: UInt32, _ rows: UnsafeBufferPointer<UInt32>, into out: UnsafeMutableBufferPointer<Double>
    ) {
        let emptyValue: Double = (a.function == .count || a.function == .sum) ? 0 : .nan
        let table = a.table
        db.events.tables[table].offsets.withUnsafeBufferPointer { offsets in
            db.events.tables[table].times.withUnsafeBufferPointer { times in
                withPropertyColumn(a.property, table) { property in
                    for i in rows.indices {
                        let r = Int(rows[i])
                        guard lo <= hi, r + 1 < offsets.count else {
                            out[i] = emptyValue
                            continue
                        }
                        var start = Int(offsets[r])
                        var end = Int(offsets[r + 1])
                        if start == end {
                            out[i] = emptyValue
                            continue
                        }
                        // First position with t >= lo, then first with t > hi; the slice's
                        // ends are checked first since windows usually cover its recent end.
                        if times[start] < lo { start = Self.firstIndex(times, start, end) { $0 >= lo } }
                        if start < end, times[end - 1] > hi { end = Self.firstIndex(times, start, end) { $0 > hi } }
                        if let filter = a.filter {
                            out[i] = reduceFiltered(a.function, filter, rows[i], table, start, end, times, property, emptyValue)
                        } else {
                            out[i] = Self.reduce(a.function, start, end, times, property, emptyValue)
                        }
                    }
                }
            }
        }
    }

    /// The first index in `start..<end` whose time satisfies `isAfter` (a predicate that
    /// is false then true along the sorted slice), or `end`. Branch-free halving: the
    /// data-dependent choice compiles to a conditional move, which matters on the long,
    /// unpredictable slices of very active users.
    @inline(__always)
    static func firstIndex(_ times: UnsafeBufferPointer<UInt32>, _ start: Int, _ end: Int, _ isAfter: (UInt32) -> Bool) -> Int {
        var base = start
        var length = end - start
        if length == 0 { return end }
        while length > 1 {
            let half = length >> 1
            base = isAfter(times[base + half - 1]) ? base : base + half
            length -= half
        }
        return isAfter(times[base]) ? base : base + 1
    }

    @inline(__always)
    private static func reduce(
        _ function: AggregateCall.Function, _ start: Int, _ end: Int, _ times: UnsafeBufferPointer<UInt32>, _ property: PropertyBuffer?,
        _ emptyValue: Double
    ) -> Double {
        let n = end - start
        switch function {
        case .count:
            guard let property else { return Double(n) }
            var k = 0
            for p in start..<end where !property.value(p).isNaN { k += 1 }
            return Double(k)
        case .first:
            guard n > 0 else { return .nan }
            return property?.value(start) ?? Double(times[start])
        case .last:
            guard n > 0 else { return .nan }
            return property?.value(end - 1) ?? Double(times[end - 1])
        case .avg_gap:
            return n < 2 ? .nan : Double(times[end - 1] - times[start]) / Double(n - 1)
        case .sum, .avg, .min, .max:
            guard let property else { return emptyValue }
            var statistics = Statistics()
            for p in start..<end { statistics.add(property.value(p)) }
            return statistics.value(of: function)
        case .distinct:
            return .nan  // not reached: distinct takes the scalar path
        }
    }

    /// As `reduce`, counting only the events that pass `filter` (tested one by one).
    private func reduceFiltered(
        _ function: AggregateCall.Function, _ filter: BoolPlan, _ row: UInt32, _ table: Int, _ start: Int, _ end: Int,
        _ times: UnsafeBufferPointer<UInt32>, _ property: PropertyBuffer?, _ emptyValue: Double
    ) -> Double {
        var statistics = Statistics()
        var firstPosition = -1
        var lastPosition = -1
        var counted = 0
        for p in start..<end where test(filter, row, EventRef(table: table, position: p)) {
            if firstPosition < 0 { firstPosition = p }
            lastPosition = p
            counted += 1
            if let property { statistics.add(property.value(p)) }
        }
        switch function {
        case .count: return Double(property == nil ? counted : statistics.count)
        case .sum, .avg, .min, .max: return statistics.value(of: function)
        case .first: return firstPosition < 0 ? .nan : (property?.value(firstPosition) ?? Double(times[firstPosition]))
        case .last: return lastPosition < 0 ? .nan : (property?.value(lastPosition) ?? Double(times[lastPosition]))
        case .avg_gap: return counted < 2 ? .nan : Double(times[lastPosition] - times[firstPosition]) / Double(counted - 1)
        case .distinct: return emptyValue  // not reached: distinct takes the scalar path
        }
    }

    /// Runs `body` with a reader of the property column (nil when the call names none).
    private func withPropertyColumn<T>(_ slot: PropertyColumns.Slot?, _ table: Int, _ body: (PropertyBuffer?) -> T) -> T {
        guard let slot else { return body(nil) }
        let columns = db.events.tables[table].properties
        switch slot {
        case .int(let s): return columns.ints[s].withUnsafeBufferPointer { body(.int($0)) }
        case .float(let s): return columns.floats[s].withUnsafeBufferPointer { body(.float($0)) }
        case .bool(let s): return columns.bools[s].withUnsafeBufferPointer { body(.bool($0)) }
        case .string(let s): return columns.strings[s].withUnsafeBufferPointer { body(.string($0)) }
        }
    }
}

/// A property column seen through a buffer valid for one `withPropertyColumn` call.
enum PropertyBuffer {
    case int(UnsafeBufferPointer<Int64>)
    case float(UnsafeBufferPointer<Double>)
    case bool(UnsafeBufferPointer<UInt8>)
    case string(UnsafeBufferPointer<UInt32>)

    /// The value at `p` as a number, NaN for null.
    @inline(__always)
    func value(_ p: Int) -> Double {
        switch self {
        case .int(let b): b[p] == NullSentinel.int ? .nan : Double(b[p])
        case .float(let b): b[p]
        case .bool(let b): b[p] == NullSentinel.bool ? .nan : Double(b[p])
        case .string(let b): b[p] == NullSentinel.stringCode ? .nan : Double(b[p])
        }
    }
}
