/// The whole state of one Cohort instance as a value: the catalog (schema and bound
/// definitions) and the data it describes (users, attribute columns, event tables,
/// refreshed memberships). Storage holds data only; definitions change through the
/// catalog (`Database+Catalog.swift`).
///
/// A value type built from copy-on-write parts, so copying a `Database` is O(number of
/// columns) and gives an immutable view (what a snapshot writer or an all-or-nothing
/// load needs); the first write after a copy pays for duplicating what it touches.
///
/// Invariants: `attributes.slots` mirrors `schema.attributes` and `events.tables`
/// mirrors `schema.events` (same count, same order, same property shapes); every row
/// referenced by a column or index is below `users.rowCount`; a dead row has no
/// attribute values and no live events. Every mutation either succeeds whole or throws
/// before changing anything.
public struct Database: Sendable {
    /// Schema, segments and aggregates with their bound plans.
    public internal(set) var catalog = Catalog()
    public var schema: Schema { catalog.schema }
    public internal(set) var users = UserTable()
    public internal(set) var attributes = AttributeStore()
    public internal(set) var events = EventStore()
    /// Membership at the last `SEGMENT.REFRESH` of each refreshed segment.
    public internal(set) var memberships: [String: Bitmap] = [:]
    /// Watched segments, their recorded memberships and streams (`Database+Feed.swift`).
    public internal(set) var feed = ChangeFeed()

    public init() {}

    // MARK: Users and attributes

    /// Parses `text` for attribute `name`, failing with the attribute named.
    public func parseAttribute(_ name: String, _ text: Substring) throws(CohortError) -> (AttributeDefinition, Value) {
        guard let definition = schema.attribute(named: name) else {
            throw .err("unknown attribute '\(name)' (declare it with ATTR.DEFINE)")
        }
        do {
            return (definition, try definition.type.parse(text))
        } catch {
            throw .err("attribute '\(name)': \(error.message)")
        }
    }

    /// `USER.SET`: all pairs are parsed and checked before any is applied. Returns the user's row.
    @discardableResult
    public mutating func setAttributes(user: String, _ pairs: [(name: String, value: Substring)]) throws(CohortError) -> UInt32 {
        try UserTable.validate(user)
        var parsed: [(AttributeDefinition, Value)] = []
        parsed.reserveCapacity(pairs.count)
        for pair in pairs { parsed.append(try parseAttribute(pair.name, pair.value)) }
        let row = users.rowCreating(user).row
        for (definition, value) in parsed { attributes.set(definition, row: row, value) }
        return row
    }

    /// Stores already-parsed values for an existing row (the bulk loader's path).
    mutating func setParsed(row: UInt32, _ definition: AttributeDefinition, _ value: Value) {
        attributes.set(definition, row: row, value)
    }

    /// The row of `user`, creating the user when new (the id must be valid).
    mutating func rowCreating(_ user: String) -> UInt32 { users.rowCreating(user).row }

    /// `USER.UNSET`: every name must be a declared attribute; unknown users are a no-op.
    public mutating func unsetAttributes(user: String, _ names: [String]) throws(CohortError) {
        var definitions: [AttributeDefinition] = []
        for name in names {
            guard let d = schema.attribute(named: name) else { throw .err("unknown attribute '\(name)' (declare it with ATTR.DEFINE)") }
            definitions.append(d)
        }
        guard let row = users.row(of: user) else { return }
        for d in definitions { attributes.set(d, row: row, .null) }
    }

    /// `USER.GET`: the non-null attributes of `user` in declaration order, or nil for
    /// an unknown user.
    public func attributes(of user: String) -> [(name: String, value: Value)]? {
        guard let row = users.row(of: user) else { return nil }
        var result: [(name: String, value: Value)] = []
        for definition in schema.attributes {
            let value = attributes.value(definition, row: row)
            if !value.isNull { result.append((definition.name, value)) }
        }
        return result
    }

    /// `USER.DEL`: removes the user, its attributes and its events. False when unknown.
    @discardableResult
    public mutating func deleteUser(_ user: String) -> Bool {
        guard let row = users.row(of: user) else { return false }
        attributes.clear(row: row)
        events.deleteEvents(of: row)
        users.delete(row)
        return true
    }

    // MARK: Events

    /// `EVENT.ADD`: checks the event, its time and every property before storing it.
    /// Returns the user's row.
    @discardableResult
    public mutating func addEvent(
        user: String, event name: String, time: Int64, properties pairs: [(name: String, value: Substring)]
    ) throws(CohortError) -> UInt32 {
        try UserTable.validate(user)
        guard let definition = schema.event(named: name) else {
            throw .err("unknown event '\(name)' (declare it with EVENT.DEFINE)")
        }
        let stored = try EventTime.stored(time)
        var values: [(Int, Value)] = []
        var seen = Set<Int>()
        for pair in pairs {
            guard let index = definition.propertyIndex(pair.name) else {
                throw .err("unknown property '\(pair.name)' of event '\(name)'")
            }
            guard seen.insert(index).inserted else { throw .err("property '\(pair.name)' given twice") }
            do {
                values.append((index, try definition.properties[index].type.attributeType.parse(pair.value)))
            } catch {
                throw .err("property '\(pair.name)' of event '\(name)': \(error.message)")
            }
        }
        let row = users.rowCreating(user).row
        var raw = events.tables[definition.id].makeRawValues()
        for (index, value) in values { events.tables[definition.id].encode(value, property: index, into: &raw) }
        // The change feed reads the user's times after the append.
        events.tables[definition.id].append(row: row, time: stored, raw, prefetchingBase: !feed.isEmpty)
        return row
    }

    // MARK: Reading

    public var segmentCount: Int { catalog.segments.count }
    public var aggregateCount: Int { catalog.aggregates.count }

    /// True when some event table has a delta or garbage (`compact()` would change the
    /// layout). Readers do not need it: they read base and delta together.
    public var needsCompaction: Bool { events.needsCompaction }

    /// Merges every delta into its sorted base and purges deleted users' events, in
    /// place: for loads, recovery and a snapshot's private view (O(events + rows)); the
    /// serving engine merges in the background instead (`Engine`).
    /// `workers` bounds the threads used (tables compact in parallel; all cores by default).
    public mutating func compact(workers: Int = .max) { events.compact(users: users, workers: workers) }

    /// `compact`, for a copy that is only written to a snapshot and dropped: the event
    /// tables' indexes are not built and no huge pages asked for (`EventTable.compact`,
    /// `transient`), so the copy must not be queried after.
    mutating func compactForEncoding(workers: Int) { events.compact(users: users, workers: workers, transient: true) }

    /// Approximate heap bytes held by users, columns and event tables.
    public var memoryBytes: Int {
        users.memoryBytes + attributes.memoryBytes + events.memoryBytes + feed.memoryBytes
    }
}
