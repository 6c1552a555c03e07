import CIntrinsics
/// The one definition of every aggregate function (DESIGN §3): what an event adds to a
/// user's running state, and what the state answers.
///
/// Both evaluation paths go through here: the scalar path (`Evaluator.aggregate`,
/// one user) and the batch kernel (`Evaluator.numbers`, many users) find the user's
/// window with `EventWindow`, then feed each event of it that passes the `where` filter
/// to `add`. So the null rules, the arrival-order tie rule and the window bounds are
/// written once; a new function is a case here plus its type rule in the binder.
///
/// Rules: `count(e)` counts events, `count(e.p)` the events whose p is non-null (SQL's
/// `count(col)`); `sum` is 0 over no values, `avg`/`min`/`max` null; `first`/`last` are
/// the earliest/latest event (ties: the later-arrived is later, which is storage order)
/// and, with a property, p's value on that event (null when that event has none);
/// `distinct` counts distinct non-null values; `avg_gap` is the mean gap between
/// consecutive events, null with fewer than two. `Number` is the representation
/// (`EvaluationNumber`): Int64 for int-typed aggregates (`AggregatePlan.isInteger`), so
/// sums and extremes of int properties are exact; Double otherwise. Cost: O(1) per
/// event, O(distinct values) memory for `distinct` only.
struct AggregateState<Number: EvaluationNumber> {
    let function: AggregateCall.Function
    /// Whether the call names a property (`count(e.p)` against `count(e)`).
    let hasProperty: Bool
    private(set) var events = 0
    private(set) var values = Statistics<Number>()
    private(set) var firstPosition = -1
    private(set) var lastPosition = -1
    private var firstTime: UInt32 = 0
    private var lastTime: UInt32 = 0
    private var firstValue = Number.null
    private var lastValue = Number.null
    private var seen: Set<UInt64> = []

    init(_ function: AggregateCall.Function, hasProperty: Bool) {
        self.function = function
        self.hasProperty = hasProperty
    }

    /// Adds the event at `position` (`EventTable`'s positions) with `time`, its property
    /// value read from `property` at `index` (nil when the call names none). Events must
    /// come in storage order (time, then arrival).
    @inline(__always)
    mutating func add(position: Int, time: UInt32, property: PropertyBuffer?, at index: Int) {
        add(position: position, time: time, value: property?.value(index) ?? .null, key: function == .distinct ? property?.key(index) : nil)
    }

    /// Adds an event given its property value and, for `distinct`, the value's stored
    /// bits (nil for null or when the call names no property).
    @inline(__always)
    mutating func add(position: Int, time: UInt32, value: Number, key: UInt64?) {
        if events == 0 {
            firstPosition = position
            firstTime = time
            firstValue = value
        }
        events += 1
        lastPosition = position
        lastTime = time
        lastValue = value
        values.add(value)
        if let key { seen.insert(key) }
    }

    /// The aggregate, null when it has none. String-valued `first`/`last` read the
    /// string at `edgePosition` instead.
    var result: Number {
        switch function {
        case .count where !hasProperty: return Number(int: Int64(events))
        case .count, .sum, .avg, .min, .max: return Self.result(function, values)
        case .first: return events == 0 ? .null : (hasProperty ? firstValue : Number(int: Int64(firstTime)))
        case .last: return events == 0 ? .null : (hasProperty ? lastValue : Number(int: Int64(lastTime)))
        case .distinct: return Number(int: Int64(seen.count))
        case .avg_gap:
            // The mean of consecutive gaps telescopes to (last - first) / (n - 1).
            return events < 2 ? .null : Number(double: Double(lastTime - firstTime) / Double(events - 1))
        }
    }

    /// `count(e.p)`, `sum`, `avg`, `min` or `max` of the non-null values in `values`.
    @inline(__always)
    static func result(_ function: AggregateCall.Function, _ values: Statistics<Number>) -> Number {
        switch function {
        case .sum: return values.sum
        case .avg: return values.count == 0 ? .null : Number(double: values.sum.asDouble / Double(values.count))
        case .min: return values.count == 0 ? .null : values.min
        case .max: return values.count == 0 ? .null : values.max
        default: return Number(int: Int64(values.count))  // count(e.p)
        }
    }

    /// The event `first`/`last` answer with, nil when no event was added.
    var edgePosition: Int? {
        guard events > 0 else { return nil }
        return function == .first ? firstPosition : lastPosition
    }

    /// The result of the unfiltered aggregate over `start..<end` without the per-event
    /// bookkeeping of `add`. Equal to adding every event by construction: `count(e)` is
    /// the length, `first`/`last`/`avg_gap` read the slice's ends, the value statistics
    /// are one tight loop over the property column feeding `result`, and `distinct`
    /// counts the slice's keys sorted in place (no hashing, no allocation for the short
    /// slices of most users).
    @inline(__always)
    @_specialize(where Number == Double)
    @_specialize(where Number == Int64)
    static func shortcut(
        _ function: AggregateCall.Function, _ start: Int, _ end: Int, _ times: UnsafeBufferPointer<UInt32>, _ property: PropertyBuffer?
    ) -> Number {
        let n = end - start
        switch function {
        case .count where property == nil: return Number(int: Int64(n))
        case .first: return n == 0 ? .null : (property.map { $0.value(start) } ?? Number(int: Int64(times[start])))
        case .last: return n == 0 ? .null : (property.map { $0.value(end - 1) } ?? Number(int: Int64(times[end - 1])))
        case .avg_gap: return n < 2 ? .null : Number(double: Double(times[end - 1] - times[start]) / Double(n - 1))
        case .count, .sum, .avg, .min, .max:
            var values = Statistics<Number>()
            property?.accumulate(start..<end, into: &values)
            return result(function, values)
        case .distinct:
            guard let property else { return Number(int: 0) }
            return Number(int: Int64(DistinctKey.count(property, capacity: n) { body in for p in start..<end { body(p) } }))
        }
    }
}

/// The events a window selects, as an inclusive interval of stored (UInt32) seconds
/// (DESIGN §3): `last D` is `[now - D, now]`, `from A to B` is `[A, B - 1]` capped at now
/// (times are whole seconds), no window is `[0, now]`. Nil when the window is empty or
/// a bound is null. The one place window arithmetic happens.
enum EventWindow {
    static func bounds(_ window: WindowPlan, now: Int64, _ value: (ValuePlan) -> Double) -> ClosedRange<UInt32>? {
        var lo = Int64.min
        var hi = now
        switch window {
        case .all: break
        case .last(let d):
            let seconds = value(d)
            if seconds.isNaN { return nil }
            lo = now - Int64(seconds.rounded(.up))
        case .range(let from, let to):
            let a = value(from)
            let b = value(to)
            if a.isNaN || b.isNaN { return nil }
            lo = Int64(a.rounded(.up))
            hi = Swift.min(hi, Int64(b.rounded(.up)) - 1)
        }
        if hi < lo || hi < 0 || lo > Int64(UInt32.max) { return nil }
        return UInt32(Swift.max(lo, 0))...UInt32(Swift.min(hi, Int64(UInt32.max)))
    }

    /// The positions of `start..<end` (one user's time-sorted slice) inside `bounds`.
    /// The slice's ends are checked first, since windows usually cover its recent end.
    @inline(__always)
    static func slice(_ times: UnsafeBufferPointer<UInt32>, _ start: Int, _ end: Int, _ bounds: ClosedRange<UInt32>) -> Range<Int> {
        var start = start
        var end = end
        if start == end { return start..<end }
        let lo = bounds.lowerBound
        let hi = bounds.upperBound
        if times[start] < lo { start = firstIndex(times, start, end) { $0 >= lo } }
        if start < end, times[end - 1] > hi { end = firstIndex(times, start, end) { $0 > hi } }
        return start..<end
    }

    /// The window of each of `rows` (ascending user rows; `offsets`/`times` a table's
    /// base) into `windows`: what `slice` gives each, empty for rows the base does not
    /// cover.
    ///
    /// When the rows are dense in the base (their span holds at most `denseEvents`
    /// events per row), one branch-free pass over the span's times replaces the
    /// per-row searches: running counts of the events before the window (`t < lo`)
    /// and up to its end (`t <= hi`), sampled at each row's boundaries. A slice is
    /// sorted, so its window starts after its events before `lo` and ends after its
    /// events up to `hi`. The searches cost a few mispredicted branches per row
    /// (~20 ns); the pass ~1 ns per event and no data-dependent branch. Sparse rows
    /// (a narrowed candidate set) keep the searches. `latest`, when known, is at least
    /// every time in `times`: a window ending at or after it needs no count of its end.
    static func slices(
        _ rows: UnsafeBufferPointer<UInt32>, _ offsets: UnsafeBufferPointer<UInt32>, _ times: UnsafeBufferPointer<UInt32>,
        _ bounds: ClosedRange<UInt32>, latest: UInt32 = .max, into windows: UnsafeMutableBufferPointer<Range<Int>>
    ) {
        // Rows at or past `offsets.count - 1` have no base events; ascending, they come last.
        var covered = rows.count
        while covered > 0, Int(rows[covered - 1]) + 1 >= offsets.count {
            covered -= 1
            windows[covered] = 0..<0
        }
        guard covered > 0 else { return }
        let spanStart = Int(offsets[Int(rows[0])])
        let spanEnd = Int(offsets[Int(rows[covered - 1]) + 1])
        let n = spanEnd - spanStart
        if n > denseEvents * covered {
            // Sparse rows (a pruned candidate set) are scattered over the base: each
            // costs a miss on its offsets and another on its times, one waiting on the
            // other. Fetch them ahead in two stages (offsets `far` rows ahead, the times
            // they point at `near` rows ahead) so the misses of several rows overlap.
            let (near, far) = (8, 16)
            let o = offsets.baseAddress!, t = times.baseAddress!
            for i in 0..<Swift.min(far, covered) { cohort_prefetch(o + Int(rows[i])) }
            for i in 0..<Swift.min(near, covered) { cohort_prefetch(t + Int(o[Int(rows[i])])) }
            for i in 0..<covered {
                if i + far < covered { cohort_prefetch(o + Int(rows[i + far])) }
                if i + near < covered { cohort_prefetch(t + Int(o[Int(rows[i + near])])) }
                let r = Int(rows[i])
                windows[i] = slice(times, Int(offsets[r]), Int(offsets[r + 1]), bounds)
            }
            return
        }
        let (lo, hi) = (bounds.lowerBound, bounds.upperBound)
        // Every event at or before the window's end (a window ending now over data
        // without future events): each window runs to its slice's end, and only the
        // events before `lo` are counted.
        let toEnd = hi >= latest
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: (toEnd ? 1 : 2) * (n + 1)) { counts in
            let before = counts.baseAddress!
            let through = before + (n + 1)
            var b: UInt32 = 0
            var t: UInt32 = 0
            before[0] = 0
            if toEnd {
                for k in 0..<n {
                    b &+= times[spanStart + k] < lo ? 1 : 0
                    before[k + 1] = b
                }
            } else {
                through[0] = 0
                for k in 0..<n {
                    let time = times[spanStart + k]
                    b &+= time < lo ? 1 : 0
                    t &+= time <= hi ? 1 : 0
                    before[k + 1] = b
                    through[k + 1] = t
                }
            }
            for i in 0..<covered {
                let r = Int(rows[i])
                let a = Int(offsets[r]) - spanStart
                let e = Int(offsets[r + 1]) - spanStart
                let start = a + Int(before[e] &- before[a])
                let end = toEnd ? e : a + Int(through[e] &- through[a])
                windows[i] = (spanStart + start)..<(spanStart + Swift.max(start, end))
            }
        }
    }

    /// The most base events per row in a batch's span for which `slices` takes the
    /// single pass instead of per-row searches.
    static let denseEvents = 16

    /// The first index in `start..<end` whose time satisfies `isAfter` (false then true
    /// along the sorted slice), or `end`. Branch-free halving: the data-dependent choice
    /// compiles to a conditional move, which matters on the long, unpredictable slices
    /// of very active users.
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
}

/// A property column seen through a buffer valid for one `withPropertyColumn` call.
enum PropertyBuffer {
    case int(UnsafeBufferPointer<Int64>)
    case float(UnsafeBufferPointer<Double>)
    case bool(UnsafeBufferPointer<UInt8>)
    case string(UnsafeBufferPointer<UInt32>)

    /// The value at `p` as a number, null for null (string properties: the dictionary
    /// code, which is what `count` needs).
    @inline(__always)
    func value<Number: EvaluationNumber>(_ p: Int) -> Number {
        switch self {
        case .int(let b): Number(int: b[p])
        case .float(let b): Number(double: b[p])
        case .bool(let b): Number(bool: b[p])
        case .string(let b): Number(code: b[p])
        }
    }

    /// Adds the values at `positions` to `values`: one switch on the column's type, then
    /// a loop over the typed buffer.
    @inline(__always)
    func accumulate<Number: EvaluationNumber>(_ positions: Range<Int>, into values: inout Statistics<Number>) {
        var v = values  // in registers for the loop, not through the inout address
        switch self {
        case .int(let b): for p in positions { v.add(Number(int: b[p])) }
        case .float(let b): for p in positions { v.add(Number(double: b[p])) }
        case .bool(let b): for p in positions { v.add(Number(bool: b[p])) }
        case .string(let b): for p in positions { v.add(Number(code: b[p])) }
        }
        values = v
    }

    /// The stored bits of the value at `p` (what `distinct` tells apart), nil for null.
    @inline(__always)
    func key(_ p: Int) -> UInt64? {
        switch self {
        case .int(let b): DistinctKey.of(b[p])
        case .float(let b): DistinctKey.of(b[p])
        case .bool(let b): DistinctKey.of(b[p])
        case .string(let b): DistinctKey.of(code: b[p])
        }
    }
}

/// The stored bits `distinct` tells values apart by, nil for null: the one rule for
/// base buffers (`PropertyBuffer`) and delta chunks (`DeltaReader`).
enum DistinctKey {
    @inline(__always) static func of(_ v: Int64) -> UInt64? { v == NullSentinel.int ? nil : UInt64(bitPattern: v) }
    @inline(__always) static func of(_ v: Double) -> UInt64? { v.isNaN ? nil : v.bitPattern }
    @inline(__always) static func of(_ v: UInt8) -> UInt64? { v == NullSentinel.bool ? nil : UInt64(v) }
    @inline(__always) static func of(code v: UInt32) -> UInt64? { v == NullSentinel.stringCode ? nil : UInt64(v) }

    /// The number of distinct non-null values of `property` at the positions `forEach`
    /// yields (at most `capacity` of them): what `distinct` answers. String codes below
    /// 64 (a small dictionary: the usual case) are one bit each of a word, no sort;
    /// anything else is sorted keys.
    @inline(__always)
    static func count(_ property: PropertyBuffer, capacity: Int, _ forEach: ((Int) -> Void) -> Void) -> Int {
        if case .string(let codes) = property {
            var bits = CodeBits()
            forEach { bits.add(codes[$0]) }
            if !bits.large { return bits.count }
        }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: capacity) { keys in
            var k = 0
            forEach { p in
                if let key = property.key(p) {
                    keys[k] = key
                    k += 1
                }
            }
            return count(UnsafeMutableBufferPointer(rebasing: keys[0..<k]))
        }
    }

    /// Distinct string codes below 64, a bit each; `large` once a larger code was seen
    /// (the caller then counts sorted keys instead). Nulls are skipped.
    struct CodeBits {
        private var seen: UInt64 = 0
        private(set) var large = false
        @inline(__always) mutating func add(_ code: UInt32) {
            if code < 64 { seen |= 1 &<< UInt64(code) } else if code != NullSentinel.stringCode { large = true }
        }
        var count: Int { seen.nonzeroBitCount }
    }

    /// The number of distinct keys in `keys` (sorted in place): what `distinct` answers
    /// for the events whose keys they are, as `AggregateState`'s set would.
    @inline(__always)
    static func count(_ keys: UnsafeMutableBufferPointer<UInt64>) -> Int {
        if keys.count < 2 { return keys.count }
        var keys = keys
        keys.sort()
        var n = 1
        for i in 1..<keys.count where keys[i] != keys[i - 1] { n += 1 }
        return n
    }
}
