/// Aggregates over one user's events: the user's window located by `EventWindow`, then
/// each event in it that passes the `where` filter fed to `AggregateState` (the one
/// definition of every function). Cost: O(log n + events in the window).
extension Evaluator {
    /// The aggregate as a number (null for null) in `Number`, which is Int64 exactly when
    /// `a.isInteger` (see `evaluate`). String-valued `first`/`last` go through
    /// `aggregateString`.
    func aggregate<Number: EvaluationNumber>(_ a: AggregatePlan, _ row: UInt32) -> Number {
        let table = db.events.tables[a.table]
        return table.times.withUnsafeBufferPointer { times in
            guard let bounds = EventWindow.bounds(a.window, now: now, { number($0, row, nil) }) else {
                return AggregateState<Number>(a.function, hasProperty: a.property != nil).result
            }
            let events = table.range(of: row)
            let window = EventWindow.slice(times, events.lowerBound, events.upperBound, bounds)
            return withPropertyColumn(a.property, a.table) { property in value(a, row, window, times, property) }
        }
    }

    /// The aggregate over `window` (one user's events inside the window bounds): the
    /// unfiltered shortcut when there is one, else every passing event fed to the state.
    /// What the scalar path and the batch kernel both call.
    @inline(__always)
    func value<Number: EvaluationNumber>(
        _ a: AggregatePlan, _ row: UInt32, _ window: Range<Int>, _ times: UnsafeBufferPointer<UInt32>, _ property: PropertyBuffer?
    ) -> Number {
        if a.filter == nil, let x = AggregateState<Number>.shortcut(a.function, window.lowerBound, window.upperBound, times, property) {
            return x
        }
        var state = AggregateState<Number>(a.function, hasProperty: a.property != nil)
        accumulate(&state, a, row, window, times, property)
        return state.result
    }

    /// `first(e.p)` / `last(e.p)` of a string property.
    func aggregateString(_ a: AggregatePlan, _ row: UInt32) -> String? {
        guard case .string(let s)? = a.property else { return nil }
        let table = db.events.tables[a.table]
        guard let p = edgePosition(a, row) else { return nil }
        let code = table.properties.strings[s][p]
        return code == NullSentinel.stringCode ? nil : table.dictionaries[s].string(for: code)
    }

    /// The event `first`/`last` of `a` answer with for `row`, nil when none.
    private func edgePosition(_ a: AggregatePlan, _ row: UInt32) -> Int? {
        var state = AggregateState<Double>(a.function, hasProperty: a.property != nil)
        let table = db.events.tables[a.table]
        return table.times.withUnsafeBufferPointer { times in
            guard let bounds = EventWindow.bounds(a.window, now: now, { number($0, row, nil) }) else { return nil }
            let events = table.range(of: row)
            let window = EventWindow.slice(times, events.lowerBound, events.upperBound, bounds)
            withPropertyColumn(a.property, a.table) { property in accumulate(&state, a, row, window, times, property) }
            return state.edgePosition
        }
    }

    /// Adds the events of `window` that pass `a`'s filter to `state`, in storage order.
    @inline(__always)
    func accumulate<Number: EvaluationNumber>(
        _ state: inout AggregateState<Number>, _ a: AggregatePlan, _ row: UInt32, _ window: Range<Int>, _ times: UnsafeBufferPointer<UInt32>,
        _ property: PropertyBuffer?
    ) {
        if let filter = a.filter {
            for p in window where test(filter, row, EventRef(table: a.table, position: p)) {
                state.add(position: p, time: times[p], property: property)
            }
        } else {
            for p in window { state.add(position: p, time: times[p], property: property) }
        }
    }

    /// Runs `body` with a reader of the property column (nil when the call names none).
    func withPropertyColumn<T>(_ slot: PropertyColumns.Slot?, _ table: Int, _ body: (PropertyBuffer?) -> T) -> T {
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
