/// Loads `events.csv`: `user_id,event,time,<prop>,...` (the union of declared properties).
///
/// Two phases. Parsing (CSV scanning, event names, times, typed properties, UTF-8 and
/// user id checks) touches no shared state, so the file is cut into chunks at record
/// boundaries and parsed in parallel with Dispatch into per-chunk columns. Then one
/// sequential pass in file order resolves user ids to rows, encodes string values and
/// appends: rows, arrival order and the first reported error are exactly those of a
/// single-threaded load.
struct EventsLoad {
    var driver: LoadDriver
    let layout: Layout

    /// What parsing needs to know, immutable and shared by the parsing threads.
    struct Layout: @unchecked Sendable {
        /// Type of each CSV property column (the columns after `time`).
        let columnTypes: [PropertyType]
        /// For each event id, for each property column, the property index on that event.
        let propertyOfColumn: [[Int?]]
        let eventNames: [[UInt8]]
        let header: [String]
        let schemaEvents: [String]
        /// The mapped file; it outlives the load.
        let bytes: UnsafeRawBufferPointer
    }

    init(file: MappedFile, schema: Schema, options: LoadOptions) throws(CohortError) {
        driver = try LoadDriver(file: file, options: options)
        let header = driver.header
        let name = driver.name
        guard header.count >= 3, header[0] == "user_id", header[1] == "event", header[2] == "time" else {
            throw .err("\(name) line 1: the header must start with user_id,event,time, got '\(header.prefix(3).joined(separator: ","))'")
        }
        var seen = Set<String>()
        var types: [PropertyType] = []
        for column in header.dropFirst(3) {
            guard seen.insert(column).inserted else { throw .err("\(name) line 1: column '\(column)' appears twice") }
            guard let type = schema.propertyTypes[column] else {
                throw .err("\(name) line 1: undeclared column '\(column)' (declare it on an event with EVENT.DEFINE)")
            }
            types.append(type)
        }
        layout = Layout(
            columnTypes: types,
            propertyOfColumn: schema.events.map { event in header.dropFirst(3).map { event.propertyIndex($0) } },
            eventNames: schema.events.map { Array($0.name.utf8) }, header: header, schemaEvents: schema.events.map(\.name),
            bytes: file.bytes)
    }

    /// The rows of one chunk, parsed; rows that failed are in `rejects` instead.
    struct Chunk {
        var lines = 0
        var userPointers = ContiguousArray<UnsafeRawPointer>()
        /// Length of the id bytes, or 0 when the id is in `specialIDs` (quoted with
        /// escapes, or non-ASCII and validated as a String).
        var userLengths = ContiguousArray<UInt16>()
        var specialIDs: [Int: String] = [:]
        var events = ContiguousArray<UInt16>()
        var times = ContiguousArray<UInt32>()
        /// Property values as typed streams: for each row, one value (or its null
        /// sentinel) per property its event declares, in column order. Columns an
        /// event does not declare take no space.
        var ints = ContiguousArray<Int64>()
        var floats = ContiguousArray<Double>()
        var bools = ContiguousArray<UInt8>()
        /// String values as pointer + length into the file; length `UInt32.max` is null,
        /// `UInt32.max - 1` means "see `specialStrings`" (keyed by stream position).
        var stringPointers = ContiguousArray<UnsafeRawPointer?>()
        var stringLengths = ContiguousArray<UInt32>()
        var specialStrings: [Int: String] = [:]
        /// Bad rows: line within the chunk (1-based), absolute byte range, reason.
        var rejects: [(line: Int, range: Range<Int>, reason: String)] = []
        var count: Int { times.count }

        /// Stream lengths, to drop the partial values of a row that failed half-way.
        struct Mark {
            let ints: Int, floats: Int, bools: Int, strings: Int, rows: Int
        }

        var mark: Mark { Mark(ints: ints.count, floats: floats.count, bools: bools.count, strings: stringLengths.count, rows: times.count) }

        mutating func rollBack(to mark: Mark) {
            ints.removeLast(ints.count - mark.ints)
            floats.removeLast(floats.count - mark.floats)
            bools.removeLast(bools.count - mark.bools)
            stringPointers.removeLast(stringPointers.count - mark.strings)
            stringLengths.removeLast(stringLengths.count - mark.strings)
            for key in specialStrings.keys where key >= mark.strings { specialStrings[key] = nil }
            if events.count > mark.rows { events.removeLast(events.count - mark.rows) }
            if userPointers.count > mark.rows {
                userPointers.removeLast(userPointers.count - mark.rows)
                userLengths.removeLast(userLengths.count - mark.rows)
            }
            specialIDs[mark.rows] = nil
        }
    }

    mutating func run(into db: inout Database) throws(CohortError) -> LoadReport {
        let bodyStart = driver.reader.position
        let ranges = ChunkPipeline.split(driver.file.bytes, from: bodyStart, parts: ChunkPipeline.chunkCount(driver.file.bytes.count - bodyStart))
        let stopAtFirstError = driver.options.rejects == nil
        let layout = self.layout
        let schema = db.schema
        var raws = db.events.tables.map { $0.makeRawValues() }
        let estimate = (driver.file.bytes.count - bodyStart) / 48
        db.users.reserveCapacity(db.users.rowCount + estimate / 16)
        // Per event: the property slots its stream values fill, in column order.
        let assignments: [[PropertyColumns.Slot]] = schema.events.indices.map { e in
            layout.propertyOfColumn[e].compactMap { p in p.map { db.events.tables[e].properties.slots[$0] } }
        }

        var line = driver.reader.linesConsumed + 1  // the first line after the header
        var lastUser: (bytes: UnsafeRawBufferPointer, row: UInt32)? = nil
        try ChunkPipeline.run(ranges, empty: Chunk(), parse: { Self.parse($0, layout, stopAtFirstError: stopAtFirstError) }) {
            (chunk) throws(CohortError) in
            for reject in chunk.rejects {
                try driver.reject(RowError(reject.reason), line: line + reject.line - 1, range: reject.range)
            }
            var (i, f, b, s) = (0, 0, 0, 0)  // stream cursors
            for k in 0..<chunk.count {
                let row: UInt32
                let length = Int(chunk.userLengths[k])
                if length == 0 {
                    row = db.users.rowCreating(chunk.specialIDs[k]!).row
                    lastUser = nil
                } else {
                    let bytes = UnsafeRawBufferPointer(start: chunk.userPointers[k], count: length)
                    if let last = lastUser, FieldParser.equal(last.bytes, bytes) {
                        row = last.row
                    } else {
                        row = db.users.rowCreating(bytes: bytes).row
                        lastUser = (bytes, row)
                    }
                }
                let e = Int(chunk.events[k])
                for slot in assignments[e] {
                    switch slot {
                    case .int(let t):
                        raws[e].ints[t] = chunk.ints[i]
                        i += 1
                    case .float(let t):
                        raws[e].floats[t] = chunk.floats[f]
                        f += 1
                    case .bool(let t):
                        raws[e].bools[t] = chunk.bools[b]
                        b += 1
                    case .string(let t):
                        let n = chunk.stringLengths[s]
                        if n == UInt32.max {
                            raws[e].strings[t] = NullSentinel.stringCode
                        } else if n == UInt32.max - 1 {
                            raws[e].strings[t] = db.events.tables[e].encodeString(chunk.specialStrings[s]!, slot: t)
                        } else {
                            let bytes = UnsafeRawBufferPointer(start: chunk.stringPointers[s], count: Int(n))
                            raws[e].strings[t] = db.events.tables[e].encodeString(bytes: bytes, slot: t)
                        }
                        s += 1
                    }
                }
                db.events.tables[e].appendUnindexed(row: row, time: chunk.times[k], raws[e])
            }
            driver.tick(chunk.count)
            line += chunk.lines
        }
        db.compact()
        return driver.finish()
    }

    /// Parses one chunk. Pure: reads the file and `layout` only.
    static func parse(_ range: Range<Int>, _ layout: Layout, stopAtFirstError: Bool) -> Chunk {
        var chunk = Chunk()
        var reader = CSVReader(bytes: UnsafeRawBufferPointer(rebasing: layout.bytes[range]), skipByteOrderMark: false)
        var fields: [CSVReader.Field] = []
        var lastEvent = 0
        let columnCount = layout.columnTypes.count + 3
        let estimate = range.count / 48
        chunk.times.reserveCapacity(estimate)
        chunk.events.reserveCapacity(estimate)
        chunk.userPointers.reserveCapacity(estimate)
        chunk.userLengths.reserveCapacity(estimate)
        while true {
            let n = chunk.count
            let mark = chunk.mark
            do throws(RowError) {
                guard try reader.nextRecord(into: &fields) else { break }
                guard fields.count == columnCount else {
                    throw RowError("wrong column count: expected \(columnCount) fields, got \(fields.count)")
                }
                // Event name: the previous row's name is the likeliest.
                let nameBytes = reader.raw(fields[1])
                var eventID = -1
                if lastEvent < layout.eventNames.count, nameBytes.elementsEqual(layout.eventNames[lastEvent]) {
                    eventID = lastEvent
                } else if let found = layout.eventNames.firstIndex(where: { nameBytes.elementsEqual($0) }) {
                    eventID = found
                    lastEvent = found
                }
                guard eventID >= 0 else {
                    throw RowError("unknown event '\(reader.string(fields[1]) ?? "?")' (declare it with EVENT.DEFINE)")
                }
                guard let seconds = TimeFormat.parse(bytes: reader.raw(fields[2])) else {
                    throw RowError("bad time '\(reader.string(fields[2]) ?? "?")': use Unix seconds or ISO-8601 (2026-06-30T12:00:00Z)")
                }
                let time: UInt32
                do { time = try EventTime.stored(seconds) } catch { throw RowError(error.message) }

                let map = layout.propertyOfColumn[eventID]
                for c in 0..<map.count {
                    let field = fields[c + 3]
                    let empty = field.start == field.end
                    guard map[c] != nil else {
                        if empty { continue }
                        throw RowError("event '\(layout.schemaEvents[eventID])' has no property '\(layout.header[c + 3])'")
                    }
                    let bytes = reader.raw(field)
                    switch layout.columnTypes[c] {
                    case .int:
                        let v = empty ? NullSentinel.int : FieldParser.int(bytes)
                        guard let v else { throw badValue(c, field, reader, layout, "an int") }
                        chunk.ints.append(v)
                    case .float:
                        let v = empty ? NullSentinel.float : FieldParser.double(bytes)
                        guard let v else { throw badValue(c, field, reader, layout, "a float") }
                        chunk.floats.append(v)
                    case .bool:
                        let v: Bool? = empty ? nil : FieldParser.bool(bytes)
                        guard empty || v != nil else { throw badValue(c, field, reader, layout, "a bool (true or false)") }
                        chunk.bools.append(v.map { $0 ? 1 : 0 } ?? NullSentinel.bool)
                    case .string:
                        if empty {
                            chunk.stringPointers.append(nil)
                            chunk.stringLengths.append(UInt32.max)
                        } else if field.hasEscapedQuotes {
                            guard let text = reader.string(field) else { throw RowError("property '\(layout.header[c + 3])' is not valid UTF-8") }
                            chunk.specialStrings[chunk.stringLengths.count] = text
                            chunk.stringPointers.append(nil)
                            chunk.stringLengths.append(UInt32.max - 1)
                        } else {
                            guard FieldParser.isValidUTF8(bytes) else { throw RowError("property '\(layout.header[c + 3])' is not valid UTF-8") }
                            chunk.stringPointers.append(bytes.baseAddress)
                            chunk.stringLengths.append(UInt32(bytes.count))
                        }
                    }
                }
                switch try LoadDriver.userKey(fields[0], reader) {
                case .bytes(let b):
                    chunk.userPointers.append(b.baseAddress!)
                    chunk.userLengths.append(UInt16(b.count))
                case .string(let id):
                    chunk.specialIDs[n] = id
                    chunk.userPointers.append(layout.bytes.baseAddress!)
                    chunk.userLengths.append(0)
                }
                chunk.events.append(UInt16(eventID))
                chunk.times.append(time)  // last: `count` is the number of complete rows
            } catch {
                chunk.rollBack(to: mark)
                let base = range.lowerBound
                chunk.rejects.append((reader.recordLine, (base + reader.recordRange.lowerBound)..<(base + reader.recordRange.upperBound), error.reason))
                if stopAtFirstError { break }
            }
        }
        chunk.lines = reader.linesConsumed
        return chunk
    }

    private static func badValue(_ column: Int, _ field: CSVReader.Field, _ reader: CSVReader, _ layout: Layout, _ expected: String) -> RowError {
        RowError("property '\(layout.header[column + 3])': expected \(expected), got '\(reader.string(field) ?? "?")'")
    }
}

import Dispatch
