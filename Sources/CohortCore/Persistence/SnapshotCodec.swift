import Dispatch

/// What a snapshot records besides the database itself.
public struct SnapshotMeta: Equatable, Sendable {
    /// When the snapshot was taken (Unix seconds).
    public var createdAt: Int64
    /// The first journal generation whose records are not in the snapshot: recovery
    /// replays journals from this generation on.
    public var journalGeneration: UInt64

    public init(createdAt: Int64, journalGeneration: UInt64) {
        self.createdAt = createdAt
        self.journalGeneration = journalGeneration
    }
}

/// A failure inside one section's payload.
struct SectionError: Error {
    let section: String
    let message: String
}

/// Turns a compacted `Database` into named section payloads and back (the contents
/// of the snapshot format's sections; see FORMAT.md for what each holds).
///
/// Encoding copies each column once into its payload; decoding copies it once out of
/// the decompressed payload. Sections are built and decoded in parallel with Dispatch:
/// each worker reads the shared immutable database or its own payload and writes
/// only its own result slot.
enum SnapshotCodec {
    struct Section: Sendable {
        let name: String
        let payload: [UInt8]
    }

    // MARK: Encoding

    /// The sections of `db`, which must be compacted (no pending events).
    static func sections(of db: Database, meta: SnapshotMeta) -> [Section] {
        precondition(!db.needsCompaction, "snapshot of an uncompacted database")
        var builders: [(String, @Sendable () -> [UInt8])] = [
            ("meta", { encodeMeta(db, meta) }),
            ("schema", { encodeSchema(db.schema) }),
            ("definitions", { encodeDefinitions(db) }),
            ("users", { encodeUsers(db.users) }),
        ]
        for attribute in db.schema.attributes {
            builders.append(("attribute \(attribute.name)", { encodeAttribute(db.attributes, attribute) }))
        }
        for event in db.schema.events {
            builders.append(("event \(event.name)", { encodeEvent(db.events.tables[event.id]) }))
        }
        builders.append(("memberships", { encodeMemberships(db.memberships) }))

        let results = UnsafeMutableBufferPointer<[UInt8]>.allocate(capacity: builders.count)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        nonisolated(unsafe) let slots = results
        let work = builders
        DispatchQueue.concurrentPerform(iterations: work.count) { i in slots[i] = work[i].1() }
        return builders.indices.map { Section(name: builders[$0].0, payload: results[$0]) }
    }

    private static func encodeMeta(_ db: Database, _ meta: SnapshotMeta) -> [UInt8] {
        var w = ByteWriter()
        w.append(meta.createdAt)
        w.append(meta.journalGeneration)
        w.append(UInt64(db.users.rowCount))
        w.append(UInt64(db.users.liveCount))
        w.append(UInt64(db.events.liveCount))
        return w.bytes
    }

    private static func encodeSchema(_ schema: Schema) -> [UInt8] {
        var w = ByteWriter()
        w.append(UInt32(schema.attributes.count))
        for a in schema.attributes {
            w.append(a.name)
            w.append(a.type.rawValue)
        }
        w.append(UInt32(schema.events.count))
        for e in schema.events {
            w.append(e.name)
            w.append(UInt32(e.properties.count))
            for p in e.properties {
                w.append(p.name)
                w.append(p.type.rawValue)
            }
        }
        return w.bytes
    }

    private static func encodeDefinitions(_ db: Database) -> [UInt8] {
        var w = ByteWriter()
        let segments = db.segments.values.sorted { $0.name < $1.name }
        w.append(UInt32(segments.count))
        for s in segments {
            w.append(s.name)
            w.append(s.source)
        }
        let aggregates = db.aggregates.values.sorted { $0.name < $1.name }
        w.append(UInt32(aggregates.count))
        for a in aggregates {
            w.append(a.name)
            w.append(a.source)
            w.append(a.type.rawValue)
        }
        return w.bytes
    }

    private static func encodeUsers(_ users: UserTable) -> [UInt8] {
        var w = ByteWriter(capacity: users.ids.bytes.count + users.ids.starts.count * 8 + users.live.serializedSize + 32)
        w.append(table: users.ids)
        w.append(bitmap: users.live)
        return w.bytes
    }

    private static func encodeAttribute(_ store: AttributeStore, _ attribute: AttributeDefinition) -> [UInt8] {
        var w = ByteWriter()
        switch store.slots[attribute.id] {
        case .int64(let i): w.append(array: store.int64s[i].values)
        case .double(let i): w.append(array: store.doubles[i].values)
        case .bool(let i):
            w.append(bitmap: store.bools[i].trues)
            w.append(bitmap: store.bools[i].falses)
        case .string(let i):
            let column = store.strings[i]
            w.append(table: column.dictionary.table)
            w.append(array: column.codes)
            w.append(UInt64(column.postings.count))
            for posting in column.postings { w.append(bitmap: posting) }
        case .tags(let i):
            let column = store.tags[i]
            w.append(table: column.dictionary.table)
            w.append(UInt64(column.postings.count))
            for posting in column.postings { w.append(bitmap: posting) }
        }
        return w.bytes
    }

    private static func encodeEvent(_ table: EventTable) -> [UInt8] {
        var w = ByteWriter(capacity: table.memoryBytes + 1024)
        w.append(array: table.offsets)
        w.append(array: table.times)
        let p = table.properties
        w.append(UInt32(p.ints.count))
        for c in p.ints { w.append(array: c) }
        w.append(UInt32(p.floats.count))
        for c in p.floats { w.append(array: c) }
        w.append(UInt32(p.bools.count))
        for c in p.bools { w.append(array: c) }
        w.append(UInt32(p.strings.count))
        for c in p.strings { w.append(array: c) }
        w.append(UInt32(table.dictionaries.count))
        for d in table.dictionaries { w.append(table: d.table) }
        return w.bytes
    }

    private static func encodeMemberships(_ memberships: [String: Bitmap]) -> [UInt8] {
        var w = ByteWriter()
        w.append(UInt32(memberships.count))
        for name in memberships.keys.sorted() {
            w.append(name)
            w.append(bitmap: memberships[name]!)
        }
        return w.bytes
    }

    // MARK: Decoding

    /// Rebuilds the database from section payloads (already checksum-verified and
    /// decompressed). Checks that every expected section is there, each decodes to
    /// exactly its length, and the pieces agree (row counts, column lengths, codes within
    /// dictionaries). Nothing is returned unless everything checks.
    static func database(from payloads: [String: UnsafeRawBufferPointer]) throws(SectionError) -> (Database, SnapshotMeta) {
        func payload(_ name: String) throws(SectionError) -> UnsafeRawBufferPointer {
            guard let p = payloads[name] else { throw SectionError(section: name, message: "section is missing") }
            return p
        }
        func decode<T>(_ name: String, _ body: (inout ByteReader) throws(ByteReader.Malformed) -> T) throws(SectionError) -> T {
            var reader = ByteReader(try payload(name))
            do {
                let value = try body(&reader)
                try reader.expectEnd("the section's contents")
                return value
            } catch {
                throw SectionError(section: name, message: error.what)
            }
        }

        let (meta, rowCount, liveUsers, eventCount) = try decode("meta") { r throws(ByteReader.Malformed) in
            (SnapshotMeta(createdAt: try r.read(Int64.self, "created at"), journalGeneration: try r.read(UInt64.self, "journal generation")),
             try r.readCount("row count"), try r.readCount("user count"), try r.readCount("event count"))
        }

        // The schema is replayed through the ordinary definition calls, which recreates
        // every column (empty) with the same ids and slots as when it was written.
        var db = Database()
        let schemaSection = "schema"
        let schemaSteps = try decode(schemaSection) { r throws(ByteReader.Malformed) in try readSchema(&r) }
        do {
            for (name, type) in schemaSteps.attributes { try db.defineAttribute(name, type: type) }
            for (name, properties) in schemaSteps.events { try db.defineEvent(name, properties: properties) }
        } catch {
            throw SectionError(section: schemaSection, message: error.message)
        }

        let definitions = try decode("definitions") { r throws(ByteReader.Malformed) in try readDefinitions(&r) }
        for (name, source) in definitions.segments {
            do {
                db.segments[name] = SegmentDefinition(name: name, source: source, predicate: try Parser.predicate(source))
            } catch {
                throw SectionError(section: "definitions", message: "segment '\(name)': \(error.message)")
            }
        }
        for (name, source, type) in definitions.aggregates {
            do {
                db.aggregates[name] = AggregateDefinition(name: name, source: source, expression: try Parser.value(source), type: type)
            } catch {
                throw SectionError(section: "definitions", message: "aggregate '\(name)': \(error.message)")
            }
        }

        // The bulk of the data: users, each attribute and each event table decode in parallel.
        enum Piece {
            case users(UserTable)
            case attribute(Int, AttributeColumn)
            case event(Int, EventTable)
            case memberships([String: Bitmap])
        }
        let schema = db.schema
        let shapes = db.events.tables.map(\.properties)
        var jobs: [(String, @Sendable (inout ByteReader) throws(ByteReader.Malformed) -> Piece)] = [
            ("users", { r throws(ByteReader.Malformed) in .users(try readUsers(&r, rowCount: rowCount, liveUsers: liveUsers)) }),
            ("memberships", { r throws(ByteReader.Malformed) in .memberships(try readMemberships(&r, rowCount: rowCount)) }),
        ]
        for attribute in schema.attributes {
            jobs.append(("attribute \(attribute.name)", { r throws(ByteReader.Malformed) in
                .attribute(attribute.id, try readAttribute(&r, type: attribute.type, rowCount: rowCount))
            }))
        }
        for event in schema.events {
            let shape = shapes[event.id]
            jobs.append(("event \(event.name)", { r throws(ByteReader.Malformed) in
                .event(event.id, try readEvent(&r, shape: shape, rowCount: rowCount))
            }))
        }
        for name in payloads.keys where !(["meta", "schema", "definitions"] + jobs.map(\.0)).contains(name) {
            throw SectionError(section: name, message: "unexpected section (not part of this schema)")
        }
        var inputs: [UnsafeRawBufferPointer] = []
        for job in jobs { inputs.append(try payload(job.0)) }

        let results = UnsafeMutableBufferPointer<Result<Piece, ByteReader.Malformed>?>.allocate(capacity: jobs.count)
        results.initialize(repeating: nil)
        defer {
            results.deinitialize()
            results.deallocate()
        }
        nonisolated(unsafe) let slots = results
        let work = jobs
        nonisolated(unsafe) let data = inputs
        DispatchQueue.concurrentPerform(iterations: work.count) { i in
            var reader = ByteReader(data[i])
            slots[i] = Result { () throws(ByteReader.Malformed) -> Piece in
                let piece = try work[i].1(&reader)
                try reader.expectEnd("the section's contents")
                return piece
            }
        }

        var events = 0
        for (i, job) in jobs.enumerated() {
            let piece: Piece
            switch results[i]! {
            case .success(let p): piece = p
            case .failure(let error): throw SectionError(section: job.0, message: error.what)
            }
            switch piece {
            case .users(let users): db.users = users
            case .memberships(let memberships): db.memberships = memberships
            case .attribute(let id, let column): db.attributes.restore(column, attribute: id)
            case .event(let id, let table):
                db.events.tables[id] = table
                events += table.liveCount
            }
        }
        for name in db.memberships.keys where db.segments[name] == nil {
            throw SectionError(section: "memberships", message: "membership of unknown segment '\(name)'")
        }
        guard events == eventCount else {
            throw SectionError(section: "meta", message: "the event tables hold \(events) events, meta says \(eventCount)")
        }
        return (db, meta)
    }

    private static func readSchema(_ r: inout ByteReader) throws(ByteReader.Malformed) -> (
        attributes: [(String, AttributeType)], events: [(String, [PropertyDefinition])]
    ) {
        var attributes: [(String, AttributeType)] = []
        for _ in 0..<(try r.read(UInt32.self, "attribute count")) {
            let name = try r.readString("attribute name")
            let typeName = try r.readString("attribute type")
            guard let type = AttributeType(rawValue: typeName) else { throw .init(what: "unknown attribute type '\(typeName)'") }
            attributes.append((name, type))
        }
        var events: [(String, [PropertyDefinition])] = []
        for _ in 0..<(try r.read(UInt32.self, "event count")) {
            let name = try r.readString("event name")
            var properties: [PropertyDefinition] = []
            for _ in 0..<(try r.read(UInt32.self, "property count")) {
                let property = try r.readString("property name")
                let typeName = try r.readString("property type")
                guard let type = PropertyType(rawValue: typeName) else { throw .init(what: "unknown property type '\(typeName)'") }
                properties.append(PropertyDefinition(name: property, type: type))
            }
            events.append((name, properties))
        }
        return (attributes, events)
    }

    private static func readDefinitions(_ r: inout ByteReader) throws(ByteReader.Malformed) -> (
        segments: [(String, String)], aggregates: [(String, String, ValueType)]
    ) {
        var segments: [(String, String)] = []
        for _ in 0..<(try r.read(UInt32.self, "segment count")) {
            segments.append((try r.readString("segment name"), try r.readString("segment source")))
        }
        var aggregates: [(String, String, ValueType)] = []
        for _ in 0..<(try r.read(UInt32.self, "aggregate count")) {
            let name = try r.readString("aggregate name")
            let source = try r.readString("aggregate source")
            let typeName = try r.readString("aggregate type")
            guard let type = ValueType(rawValue: typeName) else { throw .init(what: "unknown aggregate type '\(typeName)'") }
            aggregates.append((name, source, type))
        }
        return (segments, aggregates)
    }

    private static func readUsers(_ r: inout ByteReader, rowCount: Int, liveUsers: Int) throws(ByteReader.Malformed) -> UserTable {
        let ids = try r.readTable("user ids")
        let live = try r.readBitmap("live users")
        guard ids.count == rowCount else { throw .init(what: "\(ids.count) user rows, meta says \(rowCount)") }
        guard live.count == liveUsers else { throw .init(what: "\(live.count) live users, meta says \(liveUsers)") }
        if let max = live.max, Int(max) >= rowCount { throw .init(what: "live user row \(max) is past the \(rowCount) rows") }
        return UserTable(restoring: ids, live: live)
    }

    private static func readAttribute(_ r: inout ByteReader, type: AttributeType, rowCount: Int) throws(ByteReader.Malformed) -> AttributeColumn {
        func checkRows(_ count: Int) throws(ByteReader.Malformed) {
            guard count <= rowCount else { throw .init(what: "column of \(count) rows, there are \(rowCount)") }
        }
        func checkRows(_ bitmap: Bitmap) throws(ByteReader.Malformed) {
            if let max = bitmap.max, Int(max) >= rowCount { throw .init(what: "index holds row \(max), there are \(rowCount)") }
        }
        switch type {
        case .int, .time:
            let values = try r.readArray(of: Int64.self, "values")
            try checkRows(values.count)
            return .int64(Int64Column(values: values))
        case .float:
            let values = try r.readArray(of: Double.self, "values")
            try checkRows(values.count)
            return .double(DoubleColumn(values: values))
        case .bool:
            let trues = try r.readBitmap("true rows")
            let falses = try r.readBitmap("false rows")
            try checkRows(trues)
            try checkRows(falses)
            return .bool(BoolColumn(trues: trues, falses: falses))
        case .string:
            let dictionary = StringDictionary(table: try r.readTable("dictionary"))
            let codes = try r.readArray(of: UInt32.self, "codes")
            try checkRows(codes.count)
            for code in codes where code != NullSentinel.stringCode && Int(code) >= dictionary.count {
                throw .init(what: "code \(code) outside the dictionary of \(dictionary.count) strings")
            }
            let postings = try readPostings(&r, count: dictionary.count)
            for p in postings { try checkRows(p) }
            return .string(StringColumn(dictionary: dictionary, codes: codes, postings: postings))
        case .tags:
            let dictionary = StringDictionary(table: try r.readTable("dictionary"))
            let postings = try readPostings(&r, count: dictionary.count)
            for p in postings { try checkRows(p) }
            return .tags(TagsColumn(dictionary: dictionary, postings: postings))
        }
    }

    private static func readPostings(_ r: inout ByteReader, count: Int) throws(ByteReader.Malformed) -> [Bitmap] {
        let n = try r.readCount("posting count")
        guard n == count else { throw .init(what: "\(n) value bitmaps for \(count) dictionary entries") }
        var postings: [Bitmap] = []
        postings.reserveCapacity(n)
        for _ in 0..<n { postings.append(try r.readBitmap("value bitmap")) }
        return postings
    }

    private static func readEvent(_ r: inout ByteReader, shape: PropertyColumns, rowCount: Int) throws(ByteReader.Malformed) -> EventTable {
        let offsets = try r.readArray(of: UInt32.self, "offsets")
        let times = try r.readArray(of: UInt32.self, "times")
        guard offsets.first == 0, offsets.count - 1 <= rowCount, Int(offsets.last!) == times.count else {
            throw .init(what: "offsets do not cover the \(times.count) events of at most \(rowCount) users")
        }
        for i in 1..<offsets.count where offsets[i] < offsets[i - 1] { throw .init(what: "offsets decrease at row \(i - 1)") }
        func columns<T: BitwiseCopyable>(_ type: T.Type, expected: Int, _ what: String) throws(ByteReader.Malformed) -> [ContiguousArray<T>] {
            let n = Int(try r.read(UInt32.self, "\(what) column count"))
            guard n == expected else { throw .init(what: "\(n) \(what) columns, the event declares \(expected)") }
            var result: [ContiguousArray<T>] = []
            for _ in 0..<n {
                let column = try r.readArray(of: T.self, "\(what) column")
                guard column.count == times.count else { throw .init(what: "\(what) column of \(column.count) values for \(times.count) events") }
                result.append(column)
            }
            return result
        }
        let ints = try columns(Int64.self, expected: shape.ints.count, "int")
        let floats = try columns(Double.self, expected: shape.floats.count, "float")
        let bools = try columns(UInt8.self, expected: shape.bools.count, "bool")
        let strings = try columns(UInt32.self, expected: shape.strings.count, "string")
        let n = Int(try r.read(UInt32.self, "dictionary count"))
        guard n == strings.count else { throw .init(what: "\(n) dictionaries for \(strings.count) string properties") }
        var dictionaries: [StringDictionary] = []
        for (k, column) in strings.enumerated() {
            let dictionary = StringDictionary(table: try r.readTable("dictionary"))
            for code in column where code != NullSentinel.stringCode && Int(code) >= dictionary.count {
                throw .init(what: "string property \(k): code \(code) outside its dictionary of \(dictionary.count)")
            }
            dictionaries.append(dictionary)
        }
        let properties = PropertyColumns(shape: shape, ints: ints, floats: floats, bools: bools, strings: strings, count: times.count)
        return EventTable(offsets: offsets, times: times, properties: properties, dictionaries: dictionaries)
    }

    private static func readMemberships(_ r: inout ByteReader, rowCount: Int) throws(ByteReader.Malformed) -> [String: Bitmap] {
        var memberships: [String: Bitmap] = [:]
        for _ in 0..<(try r.read(UInt32.self, "membership count")) {
            let name = try r.readString("segment name")
            let members = try r.readBitmap("members of \(name)")
            if let max = members.max, Int(max) >= rowCount { throw .init(what: "members of '\(name)' hold row \(max), there are \(rowCount)") }
            memberships[name] = members
        }
        return memberships
    }
}

/// One attribute's column, whatever its representation (what a snapshot section holds).
enum AttributeColumn {
    case int64(Int64Column)
    case double(DoubleColumn)
    case bool(BoolColumn)
    case string(StringColumn)
    case tags(TagsColumn)
}

extension AttributeStore {
    /// Replaces the (empty) column of attribute `id` with a restored one of the same kind.
    mutating func restore(_ column: AttributeColumn, attribute id: Int) {
        switch (slots[id], column) {
        case (.int64(let i), .int64(let c)): int64s[i] = c
        case (.double(let i), .double(let c)): doubles[i] = c
        case (.bool(let i), .bool(let c)): bools[i] = c
        case (.string(let i), .string(let c)): strings[i] = c
        case (.tags(let i), .tags(let c)): tags[i] = c
        default: preconditionFailure("restored column does not match attribute \(id)'s slot; the decoder reads by the schema's type")
        }
    }
}
