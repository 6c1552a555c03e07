/// Batch evaluation: a value plan for many rows at once, into a buffer of numbers
/// (`EvaluationNumber`: Double, or Int64 for exact ints).
///
/// This is the fast path of per-user leaves in `rows(_:within:)`. Columns are read
/// through scoped unsafe buffers, constants are folded, and aggregates over a constant
/// window run as loops over the base's `offsets`/`times`/property columns with the slice
/// search of `EventWindow` per user and `AggregateState` per event (the definitions the
/// scalar path uses too); the rows with delta events are then completed by their delta
/// events (`count`/`min`/`max`) or recomputed by the scalar path's merge. Anything else (per-user windows, strings) falls back to the scalar
/// interpreter row by row (the differential tests compare both with a reference).
extension Evaluator {
    /// `out[i]` = the value of `plan` for `rows[i]` (null for null), in `Number`; int-typed
    /// arithmetic and aggregates are computed in Int64 and converted, as in `evaluate`.
    func numbers<Number: EvaluationNumber>(_ plan: ValuePlan, _ rows: UnsafeBufferPointer<UInt32>, into out: UnsafeMutableBufferPointer<Number>) {
        switch plan {
        case .number(let x):
            out.update(repeating: Number(double: x))
        case .integer(let x):
            out.update(repeating: Number(int: x))
        case .now:
            out.update(repeating: Number(int: now))
        case .bucketStart:
            out.update(repeating: Number(int: bucket.start))
        case .bucketEnd:
            out.update(repeating: Number(int: bucket.end))
        case .assignedAt:
            for i in rows.indices { out[i] = Number(int: assignments?.assignment(of: rows[i]) ?? NullSentinel.time) }
        case .int64Column(let c):
            let column = db.attributes.int64s[c].values
            for i in rows.indices {
                let r = Int(rows[i])
                out[i] = r < column.count ? Number(int: column[r]) : .null
            }
        case .doubleColumn(let c):
            let column = db.attributes.doubles[c].values
            for i in rows.indices {
                let r = Int(rows[i])
                out[i] = r < column.count ? Number(double: column[r]) : .null
            }
        case .binary(_, _, _, let type) where type == .int && Number.self != Int64.self:
            withUnsafeTemporaryAllocation(of: Int64.self, capacity: rows.count) { exact in
                numbers(plan, rows, into: exact)
                for i in rows.indices { out[i] = Number(int: exact[i]) }
            }
        case .binary(let op, let l, let r, _):
            numbers(l, rows, into: out)
            withUnsafeTemporaryAllocation(of: Number.self, capacity: rows.count) { right in
                numbers(r, rows, into: right)
                for i in rows.indices { out[i] = Number.apply(op, out[i], right[i]) }
            }
        case .negate(let v):
            numbers(v, rows, into: out)
            for i in rows.indices { out[i] = out[i].negated }
        case .aggregate(let a) where a.window.isConstant:
            if a.isInteger, Number.self != Int64.self {
                withUnsafeTemporaryAllocation(of: Int64.self, capacity: rows.count) { exact in
                    aggregateKernel(a, rows, into: exact)
                    for i in rows.indices { out[i] = Number(int: exact[i]) }
                }
            } else if !a.isInteger, Number.self != Double.self {
                withUnsafeTemporaryAllocation(of: Double.self, capacity: rows.count) { inexact in
                    aggregateKernel(a, rows, into: inexact)
                    for i in rows.indices { out[i] = Number(double: inexact[i]) }
                }
            } else {
                aggregateKernel(a, rows, into: out)
            }
        default:
            for i in rows.indices { out[i] = evaluate(plan, rows[i], nil) }
        }
    }

    /// `a` for each row, its window the same for all (`WindowPlan.isConstant`), in the
    /// aggregate's own representation (`Number` is Int64 exactly when `a.isInteger`).
    /// Reads the table's columns (its base, or its recent copy for a window inside it)
    /// through buffers scoped to this call; per row, the window's slice, then `value`
    /// (the scalar path's own reduction).
    private func aggregateKernel<Number: EvaluationNumber>(
        _ a: AggregatePlan, _ rows: UnsafeBufferPointer<UInt32>, into out: UnsafeMutableBufferPointer<Number>
    ) {
        // The value over no events (0 for count/sum/distinct, null otherwise).
        let empty = AggregateState<Number>(a.function, hasProperty: a.property != nil).result
        guard let bounds = EventWindow.bounds(a.window, now: now, { number($0, 0, nil) }) else {
            out.update(repeating: empty)
            return
        }
        let table = db.events.tables[a.table]
        // A window inside the recent copy reads it instead of the base (same slices, in
        // the same order, contiguous), unless the filter has leaves that read the base.
        var recent = table.recent.flatMap { $0.covers(bounds) ? $0 : nil }
        var filter = a.filter.map { EventFilter($0, table: a.table, evaluator: self, source: recent != nil ? .recent : .base) }
        if recent != nil, filter?.hasFallback == true {
            recent = nil
            filter = a.filter.map { EventFilter($0, table: a.table, evaluator: self) }
        }
        let (offsetColumn, timeColumn, properties) = recent.map { ($0.offsets, $0.times, $0.properties) } ?? (table.offsets, table.times, table.properties)
        let delta = DeltaReader(table, a.property)
        // The rows between the batch's first and last that have delta events, ascending
        // like `rows`: those in the batch take the merged path.
        var deltaRows = ContiguousArray<UInt32>()
        if let firstRow = rows.first, let lastRow = rows.last, !table.deltaUsers.isEmpty {
            let n = table.deltaUsers.count(in: firstRow..<(lastRow &+ 1))
            if n > 0 { deltaRows = table.deltaUsers.values(from: firstRow, limit: n) }
        }
        offsetColumn.withUnsafeBufferPointer { offsets in
            timeColumn.withUnsafeBufferPointer { times in
                withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: rows.count) { windows in
                    EventWindow.slices(rows, offsets, times, bounds, latest: table.recent?.latest ?? .max, into: windows)
                    withPropertyColumn(a.property, properties) { property in
                        // Every row through the base-only loop, then the rows with delta
                        // events (a few per batch, or under a stream of writes many, but
                        // never all) recomputed on the merged path: a batch keeps its
                        // batched filter and shortcuts whatever the delta holds.
                        baseOnly(a, rows, UnsafeBufferPointer(windows), times, property, filter, out)
                        // `count`, `min` and `max` add the row's delta events to its
                        // base value (the base window is not walked again); the others
                        // merge both in storage order (float sums depend on the order).
                        let combines = a.function == .count || a.function == .min || a.function == .max
                        var i = 0
                        for row in deltaRows {
                            // `deltaRows` spans the batch's rows; not all are in it.
                            while i < rows.count, rows[i] < row { i += 1 }
                            if i == rows.count { break }
                            guard rows[i] == row, let list = delta.list(of: row) else { continue }
                            if combines {
                                out[i] = Self.combined(a.function, out[i], deltaPart(a, row, filter, delta, list, bounds))
                            } else {
                                out[i] = merged(a, row, windows[i], times, property, filter, delta, list, bounds)
                            }
                        }
                    }
                }
            }
        }
    }

    /// `count`, `min` or `max` over a row's events from its value over two parts of them.
    @inline(__always)
    private static func combined<Number: EvaluationNumber>(_ function: AggregateCall.Function, _ x: Number, _ y: Number) -> Number {
        switch function {
        case .count: return Number.apply(.add, x, y)
        case .min: return x.isNull ? y : y.isNull ? x : Swift.min(x, y)
        default: return x.isNull ? y : y.isNull ? x : Swift.max(x, y)
        }
    }

    /// The kernel's loop over a batch's base windows: `value` over each row's base
    /// window (rows with delta events are completed after). Its own small function so
    /// the optimizer inlines `value` and the shortcut into the loop (as a branch of the
    /// kernel it did not).
    ///
    /// Unfiltered `count`, value statistics and small-dictionary `distinct` are inline
    /// loops. A filter without per-row leaves is evaluated once for the whole batch:
    /// over the span of its windows when they fill most of it, else window by window,
    /// the verdicts packed one window after the other (`EventFilter.fill`); each row then
    /// reads its own run of the verdict bits (`SelectedEvents`) instead of a call and a
    /// tree walk per row.
    @inline(never)
    private func baseOnly<Number: EvaluationNumber>(
        _ a: AggregatePlan, _ rows: UnsafeBufferPointer<UInt32>, _ windows: UnsafeBufferPointer<Range<Int>>, _ times: UnsafeBufferPointer<UInt32>,
        _ property: PropertyBuffer?, _ filter: EventFilter?, _ out: UnsafeMutableBufferPointer<Number>
    ) {
        if filter == nil, a.function == .count, property == nil {
            for i in rows.indices { out[i] = Number(int: Int64(windows[i].count)) }
            return
        }
        if filter == nil, let property, [.count, .sum, .avg, .min, .max].contains(a.function) {
            // The shortcut's value statistics, inline in the loop.
            for i in rows.indices {
                var values = Statistics<Number>()
                property.accumulate(windows[i], into: &values)
                out[i] = AggregateState<Number>.result(a.function, values)
            }
            return
        }
        if filter == nil, a.function == .distinct, case .string(let codes)? = property {
            // `DistinctKey.count`'s small-dictionary case, inline in the loop.
            for i in rows.indices {
                var bits = DistinctKey.CodeBits()
                for p in windows[i] { bits.add(codes[p]) }
                out[i] = bits.large ? value(a, rows[i], windows[i], times, property, nil) : Number(int: Int64(bits.count))
            }
            return
        }
        guard let filter, !filter.hasFallback else {
            for i in rows.indices { out[i] = value(a, rows[i], windows[i], times, property, filter) }
            return
        }
        var (listed, lo, hi) = (0, Int.max, Int.min)
        for w in windows where !w.isEmpty {
            listed += w.count
            lo = Swift.min(lo, w.lowerBound)
            hi = Swift.max(hi, w.upperBound)
        }
        guard listed > 0 else {
            out.update(repeating: AggregateState<Number>(a.function, hasProperty: a.property != nil).result)
            return
        }
        if hi - lo <= 2 * listed {
            // The windows fill most of their span (a recent window read from the recent
            // copy): one pass over the span, no list.
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: (hi - lo + 63) / 64 + 1) { words in
                filter.fill(words, from: lo, count: hi - lo, self)
                words[words.count - 1] = 0
                reduceSelected(a, rows, windows, times, property, filter, words, listedBefore: nil, out)
            }
            return
        }
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: (listed + 63) / 64 + 1) { words in
            words.update(repeating: 0)
            filter.fill(words, windows: windows, self)
            reduceSelected(a, rows, windows, times, property, filter, words, listedBefore: 0, out)
        }
    }

    /// Each row's value from the verdict bits `words` of a batch: filled over the span
    /// from the first window's start (`listedBefore` nil), or window by window, packed
    /// row after row (`listedBefore` 0).
    @inline(__always)
    private func reduceSelected<Number: EvaluationNumber>(
        _ a: AggregatePlan, _ rows: UnsafeBufferPointer<UInt32>, _ windows: UnsafeBufferPointer<Range<Int>>, _ times: UnsafeBufferPointer<UInt32>,
        _ property: PropertyBuffer?, _ filter: EventFilter, _ words: UnsafeMutableBufferPointer<UInt64>, listedBefore: Int?,
        _ out: UnsafeMutableBufferPointer<Number>
    ) {
        let bits = UnsafePointer(words.baseAddress!)
        let spanStart = windows.first { !$0.isEmpty }!.lowerBound
        var first = listedBefore ?? 0  // where row i's window starts in the list
        for i in rows.indices {
            let w = windows[i]
            let selected = SelectedEvents(words: bits, start: listedBefore == nil ? spanStart : w.lowerBound - first)
            if a.function == .count, property == nil {
                out[i] = Number(int: Int64(selected.count(in: w)))
            } else {
                out[i] = value(a, rows[i], w, times, property, filter, selected)
            }
            first += w.count
        }
    }
}

extension WindowPlan {
    /// True when the window's bounds do not depend on the user (literals, `now`).
    var isConstant: Bool {
        switch self {
        case .all: true
        case .last(let d): d.isConstant
        case .range(let a, let b): a.isConstant && b.isConstant
        }
    }
}

extension ValuePlan {
    /// True when the value is the same for every user: literals, `now`, arithmetic of those.
    var isConstant: Bool {
        switch self {
        case .number, .integer, .now: true
        case .binary(_, let l, let r, _): l.isConstant && r.isConstant
        case .negate(let v): v.isConstant
        default: false
        }
    }
}
