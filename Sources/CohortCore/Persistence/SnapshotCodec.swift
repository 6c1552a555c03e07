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
    /// One section to write: its name, its uncompressed length, and access to its bytes.
    /// Structured sections are encoded into a buffer; a large column is a raw section
    /// whose bytes are the column's own memory (no copy), read in place while compressing.
    struct Section: Sendable {
        let name: String
        let byteCount: Int
        let withBytes: @Sendable (_ body: (UnsafeRawBufferPointer) -> Void) -> Void

        static func encoded(_ name: String, _ bytes: [UInt8]) -> Section {
            Section(name: name, byteCount: bytes.count, withBytes: { body in bytes.withUnsafeBytes(body) })
        }

        static func raw<T: BitwiseCopyable & Sendable>(_ name: String, _ array: ContiguousArray<T>) -> Section {
            Section(name: name, byteCount: array.count * MemoryLayout<T>.stride, withBytes: { body in array.withUnsafeBytes(body) })
        }
    }

    // MARK: Encoding

    /// The sections of `db`, which must be compacted (no pending events). Structured
    /// sections are encoded in parallel; raw column sections cost nothing here.
    static func sections(of db: Database, meta: SnapshotMeta) -> [Section] {
        precondition(!db.needsCompaction, "snapshot of an uncompacted database")
        var builders: [(String, @Sendable () -> [UInt8])] = [
            ("meta", { encodeMeta(db, meta) }),
            ("schema", { encodeSchema(db.schema) }),
            ("definitions", { encodeDefinitions(db) }),
            ("users", { encodeUsers(db.users) }),
        ]
        var raw: [Section] = [
            .raw("users/ids", db.users.ids.bytes), .raw("users/id starts", db.users.ids.starts), .raw("users/id slots", db.users.ids.slots),
        ]
        for attribute in db.schema.attributes {
            let name = "attribute \(attribute.name)"
            builders.append((name, { encodeAttribute(db.attributes, attribute) }))
            switch db.attributes.slots[attribute.id] {
            case .int64(let i): raw.append(.raw(name + "/values", db.attributes.int64s[i].values))
            case .double(let i): raw.append(.raw(name + "/values", db.attributes.doubles[i].values))
            case .string(let i): raw.append(.raw(name + "/codes", db.attributes.strings[i].codes))
            case .bool, .tags: break
            }
        }
        for event in db.schema.events {
            let name = "event \(event.name)"
            let table = db.events.tables[event.id]
            builders.append((name, { encodeEvent(table) }))
            raw += [.raw(name + "/offsets", table.offsets), .raw(name + "/times", table.times)]
            for (k, property) in event.properties.enumerated() {
                let column = name + "/" + property.name
                switch table.properties.slots[k] {
                case .int(let i): raw.append(.raw(column, table.properties.ints[i]))
                case .float(let i): raw.append(.raw(column, table.properties.floats[i]))
                case .bool(let i): raw.append(.raw(column, table.properties.bools[i]))
                case .string(let i): raw.append(.raw(column, table.properties.strings[i]))
                }
            }
        }
        builders.append(("memberships", { encodeMemberships(db.memberships) }))

        let work = builders
        let payloads = parallelMap(work.count) { work[$0].1() }
        return builders.indices.map { Section.encoded(builders[$0].0, payloads[$0]) } + raw
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
        let segments = db.catalog.segments.values.sorted { $0.name < $1.name }
        w.append(UInt32(segments.count))
        for s in segments {
            w.append(s.name)
            w.append(s.source)
        }
        let aggregates = db.catalog.aggregates.values.sorted { $0.name < $1.name }
        w.append(UInt32(aggregates.count))
        for a in aggregates {
            w.append(a.name)
            w.append(a.source)
            w.append(a.type.rawValue)
        }
        return w.bytes
    }

    private static func encodeUsers(_ users: UserTable) -> [UInt8] {
        var w = ByteWriter(capacity: users.live.serializedSize + 16)
        w.append(bitmap: users.live)
        return w.bytes
    }

    private static func encodeAttribute(_ store: AttributeStore, _ attribute: AttributeDefinition) -> [UInt8] {
        var w = ByteWriter()
        switch store.slots[attribute.id] {
        case .int64, .double: break  // the raw `/values` section
        case .bool(let i):
            w.append(bitmap: store.bools[i].trues)
            w.append(bitmap: store.bools[i].falses)
        case .string(let i):
            let column = store.strings[i]
            w.append(table: column.dictionary.table)
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
        // Offsets, times and property columns are raw sections; this holds the dictionaries.
        var w = ByteWriter()
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

    /// One decoded part of the database, from a parallel decoding job.
    private enum Piece {
        case users(UserTable)
        case attribute(Int, AttributeColumn)
        case event(Int, EventTable)
        case memberships([String: Bitmap])
    }

    /// Decodes structured section `name` with `body`, which must consume it exactly.
    private static func decode<T>(
        _ name: String, _ source: SnapshotSections, _ body: (inout ByteReader) throws(SectionError) -> T
    ) throws(SectionError) -> T {
        var reader = ByteReader(try source.payload(name))
        let value = try body(&reader)
        do { try reader.expectEnd("the section's contents") } catch { throw SectionError(section: name, message: error.what) }
        return value
    }

    /// Runs a `ByteReader` step, naming section `name` in its failure.
    private static func reading<T>(_ name: String, _ body: () throws(ByteReader.Malformed) -> T) throws(SectionError) -> T {
        do { return try body() } catch { throw SectionError(section: name, message: error.what) }
    }

    /// Rebuilds the database from a snapshot's sections (each verified against its
    /// checksums as it is decompressed). Checks that every expected section is there,
    /// each decodes to exactly its length, and the pieces agree (row counts, column
    /// lengths, codes within dictionaries). Nothing is returned unless everything checks.
    static func database(from source: SnapshotSections) throws(SectionError) -> (Database, SnapshotMeta) {
        let (meta, rowCount, liveUsers, eventCount) = try decode("meta", source) { (r) throws(SectionError) in
            try reading("meta") { () throws(ByteReader.Malformed) in
                (
                    SnapshotMeta(createdAt: try r.read(Int64.self, "created at"), journalGeneration: try r.read(UInt64.self, "journal generation")),
                    try r.readCount("row count"), try r.readCount("user count"), try r.readCount("event count")
                )
            }
        }

        // The schema is replayed through the ordinary definition calls, which recreates
        // every column (empty) with the same ids and slots as when it was written.
        var db = Database()
        let schemaSteps = try decode("schema", source) { (r) throws(SectionError) in
            try reading("schema") { () throws(ByteReader.Malformed) in try readSchema(&r) }
        }
        do {
            for (name, type) in schemaSteps.attributes { try db.defineAttribute(name, type: type) }
            for (name, properties) in schemaSteps.events { try db.defineEvent(name, properties: properties) }
        } catch {
            throw SectionError(section: "schema", message: error.message)
        }

        let definitions = try decode("definitions", source) { (r) throws(SectionError) in
            try reading("definitions") { () throws(ByteReader.Malformed) in try readDefinitions(&r) }
        }
        do {
            try db.restoreDefinitions(segments: definitions.segments, aggregates: definitions.aggregates.map { ($0.0, $0.1) })
        } catch {
            throw SectionError(section: "definitions", message: error.message)
        }

        // The bulk of the data: users, each attribute and each event table decode in
        // parallel; a large column is decompressed straight into its array.
        let schema = db.schema
        let shapes = db.events.tables.map(\.properties)
        // Jobs return a `Result` rather than throwing: Swift 6.3.1's IR generation crashes
        // on typed-throws closures of this shape.
        var jobs: [@Sendable () -> Result<Piece, SectionError>] = [
            {
                do throws(SectionError) { return .success(.users(try readUsers(source, rowCount: rowCount, liveUsers: liveUsers))) } catch {
                    return .failure(error)
                }
            },
            {
                do throws(SectionError) {
                    return .success(
                        .memberships(
                            try decode("memberships", source) { (r) throws(SectionError) in
                                try reading("memberships") { () throws(ByteReader.Malformed) in try readMemberships(&r, rowCount: rowCount) }
                            }))
                } catch {
                    return .failure(error)
                }
            },
        ]
        for attribute in schema.attributes {
            jobs.append {
                do throws(SectionError) { return .success(.attribute(attribute.id, try readAttribute(source, attribute, rowCount: rowCount))) } catch
                {
                    return .failure(error)
                }
            }
        }
        for event in schema.events {
            let shape = shapes[event.id]
            jobs.append {
                do throws(SectionError) { return .success(.event(event.id, try readEvent(source, event, shape: shape, rowCount: rowCount))) } catch {
                    return .failure(error)
                }
            }
        }

        let work = jobs
        let results = parallelMap(work.count) { work[$0]() }

        var events = 0
        for i in jobs.indices {
            let piece: Piece
            switch results[i] {
            case .success(let p): piece = p
            case .failure(let error): throw error
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
        for name in db.memberships.keys where db.catalog.segments[name] == nil {
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

    private static func readUsers(_ source: SnapshotSections, rowCount: Int, liveUsers: Int) throws(SectionError) -> UserTable {
        let live = try decode("users", source) { (r) throws(SectionError) in
            try reading("users") { () throws(ByteReader.Malformed) in try r.readBitmap("live users") }
        }
        let bytes = try source.array("users/ids", of: UInt8.self)
        let starts = try source.array("users/id starts", of: UInt64.self)
        let slots = try source.array("users/id slots", of: UInt32.self)
        guard let ids = ByteStringTable(bytes: bytes, starts: starts, slots: slots) else {
            throw SectionError(section: "users/id slots", message: "the id offsets or hash slots are inconsistent")
        }
        guard ids.count == rowCount else { throw SectionError(section: "users", message: "\(ids.count) user rows, meta says \(rowCount)") }
        guard live.count == liveUsers else { throw SectionError(section: "users", message: "\(live.count) live users, meta says \(liveUsers)") }
        if let max = live.max, Int(max) >= rowCount {
            throw SectionError(section: "users", message: "live user row \(max) is past the \(rowCount) rows")
        }
        return UserTable(restoring: ids, live: live)
    }

    private static func readAttribute(
        _ source: SnapshotSections, _ attribute: AttributeDefinition, rowCount: Int
    ) throws(SectionError) -> AttributeColumn {
        let name = "attribute \(attribute.name)"
        func checkRows(_ count: Int, _ section: String) throws(SectionError) {
            guard count <= rowCount else { throw SectionError(section: section, message: "column of \(count) rows, there are \(rowCount)") }
        }
        func checkRows(_ bitmap: Bitmap) throws(ByteReader.Malformed) {
            if let max = bitmap.max, Int(max) >= rowCount { throw .init(what: "index holds row \(max), there are \(rowCount)") }
        }
        switch attribute.type {
        case .int, .time:
            try decode(name, source) { _ throws(SectionError) in }
            let values = try source.array(name + "/values", of: Int64.self)
            try checkRows(values.count, name + "/values")
            return .int64(Int64Column(values: values))
        case .float:
            try decode(name, source) { _ throws(SectionError) in }
            let values = try source.array(name + "/values", of: Double.self)
            try checkRows(values.count, name + "/values")
            return .double(DoubleColumn(values: values))
        case .bool:
            return try decode(name, source) { (r) throws(SectionError) in
                try reading(name) { () throws(ByteReader.Malformed) in
                    let trues = try r.readBitmap("true rows")
                    let falses = try r.readBitmap("false rows")
                    try checkRows(trues)
                    try checkRows(falses)
                    return .bool(BoolColumn(trues: trues, falses: falses))
                }
            }
        case .string:
            let (dictionary, postings) = try decode(name, source) { (r) throws(SectionError) in
                try reading(name) { () throws(ByteReader.Malformed) in
                    let dictionary = StringDictionary(table: try r.readTable("dictionary"))
                    let postings = try readPostings(&r, count: dictionary.count)
                    for p in postings { try checkRows(p) }
                    return (dictionary, postings)
                }
            }
            let codes = try source.array(name + "/codes", of: UInt32.self)
            try checkRows(codes.count, name + "/codes")
            for code in codes where code != NullSentinel.stringCode && Int(code) >= dictionary.count {
                throw SectionError(section: name + "/codes", message: "code \(code) outside the dictionary of \(dictionary.count) strings")
            }
            return .string(StringColumn(dictionary: dictionary, codes: codes, postings: postings))
        case .tags:
            return try decode(name, source) { (r) throws(SectionError) in
                try reading(name) { () throws(ByteReader.Malformed) in
                    let dictionary = StringDictionary(table: try r.readTable("dictionary"))
                    let postings = try readPostings(&r, count: dictionary.count)
                    for p in postings { try checkRows(p) }
                    return .tags(TagsColumn(dictionary: dictionary, postings: postings))
                }
            }
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

    private static func readEvent(
        _ source: SnapshotSections, _ event: EventDefinition, shape: PropertyColumns, rowCount: Int
    ) throws(SectionError) -> EventTable {
        let name = "event \(event.name)"
        let offsets = try source.array(name + "/offsets", of: UInt32.self)
        let times = try source.array(name + "/times", of: UInt32.self)
        guard offsets.first == 0, offsets.count - 1 <= rowCount, Int(offsets.last!) == times.count else {
            throw SectionError(section: name + "/offsets", message: "offsets do not cover the \(times.count) events of at most \(rowCount) users")
        }
        for i in 1..<offsets.count where offsets[i] < offsets[i - 1] {
            throw SectionError(section: name + "/offsets", message: "offsets decrease at row \(i - 1)")
        }
        var ints: [ContiguousArray<Int64>] = []
        var floats: [ContiguousArray<Double>] = []
        var bools: [ContiguousArray<UInt8>] = []
        var strings: [ContiguousArray<UInt32>] = []
        func column<T: BitwiseCopyable>(_ property: PropertyDefinition, _: T.Type) throws(SectionError) -> ContiguousArray<T> {
            let section = name + "/" + property.name
            let values = try source.array(section, of: T.self)
            guard values.count == times.count else {
                throw SectionError(section: section, message: "\(values.count) values for \(times.count) events")
            }
            return values
        }
        // Slots are assigned in declaration order, so appending in that order rebuilds them.
        for (k, property) in event.properties.enumerated() {
            switch shape.slots[k] {
            case .int: ints.append(try column(property, Int64.self))
            case .float: floats.append(try column(property, Double.self))
            case .bool: bools.append(try column(property, UInt8.self))
            case .string: strings.append(try column(property, UInt32.self))
            }
        }
        let dictionaries = try decode(name, source) { (r) throws(SectionError) in
            try reading(name) { () throws(ByteReader.Malformed) in
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
                return dictionaries
            }
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
