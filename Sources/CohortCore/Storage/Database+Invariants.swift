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
            do { try table.checkInvariants(users: users) } catch { throw .err("event '\(event.name)': \(error.message)") }
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
    /// `users`: the users table (no event row may reach its row count; dead rows own no
    /// delta list).
    public func checkInvariants(users: UserTable) throws(CohortError) {
        let rowCount = users.rowCount
        guard offsets.first == 0, Int(offsets.last!) == times.count else { throw .err("offsets do not span the \(times.count) times") }
        guard coveredRows <= rowCount else { throw .err("offsets cover \(coveredRows) rows, the users table has \(rowCount)") }
        for u in 0..<coveredRows {
            let slice = range(of: UInt32(u))
            guard slice.lowerBound <= slice.upperBound else { throw .err("offsets decrease at row \(u)") }
            for p in slice.dropFirst() where times[p - 1] > times[p] { throw .err("row \(u)'s events are not sorted by time at \(p)") }
        }
        for (columns, expected, part) in [(properties, times.count, "base"), (delta.flattened(shape: properties, count: deltaRows.count), deltaTimes.count, "delta")] {
            guard columns.count == expected else { throw .err("\(part) property columns hold \(columns.count) values, times \(expected)") }
            for (slot, codes) in columns.strings.enumerated() {
                for code in codes where code != NullSentinel.stringCode && Int(code) >= dictionaries[slot].count {
                    throw .err("\(part) string code \(code) past its dictionary (\(dictionaries[slot].count))")
                }
            }
        }
        guard deltaRows.count == deltaTimes.count else { throw .err("\(deltaRows.count) delta rows for \(deltaTimes.count) times") }
        guard unindexed == 0, deltaNext.count == deltaRows.count else {
            throw .err("\(deltaRows.count) delta events, \(deltaNext.count) links, \(unindexed) unindexed")
        }
        var liveDelta = 0
        for i in 0..<deltaRows.count {
            guard Int(deltaRows[i]) < rowCount else { throw .err("delta row \(deltaRows[i]) past the users table") }
            if users.isLive(deltaRows[i]) { liveDelta += 1 }
        }
        // Every live row's delta events are on its list exactly once, in storage order;
        // `deltaUsers` holds exactly the rows with a list.
        var linked = 0
        for row in 0..<UInt32(rowCount) {
            let list = deltaLists[row]
            guard (list.count > 0) == deltaUsers.contains(row) else { throw .err("deltaUsers and the delta lists disagree on row \(row)") }
            guard list.count > 0 else { continue }
            guard users.isLive(row) else { throw .err("dead row \(row) has a delta list") }
            var i = list.first
            var n = 0
            var previous: UInt32?
            while i != DeltaList.end {
                guard deltaRows[Int(i)] == row else { throw .err("row \(row)'s delta list holds event \(i) of row \(deltaRows[Int(i)])") }
                if let p = previous, (deltaTimes[Int(p)], p) > (deltaTimes[Int(i)], i) { throw .err("row \(row)'s delta list is out of order at \(i)") }
                previous = i
                n += 1
                i = deltaNext[Int(i)]
            }
            guard n == list.count, previous == list.last else { throw .err("row \(row)'s delta list has \(n) events, says \(list.count)") }
            linked += n
        }
        guard linked == liveDelta else { throw .err("\(linked) delta events linked, \(liveDelta) belong to live rows") }
        guard dictionaries.count == properties.strings.count else { throw .err("\(dictionaries.count) dictionaries for \(properties.strings.count) string properties") }
        var liveBase = 0
        for u in 0..<coveredRows where users.isLive(UInt32(u)) { liveBase += range(of: UInt32(u)).count }
        guard liveCount == liveBase + liveDelta else { throw .err("liveCount \(liveCount), live events are \(liveBase) in the base and \(liveDelta) in the delta") }
    }
}
