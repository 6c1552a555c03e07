/// Which candidates a windowed comparison must compute at all: the users the table's
/// `ActivityIndex` (or recent copy) lists as possibly having an event that matters.
extension Evaluator {
    /// For `compareRows`: the candidates that may have events in the window of an
    /// `aggregate op constant` comparison (either way round) that can make it differ
    /// from the aggregate over no events, and whether the others pass; nil when the
    /// shape does not allow it or pruning would not pay (the window's days holding more
    /// rows than there are candidates, counted with repeats, or more than three quarters
    /// of the candidates once united: at a half, the users of a recent window plus those
    /// a stream of writes puts in the delta crossed it, and every user was evaluated).
    ///
    /// Which events matter: with a `where` filter, those that can pass it
    /// (`requirements(of:)`: a string test's codes, a numeric test's value range, looked
    /// up in the index's splits); for `max(e.p) > c` (or `>=`) only events with
    /// `p >= c`, and for `min(e.p) < c` (or `<=`) only events with `p <= c`: a user
    /// without one fails the comparison, as the aggregate over no events (null) does.
    func activeRows<Number: EvaluationNumber>(
        _ l: ValuePlan, _ op: Comparison, _ r: ValuePlan, _ candidates: Bitmap, as: Number.Type
    ) -> (Bitmap, Bool)? {
        guard let (a, constant, aggregateOp) = aggregateThreshold(l, op, r), a.window.isConstant, let bounds = EventWindow.bounds(a.window, now: now, { number($0, 0, nil) }) else { return nil }
        let table = db.events.tables[a.table]
        var requirements = a.filter.map(requirements(of:)) ?? []
        if let slot = a.property, let range = extremeRange(a.function, aggregateOp, number(constant, 0, nil)) {
            requirements.append(.values(slot, range))
        }
        var active: Bitmap
        if !requirements.isEmpty, let rows = table.activity.rows(in: bounds, requiring: requirements, limit: candidates.count) {
            // Only users with an event that matters on the window's days.
            active = rows
        } else if let recent = table.recent, recent.covers(bounds) {
            // A narrow window: the days' rows, when fewer even counted with repeats.
            active = table.activity.estimatedRows(in: bounds) < recent.rows.count ? table.activity.rows(in: bounds) : recent.rows
        } else {
            guard table.activity.estimatedRows(in: bounds) < candidates.count else { return nil }
            active = table.activity.rows(in: bounds)
        }
        active.formUnion(table.deltaUsers)
        active.formIntersection(candidates)
        guard active.count <= candidates.count / 4 * 3 else { return nil }
        // The aggregate over no events, as `numbers` gives it (Int64 exactly for int aggregates).
        let empty: Number =
            a.isInteger
            ? Number(int: AggregateState<Int64>(a.function, hasProperty: a.property != nil).result)
            : Number(double: AggregateState<Double>(a.function, hasProperty: a.property != nil).result)
        let c: Number = evaluate(constant, 0, nil)
        let passes = !empty.isNull && !c.isNull && aggregateOp.holds(empty, c)
        return (active, passes)
    }

    /// `l op r` as `aggregate op' constant` (the aggregate on the left, the operator
    /// mirrored when it was on the right); nil for any other shape.
    func aggregateThreshold(_ l: ValuePlan, _ op: Comparison, _ r: ValuePlan) -> (AggregatePlan, ValuePlan, Comparison)? {
        if case .aggregate(let a) = l, r.isConstant { return (a, r, op) }
        if case .aggregate(let a) = r, l.isConstant { return (a, l, op.mirrored) }
        return nil
    }

    /// The values an event's property must have for `max`/`min` of it to pass
    /// `aggregate op c`: `c...` for `max >`/`max >=`, `...c` for `min <`/`min <=`; nil for
    /// any other function or operator, or a null `c`.
    private func extremeRange(_ function: AggregateCall.Function, _ op: Comparison, _ c: Double) -> ClosedRange<Double>? {
        guard !c.isNaN else { return nil }
        switch (function, op) {
        case (.max, .greater), (.max, .greaterOrEqual): return c...Double.infinity
        case (.min, .less), (.min, .lessOrEqual): return -Double.infinity...c
        default: return nil
        }
    }

    /// What an event must have to pass the (instantiated) `where` filter `filter`, as far
    /// as the activity index can tell: its string tests' codes and its numeric tests'
    /// value ranges, from the filter itself or the terms of its top-level `and`. Ranges
    /// are closed and taken in Doubles (an int's conversion is monotonic), so they may
    /// be wider than the test, never narrower. Empty when nothing is known.
    func requirements(of filter: BoolPlan) -> [ActivityIndex.Requirement] {
        func slot(_ value: ValuePlan) -> PropertyColumns.Slot? {
            switch value {
            case .eventInt(let s): .int(s)
            case .eventFloat(let s): .float(s)
            default: nil
            }
        }
        func range(_ l: ValuePlan, _ op: Comparison, _ r: ValuePlan) -> ActivityIndex.Requirement? {
            guard let s = slot(l), r.isConstant else { return nil }
            let c = number(r, 0, nil)
            guard !c.isNaN else { return nil }
            switch op {
            case .equal: return .values(s, c...c)
            case .greater, .greaterOrEqual: return .values(s, c...Double.infinity)
            case .less, .lessOrEqual: return .values(s, -Double.infinity...c)
            case .notEqual: return nil
            }
        }
        func list(_ value: ValuePlan, _ values: [Double]) -> ActivityIndex.Requirement? {
            let values = values.filter { !$0.isNaN }
            guard let s = slot(value), let lo = values.min(), let hi = values.max() else { return nil }
            return .values(s, lo...hi)
        }
        switch filter {
        case .eventStringCodes(let slot, let codes): return [.codes(slot: slot, codes)]
        case .and(let terms): return terms.flatMap(requirements(of:))
        case .compareNumbers(let l, let op, let r), .compareInts(let l, let op, let r):
            return [range(l, op, r) ?? range(r, op.mirrored, l)].compactMap { $0 }
        case .numberIn(let value, let values): return [list(value, values)].compactMap { $0 }
        case .intIn(let value, let values): return [list(value, values.map { Double($0) })].compactMap { $0 }
        default: return []
        }
    }
}

