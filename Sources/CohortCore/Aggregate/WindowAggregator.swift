/// Computes one aggregate over one user's events (DESIGN §3 semantics).
///
/// The window is turned into an inclusive time interval `[lo, hi]` (`t <= now` always;
/// `from A to B` is `A <= t <= B - 1` since times are whole seconds), located in the
/// user's time-sorted slice by two binary searches; only events inside it are read,
/// and the `where` filter runs on those alone. Cost: O(log n + events in the window).
extension Evaluator {
    /// The aggregate as a number (NaN for null). String-valued `first`/`last` go
    /// through `aggregateString`.
    func aggregateNumber(_ a: AggregatePlan, _ row: UInt32) -> Double {
        let table = db.events.tables[a.table]
        let window = eventWindow(a, row, table)
        switch a.function {
        case .count:
            if a.filter == nil && a.property == nil { return Double(window.count) }
            var n = 0
            for p in window where passes(a, row, table, p) { n += 1 }
            return Double(n)
        case .sum, .avg, .min, .max:
            var n = 0
            var sum = 0.0
            var low = Double.infinity
            var high = -Double.infinity
            for p in window where passes(a, row, table, p) {
                let v = propertyNumber(a.property!, table, p)
                if v.isNaN { continue }
                n += 1
                sum += v
                low = Swift.min(low, v)
                high = Swift.max(high, v)
            }
            switch a.function {
            case .sum: return sum
            case .avg: return n == 0 ? .nan : sum / Double(n)
            case .min: return n == 0 ? .nan : low
            default: return n == 0 ? .nan : high
            }
        case .first, .last:
            guard let p = edgeEvent(a, row, table, window) else { return .nan }
            if let property = a.property { return propertyNumber(property, table, p) }
            return Double(table.times[p])
        case .distinct:
            var seen = Set<UInt64>()
            for p in window where passes(a, row, table, p) {
                let v = propertyNumber(a.property!, table, p)
                if !v.isNaN { seen.insert(v.bitPattern) }
            }
            return Double(seen.count)
        case .avg_gap:
            // The mean of consecutive gaps telescopes to (last - first) / (n - 1).
            var n = 0
            var first: UInt32 = 0
            var last: UInt32 = 0
            for p in window where passes(a, row, table, p) {
                if n == 0 { first = table.times[p] }
                last = table.times[p]
                n += 1
            }
            return n < 2 ? .nan : Double(last - first) / Double(n - 1)
        }
    }

    /// `first(e.p)` / `last(e.p)` of a string property.
    func aggregateString(_ a: AggregatePlan, _ row: UInt32) -> String? {
        let table = db.events.tables[a.table]
        guard case .string(let s)? = a.property, let p = edgeEvent(a, row, table, eventWindow(a, row, table)) else { return nil }
        let code = table.properties.strings[s][p]
        return code == NullSentinel.stringCode ? nil : table.dictionaries[s].string(for: code)
    }

    /// The earliest (`first`) or latest (`last`) event in the window that passes the
    /// filter; among equal times the later-arrived one is later (storage order).
    private func edgeEvent(_ a: AggregatePlan, _ row: UInt32, _ table: EventTable, _ window: Range<Int>) -> Int? {
        if a.function == .first {
            return window.first { passes(a, row, table, $0) }
        }
        return window.reversed().first { passes(a, row, table, $0) }
    }

    @inline(__always)
    private func passes(_ a: AggregatePlan, _ row: UInt32, _ table: EventTable, _ position: Int) -> Bool {
        guard let filter = a.filter else { return true }
        return test(filter, row, EventRef(table: a.table, position: position))
    }

    /// Positions of `row`'s events inside the aggregate's window.
    func eventWindow(_ a: AggregatePlan, _ row: UInt32, _ table: EventTable) -> Range<Int> {
        let events = table.range(of: row)
        if events.isEmpty { return events }
        var lo = Int64.min
        var hi = now
        switch a.window {
        case .all: break
        case .last(let d):
            let seconds = number(d, row, nil)
            if seconds.isNaN { return events.lowerBound..<events.lowerBound }
            lo = now - Int64(seconds.rounded(.up))
        case .range(let from, let to):
            let a = number(from, row, nil)
            let b = number(to, row, nil)
            if a.isNaN || b.isNaN { return events.lowerBound..<events.lowerBound }
            lo = Int64(a.rounded(.up))
            hi = Swift.min(hi, Int64(b.rounded(.up)) - 1)
        }
        if hi < lo || hi < 0 || lo > Int64(UInt32.max) { return events.lowerBound..<events.lowerBound }
        let low = UInt32(Swift.max(lo, 0))
        let high = UInt32(Swift.min(hi, Int64(UInt32.max)))
        return table.times.withUnsafeBufferPointer { times in
            // First position with t >= low, then first with t > high.
            var a = events.lowerBound
            var b = events.upperBound
            while a < b {
                let m = (a + b) / 2
                if times[m] < low { a = m + 1 } else { b = m }
            }
            let start = a
            b = events.upperBound
            while a < b {
                let m = (a + b) / 2
                if times[m] <= high { a = m + 1 } else { b = m }
            }
            return start..<a
        }
    }

    /// A property value as a number (NaN for null; string codes for `distinct`).
    @inline(__always)
    func propertyNumber(_ slot: PropertyColumns.Slot, _ table: EventTable, _ p: Int) -> Double {
        switch slot {
        case .int(let s):
            let v = table.properties.ints[s][p]
            return v == NullSentinel.int ? .nan : Double(v)
        case .float(let s): return table.properties.floats[s][p]
        case .bool(let s):
            let v = table.properties.bools[s][p]
            return v == NullSentinel.bool ? .nan : Double(v)
        case .string(let s):
            let v = table.properties.strings[s][p]
            return v == NullSentinel.stringCode ? .nan : Double(v)
        }
    }
}
