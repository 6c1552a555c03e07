/// Decoding: a database rebuilt from snapshot sections, everything checked before
/// anything is returned.
extension SnapshotCodec {
    /// One decoded part of the database, from a parallel decoding job.
    private enum Piece {
        case users(UserTable)
        case attribute(Int, AttributeColumn)
        case event(Int, EventTable)
        case memberships([String: Bitmap])
    }

    /// Decodes structured section `name` with `body`, which must consume it exactly.
    static func decode<T>(
        _ name: String, _ source: SnapshotSections, _ body: (inout ByteReader) throws(SectionError) -> T
    ) throws(SectionError) -> T {
        var reader = ByteReader(try source.payload(name))
        let value = try body(&reader)
        do { try reader.expectEnd("the section's contents") } catch { throw SectionError(section: name, message: error.what) }
        return value
    }

    /// Runs a `ByteReader` step, naming section `name` in its failure.
    static func reading<T>(_ name: String, _ body: () throws(ByteReader.Malformed) -> T) throws(SectionError) -> T {
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
        // Snapshots written before the change feed have no `feed` section.
        if source.contains("feed") {
            let restoring = db
            db.feed = try decode("feed", source) { (r) throws(SectionError) in try readFeed(&r, restoring) }
        }
        return (db, meta)
    }
}
