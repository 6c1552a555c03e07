/// Batch evaluation: a value plan for many rows at once, into a buffer of doubles.
///
/// This is the fast path of per-user leaves in `rows(_:within:)`. Columns are read
/// through scoped unsafe buffers, constants are folded, and aggregates over a constant
/// window run as loops over `offsets`/`times`/property columns with the slice search of
/// `EventWindow` per user and `AggregateState` per event (the definitions the scalar path
/// uses too). Anything else (per-user windows, strings) falls back to the scalar
/// interpreter row by row (the differential tests compare both with a reference).
extension Evaluator {
    /// `out[i]` = the value of `plan` for `rows[i]` (NaN for null).
    func numbers(_ plan: ValuePlan, _ rows: UnsafeBufferPointer<UInt32>, into out: UnsafeMutableBufferPointer<Double>) {
        switch plan {
        case .number(let x):
            out.update(repeating: x)
        case .now:
            out.update(repeating: Double(now))
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
        case .aggregate(let a) where a.window.isConstant:
            aggregateKernel(a, rows, into: out)
        default:
            for i in rows.indices { out[i] = number(plan, rows[i], nil) }
        }
    }

    /// `a` for each row, its window the same for all (`WindowPlan.isConstant`). Reads the
    /// table's columns through buffers scoped to this call; per row, the slice search,
    /// then `value` (the scalar path's own reduction).
    private func aggregateKernel(_ a: AggregatePlan, _ rows: UnsafeBufferPointer<UInt32>, into out: UnsafeMutableBufferPointer<Double>) {
        // The value over no events (0 for count/sum/distinct, null otherwise).
        let empty = AggregateState(a.function, hasProperty: a.property != nil).result
        guard let bounds = EventWindow.bounds(a.window, now: now, { number($0, 0, nil) }) else {
            out.update(repeating: empty)
            return
        }
        let table = a.table
        db.events.tables[table].offsets.withUnsafeBufferPointer { offsets in
            db.events.tables[table].times.withUnsafeBufferPointer { times in
                withPropertyColumn(a.property, table) { property in
                    for i in rows.indices {
                        let r = Int(rows[i])
                        guard r + 1 < offsets.count else {
                            out[i] = empty
                            continue
                        }
                        let window = EventWindow.slice(times, Int(offsets[r]), Int(offsets[r + 1]), bounds)
                        out[i] = value(a, rows[i], window, times, property)
                    }
                }
            }
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
        case .number, .now: true
        case .binary(_, let l, let r, _): l.isConstant && r.isConstant
        case .negate(let v): v.isConstant
        default: false
        }
    }
}
