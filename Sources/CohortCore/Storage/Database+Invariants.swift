/// The invariants `Database`, `UserTable` and `EventTable` state in prose, checked.
///
/// For tests and debugging: each check walks the whole structure (O(rows × columns +
/// events)), so nothing on a request path calls these. A violation throws a message
/// naming the structure and what is wrong.
extension Database {
    public func checkInvariants() throws(CohortError) {
        try users.checkInvariants()
        guard attributes.slots.count == schema.attributes.count else {
            throw .err("database: \(attributes.slots.count) attribute columns for \(schema.attributes.count) declared attributes")
        }
        guard events.tables.count == schema.events.count else {
            throw .err("database: \(events.tables.count) event tables for \(schema.events.count) declared events")
        }
        for event in schema.events {
            let table = events.tables[event.id]
            guard table.properties.slots.count == event.properties.count else {
                throw .err("event '\(event.name)': \(table.properties.slots.count) property columns for \(event.properties.count) properties")
            }
            do { try table.checkInvariants(rowCount: users.rowCount) } catch { throw .err("event '\(event.name)': \(error.message)") }
        }
        for row in 0..<UInt32(users.rowCount) where !users.isLive(row) {
            for attribute in schema.attributes where !attributes.value(attribute, row: row).isNull {
                throw .err("database: dead row \(row) still has a value of '\(attribute.name)'")
            }
        }
        for (name, members) in memberships {
            guard catalog.segments[name] != nil else { throw .err("database: membership of unknown segment '\(name)'") }
            if let last = members.toArray().last, Int(last) >= users.rowCount { throw .err("membership '\(name)': row \(last) past the users") }
        }
    }
}

extension UserTable {
    public func checkInvariants() throws(CohortError) {
        let rows = live.toArray()
        guard rows.count == liveCount else { throw .err("users: liveCount \(liveCount), live bitmap holds \(rows.count)") }
        for row in rows {
            guard Int(row) < rowCount else { throw .err("users: live row \(row) past rowCount \(rowCount)") }
            guard self.row(of: id(of: row)) == row else { throw .err("users: id '\(id(of: row))' does not find its row \(row)") }
        }
    }
}

extension EventTable {
    /// `rowCount`: the users table's row count (no event row may reach it).
    public func checkInvariants(rowCount: Int) throws(CohortError) {
        guard offsets.first == 0, Int(offsets.last!) == times.count else { throw .err("offsets do not span the \(times.count) times") }
        guard coveredRows <= rowCount else { throw .err("offsets cover \(coveredRows) rows, the users table has \(rowCount)") }
        for u in 0..<coveredRows {
            let slice = range(of: UInt32(u))
            guard slice.lowerBound <= slice.upperBound else { throw .err("offsets decrease at row \(u)") }
            for p in slice.dropFirst() where times[p - 1] > times[p] { throw .err("row \(u)'s events are not sorted by time at \(p)") }
        }
        for (columns, expected, part) in [(properties, times.count, "sorted"), (pending, pendingTimes.count, "pending")] {
            guard columns.count == expected else { throw .err("\(part) property columns hold \(columns.count) values, times \(expected)") }
            for (slot, codes) in columns.strings.enumerated() {
                for code in codes where code != NullSentinel.stringCode && Int(code) >= dictionaries[slot].count {
                    throw .err("\(part) string code \(code) past its dictionary (\(dictionaries[slot].count))")
                }
            }
        }
        guard pendingRows.count == pendingTimes.count else { throw .err("\(pendingRows.count) pending rows for \(pendingTimes.count) times") }
        for row in pendingRows where Int(row) >= rowCount { throw .err("pending row \(row) past the users table") }
        guard dictionaries.count == properties.strings.count else { throw .err("\(dictionaries.count) dictionaries for \(properties.strings.count) string properties") }
        if !hasDeadEvents, liveCount != times.count + pendingRows.count {
            throw .err("liveCount \(liveCount) with \(times.count) sorted and \(pendingRows.count) pending events and none dead")
        }
    }
}
