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
        if let list = table.deltaList(of: row) { return merged(a, row, bounds, list) }
        return table.times.withUnsafeBufferPointer { times in
            let events = table.range(of: row)
            let window = EventWindow.slice(times, events.lowerBound, events.upperBound, bounds)
            return withPropertyColumn(a.property, table.properties) { property in value(a, row, window, times, property) }
        }
    }

    /// The aggregate over `window` of the base (one user's events inside the window
    /// bounds): the unfiltered shortcut when there is one, else every passing event fed
    /// to the state. What the scalar path and the batch kernel both call.
    @inline(__always)
    func value<Number: EvaluationNumber>(
        _ a: AggregatePlan, _ row: UInt32, _ window: Range<Int>, _ times: UnsafeBufferPointer<UInt32>, _ property: PropertyBuffer?
    ) -> Number {
        if a.filter == nil, let x = AggregateState<Number>.shortcut(a.function, window.lowerBound, window.upperBound, times, property) {
            return x
        }
        var state = AggregateState<Number>(a.function, hasProperty: a.property != nil)
        if let filter = a.filter {
            for p in window where test(filter, row, EventRef(table: a.table, position: p)) {
                state.add(position: p, time: times[p], property: property, at: p)
            }
        } else {
            for p in window { state.add(position: p, time: times[p], property: property, at: p) }
        }
        return state.result
    }

    /// The aggregate of a user with delta events (`list`): base and delta merged.
    func merged<Number: EvaluationNumber>(_ a: AggregatePlan, _ row: UInt32, _ bounds: ClosedRange<UInt32>, _ list: EventTable.DeltaList) -> Number {
        var state = AggregateState<Number>(a.function, hasProperty: a.property != nil)
        accumulateMerged(&state, a, row, bounds, list)
        return state.result
    }

    /// Adds `row`'s events inside `bounds` that pass `a`'s filter to `state`, its base
    /// slice and its delta list (`list`) merged in storage order.
    func accumulateMerged<Number: EvaluationNumber>(
        _ state: inout AggregateState<Number>, _ a: AggregatePlan, _ row: UInt32, _ bounds: ClosedRange<UInt32>, _ list: EventTable.DeltaList
    ) {
        let table = db.events.tables[a.table]
        let baseCount = table.baseCount
        table.times.withUnsafeBufferPointer { times in
            withPropertyColumn(a.property, table.properties) { property in
                withDeltaEvents(table, list, bounds, a.property) { deltaTimes, deltaIndices, deltaProperty in
                    let events = table.range(of: row)
                    var b = EventWindow.slice(times, events.lowerBound, events.upperBound, bounds)
                    var k = 0
                    while !b.isEmpty || k < deltaTimes.count {
                        // On equal times the base event arrived first.
                        if k == deltaTimes.count || (!b.isEmpty && times[b.lowerBound] <= deltaTimes[k]) {
                            let p = b.lowerBound
                            b = (p + 1)..<b.upperBound
                            if let filter = a.filter, !test(filter, row, EventRef(table: a.table, position: p)) { continue }
                            state.add(position: p, time: times[p], property: property, at: p)
                        } else {
                            let p = baseCount + Int(deltaIndices[k])
                            defer { k += 1 }
                            if let filter = a.filter, !test(filter, row, EventRef(table: a.table, position: p)) { continue }
                            state.add(position: p, time: deltaTimes[k], property: deltaProperty, at: k)
                        }
                    }
                }
            }
        }
    }

    /// Runs `body` with the delta events of `list` inside `bounds`, gathered into
    /// contiguous scratch buffers in storage order: their times, their delta indices and
    /// (when `slot` names a property) their values. O(the user's delta events).
    private func withDeltaEvents<T>(
        _ table: EventTable, _ list: EventTable.DeltaList, _ bounds: ClosedRange<UInt32>, _ slot: PropertyColumns.Slot?,
        _ body: (UnsafeBufferPointer<UInt32>, UnsafeBufferPointer<UInt32>, PropertyBuffer?) -> T
    ) -> T {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: list.count * 2) { scratch in
            var n = 0
            var i = list.first
            while i != EventTable.DeltaList.end {
                let t = table.deltaTimes[Int(i)]
                if t > bounds.upperBound { break }
                if t >= bounds.lowerBound {
                    scratch[n] = t
                    scratch[list.count + n] = i
                    n += 1
                }
                i = table.deltaNext[Int(i)]
            }
            let times = UnsafeBufferPointer(rebasing: scratch[0..<n])
            let indices = UnsafeBufferPointer(rebasing: scratch[list.count..<(list.count + n)])
            func gathered<V>(_ column: ChunkedArray<V>, _ wrap: (UnsafeBufferPointer<V>) -> PropertyBuffer) -> T {
                withUnsafeTemporaryAllocation(of: V.self, capacity: n) { values in
                    for k in 0..<n { values[k] = column[Int(indices[k])] }
                    return body(times, indices, wrap(UnsafeBufferPointer(values)))
                }
            }
            switch slot {
            case nil: return body(times, indices, nil)
            case .int(let s)?: return gathered(table.delta.ints[s], PropertyBuffer.int)
            case .float(let s)?: return gathered(table.delta.floats[s], PropertyBuffer.float)
            case .bool(let s)?: return gathered(table.delta.bools[s], PropertyBuffer.bool)
            case .string(let s)?: return gathered(table.delta.strings[s], PropertyBuffer.string)
            }
        }
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
        accumulateMerged(&state, a, row, bounds, db.events.tables[a.table].deltaList(of: row) ?? EventTable.DeltaList.empty)
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
