/// Encoding: a database as snapshot sections (DESIGN §5; byte layout in FORMAT.md).
extension SnapshotCodec {
    /// The sections of `db`, which must be compacted (no pending events). Structured
    /// sections are encoded in parallel; raw column sections cost nothing here.
    static func sections(of db: Database, meta: SnapshotMeta, workers: Int = .max) -> [Section] {
        precondition(!db.needsCompaction, "snapshot of an uncompacted database")
        var builders: [(String, @Sendable () -> [UInt8])] = [
            ("meta", { encodeMeta(db, meta) }),
            ("schema", { encodeSchema(db.schema) }),
            ("definitions", { encodeDefinitions(db) }),
            ("users", { encodeUsers(db.users) }),
        ]
        let ids = db.users.ids.flattened()
        var raw: [Section] = [.raw("users/ids", ids.bytes), .raw("users/id starts", ids.starts), .raw("users/id slots", ids.slots)]
        for attribute in db.schema.attributes {
            let name = "attribute \(attribute.name)"
            builders.append((name, { encodeAttribute(db.attributes, attribute) }))
            switch db.attributes.slots[attribute.id] {
            case .int64(let i): raw.append(.raw(name + "/values", db.attributes.int64s[i].values.flattened()))
            case .double(let i): raw.append(.raw(name + "/values", db.attributes.doubles[i].values.flattened()))
            case .string(let i): raw.append(.raw(name + "/codes", db.attributes.strings[i].codes.flattened()))
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
        builders.append(("feed", { encodeFeed(db.feed) }))

        let work = builders
        let payloads = parallelMap(work.count, workers: workers) { work[$0].1() }
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
}
