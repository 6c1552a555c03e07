/// Aggregates over one user's events: the user's window located by `EventWindow`, then
/// each event in it that passes the `where` filter fed to `AggregateState` (the one
/// definition of every function), in storage order.
///
/// A user with no delta events (most users, most of the time) is one slice of the base:
/// the fast path. A user with delta events gets its base slice and its delta list
/// merged by time (base first on ties), which is the order a full compaction would give
/// (`EventTable`). Cost: O(log n + events in the window), plus the user's delta events.
extension Evaluator {
    /// The aggregate as a number (null for null) in `Number`, which is Int64 exactly when
    /// `a.isInteger` (see `evaluate`). String-valued `first`/`last` go through
    /// `aggregateString`.
    func aggregate<Number: EvaluationNumber>(_ a: AggregatePlan, _ row: UInt32) -> Number {
        guard let bounds = EventWindow.bounds(a.window, now: now, { number($0, row, nil) }) else {
            return AggregateState<Number>(a.function, hasProperty: a.property != nil).result
        }
        let table = db.events.tables[a.table]
        let filter = a.filter.map { EventFilter($0, table: a.table, evaluator: self) }
        return table.times.withUnsafeBufferPointer { times in
            let events = table.range(of: row)
            let window = EventWindow.slice(times, events.lowerBound, events.upperBound, bounds)
            return withPropertyColumn(a.property, table.properties) { property in
                let delta = DeltaReader(table, a.property)
                guard let list = delta.list(of: row) else { return value(a, row, window, times, property, filter) }
                return merged(a, row, window, times, property, filter, delta, list, bounds)
            }
        }
    }

    /// The aggregate over `window` of the base (one user's events inside the window
    /// bounds): the unfiltered shortcut, or the events passing the filter fed to the
    /// state. What the scalar path and the batch kernel both call; `filter` is
    /// `a.filter` compiled (`EventFilter`), nil exactly when `a` has none.
    @_specialize(where Number == Double)
    @_specialize(where Number == Int64)
    @inline(__always)
    func value<Number: EvaluationNumber>(
        _ a: AggregatePlan, _ row: UInt32, _ window: Range<Int>, _ times: UnsafeBufferPointer<UInt32>, _ property: PropertyBuffer?,
        _ filter: EventFilter?, _ selected: SelectedEvents? = nil
    ) -> Number {
        guard let filter else { return AggregateState<Number>.shortcut(a.function, window.lowerBound, window.upperBound, times, property) }
        return reduce(a, row, window, times, property, filter, selected)
    }

    /// `value` with a filter: the events passing `filter` (64 at a time, as masks: read
    /// from `selected` when the batch kernel evaluated the filter for the whole batch,
    /// else computed for this row) fed to the state; a filtered `count(e)` is the masks'
    /// population count and a `distinct` the distinct keys of the passing events. Out of
    /// line, so `value` stays small enough to inline into the batch kernel's loop.
    @_specialize(where Number == Double)
    @_specialize(where Number == Int64)
    @inline(never)
    func reduce<Number: EvaluationNumber>(
        _ a: AggregatePlan, _ row: UInt32, _ window: Range<Int>, _ times: UnsafeBufferPointer<UInt32>, _ property: PropertyBuffer?,
        _ filter: EventFilter, _ selected: SelectedEvents? = nil
    ) -> Number {
        func forEachMask(_ body: (Int, UInt64) -> Void) {
            if let selected { selected.forEachMask(window, body) } else { filter.forEachMask(window, row: row, self, body) }
        }
        if a.function == .count, property == nil {
            var n = 0
            forEachMask { _, m in n += m.nonzeroBitCount }
            return Number(int: Int64(n))
        }
        if a.function == .distinct, let property {
            let n = DistinctKey.count(property, capacity: window.count) { body in
                forEachMask { start, mask in
                    var m = mask
                    while m != 0 {
                        body(start + m.trailingZeroBitCount)
                        m &= m &- 1
                    }
                }
            }
            return Number(int: Int64(n))
        }
        var state = AggregateState<Number>(a.function, hasProperty: a.property != nil)
        forEachMask { start, mask in
            var m = mask
            while m != 0 {
                let p = start + m.trailingZeroBitCount
                state.add(position: p, time: times[p], property: property, at: p)
                m &= m &- 1
            }
        }
        return state.result
    }

    /// The aggregate of a user with delta events (`list`): its base `window` (already
    /// inside `bounds`) and its delta events merged. What the scalar path and the batch
    /// kernel both call for such users. Kept out of line: it is the rare path of a scan.
    @_specialize(where Number == Double)
    @_specialize(where Number == Int64)
    @inline(never)
    func merged<Number: EvaluationNumber>(
        _ a: AggregatePlan, _ row: UInt32, _ window: Range<Int>, _ times: UnsafeBufferPointer<UInt32>, _ property: PropertyBuffer?,
        _ filter: EventFilter?, _ delta: DeltaReader, _ list: EventTable.DeltaList, _ bounds: ClosedRange<UInt32>
    ) -> Number {
        var state = AggregateState<Number>(a.function, hasProperty: a.property != nil)
        accumulateMerged(&state, a, row, window, times, property, filter, delta, list, bounds)
        return state.result
    }

    /// Adds `row`'s events that pass `a`'s filter to `state` in storage order: its base
    /// `window` and the delta events of `list` inside `bounds`, merged by time (on equal
    /// times the base event arrived first). No allocation, no copy of the table.
    @inline(__always)
    func accumulateMerged<Number: EvaluationNumber>(
        _ state: inout AggregateState<Number>, _ a: AggregatePlan, _ row: UInt32, _ window: Range<Int>, _ times: UnsafeBufferPointer<UInt32>,
        _ property: PropertyBuffer?, _ filter: EventFilter?, _ delta: DeltaReader, _ list: EventTable.DeltaList, _ bounds: ClosedRange<UInt32>
    ) {
        let end = EventTable.DeltaList.end
        let distinct = a.function == .distinct
        var b = window.lowerBound
        var d = list.first
        while d != end, delta.times[Int(d)] < bounds.lowerBound { d = delta.next[Int(d)] }
        if d != end, delta.times[Int(d)] > bounds.upperBound { d = end }
        while b < window.upperBound || d != end {
            if d == end || (b < window.upperBound && times[b] <= delta.times[Int(d)]) {
                let p = b
                b += 1
                if let filter, !filter.holds(p, row: row, self) { continue }
                state.add(position: p, time: times[p], property: property, at: p)
            } else {
                let i = Int(d)
                d = delta.next[i]
                if d != end, delta.times[Int(d)] > bounds.upperBound { d = end }
                let p = delta.baseCount + i
                if let filter, !filter.holds(p, row: row, self) { continue }
                state.add(position: p, time: delta.times[i], value: delta.value(i), key: distinct ? delta.key(i) : nil)
            }
        }
    }

    /// `count`, `min` or `max` of `a` over `row`'s delta events of `list` inside `bounds`
    /// that pass `a`'s filter: what completes the row's value over its base events
    /// (`count` adds, `min`/`max` take the extreme). No `AggregateState`: one walk of
    /// the list with the value statistics; none for an unfiltered `count` over a window
    /// holding every delta event (a stream of recent events, a recent window): that is
    /// the list's length.
    @inline(__always)
    func deltaPart<Number: EvaluationNumber>(
        _ a: AggregatePlan, _ row: UInt32, _ filter: EventFilter?, _ delta: DeltaReader, _ list: EventTable.DeltaList, _ bounds: ClosedRange<UInt32>
    ) -> Number {
        if a.function == .count, a.property == nil, filter == nil, delta.lies(in: bounds) { return Number(int: Int64(list.count)) }
        var events: Int64 = 0
        var values = Statistics<Number>()
        var d = list.first
        while d != EventTable.DeltaList.end {
            let i = Int(d)
            let t = delta.times[i]
            if t > bounds.upperBound { break }
            d = delta.next[i]
            if t < bounds.lowerBound { continue }
            if let filter, !filter.holds(delta.baseCount + i, row: row, self) { continue }
            events += 1
            if a.property != nil { values.add(delta.value(i)) }
        }
        return a.function == .count && a.property == nil ? Number(int: events) : AggregateState<Number>.result(a.function, values)
    }

    /// `first(e.p)` / `last(e.p)` of a string property.
    func aggregateString(_ a: AggregatePlan, _ row: UInt32) -> String? {
        guard case .string(let s)? = a.property else { return nil }
        let table = db.events.tables[a.table]
        guard let p = edgePosition(a, row) else { return nil }
        let code = table.stringCode(s, p)
        return code == NullSentinel.stringCode ? nil : table.dictionaries[s].string(for: code)
    }

    /// The event `first`/`last` of `a` answer with for `row`, nil when none.
    private func edgePosition(_ a: AggregatePlan, _ row: UInt32) -> Int? {
        guard let bounds = EventWindow.bounds(a.window, now: now, { number($0, row, nil) }) else { return nil }
        var state = AggregateState<Double>(a.function, hasProperty: a.property != nil)
        let table = db.events.tables[a.table]
        let filter = a.filter.map { EventFilter($0, table: a.table, evaluator: self) }
        table.times.withUnsafeBufferPointer { times in
            let events = table.range(of: row)
            let window = EventWindow.slice(times, events.lowerBound, events.upperBound, bounds)
            withPropertyColumn(a.property, table.properties) { property in
                let delta = DeltaReader(table, a.property)
                accumulateMerged(&state, a, row, window, times, property, filter, delta, delta.list(of: row) ?? .empty, bounds)
            }
        }
        return state.edgePosition
    }

    /// Runs `body` with a reader of the property column in `columns` (nil when the call
    /// names none).
    func withPropertyColumn<T>(_ slot: PropertyColumns.Slot?, _ columns: PropertyColumns, _ body: (PropertyBuffer?) -> T) -> T {
        guard let slot else { return body(nil) }
        switch slot {
        case .int(let s): return columns.ints[s].withUnsafeBufferPointer { body(.int($0)) }
        case .float(let s): return columns.floats[s].withUnsafeBufferPointer { body(.float($0)) }
        case .bool(let s): return columns.bools[s].withUnsafeBufferPointer { body(.bool($0)) }
        case .string(let s): return columns.strings[s].withUnsafeBufferPointer { body(.string($0)) }
        }
    }
}

/// What the merged path reads of one table's delta, copied out once per evaluation
/// (a handful of references) so the per-user loop never copies the table: times,
/// links, per-user lists and the aggregated property's column.
struct DeltaReader {
    let baseCount: Int
    let times: ChunkedArray<UInt32>
    let next: ChunkedArray<UInt32>
    let lists: RowPages<EventTable.DeltaList>
    let isEmpty: Bool
    let column: Column?
    /// A superset of the delta events' times (`EventTable.deltaTimeRange`).
    let timeRange: ClosedRange<UInt32>?

    enum Column {
        case int(ChunkedArray<Int64>)
        case float(ChunkedArray<Double>)
        case bool(ChunkedArray<UInt8>)
        case string(ChunkedArray<UInt32>)
    }

    init(_ table: EventTable, _ slot: PropertyColumns.Slot?) {
        baseCount = table.baseCount
        times = table.deltaTimes
        next = table.deltaNext
        lists = table.deltaLists
        isEmpty = table.deltaCount == 0
        timeRange = table.deltaTimeRange
        switch slot {
        case nil: column = nil
        case .int(let s)?: column = .int(table.delta.ints[s])
        case .float(let s)?: column = .float(table.delta.floats[s])
        case .bool(let s)?: column = .bool(table.delta.bools[s])
        case .string(let s)?: column = .string(table.delta.strings[s])
        }
    }

    /// The first of `row`'s delta events (in storage order) at or after `lower`, or
    /// `DeltaList.end`: O(the row's delta events before it).
    @inline(__always)
    func first(of row: UInt32, from lower: UInt32) -> UInt32 {
        guard let list = list(of: row) else { return EventTable.DeltaList.end }
        var d = list.first
        while d != EventTable.DeltaList.end, times[Int(d)] < lower { d = next[Int(d)] }
        return d
    }

    /// True when every delta event lies in `bounds`.
    func lies(in bounds: ClosedRange<UInt32>) -> Bool {
        guard let timeRange else { return true }
        return bounds.lowerBound <= timeRange.lowerBound && timeRange.upperBound <= bounds.upperBound
    }

    /// `row`'s delta events, nil when it has none.
    @inline(__always)
    func list(of row: UInt32) -> EventTable.DeltaList? {
        if isEmpty { return nil }
        let list = lists[row]
        return list.count == 0 ? nil : list
    }

    /// Delta event `i`'s property value (null when the call names none); as
    /// `PropertyBuffer.value`.
    @inline(__always)
    func value<Number: EvaluationNumber>(_ i: Int) -> Number {
        switch column {
        case nil: .null
        case .int(let c)?: Number(int: c[i])
        case .float(let c)?: Number(double: c[i])
        case .bool(let c)?: Number(bool: c[i])
        case .string(let c)?: Number(code: c[i])
        }
    }

    /// The stored bits of delta event `i`'s value, nil for null; as `PropertyBuffer.key`.
    @inline(__always)
    func key(_ i: Int) -> UInt64? {
        switch column {
        case nil: nil
        case .int(let c)?: DistinctKey.of(c[i])
        case .float(let c)?: DistinctKey.of(c[i])
        case .bool(let c)?: DistinctKey.of(c[i])
        case .string(let c)?: DistinctKey.of(code: c[i])
        }
    }
}
