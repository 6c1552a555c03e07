/// Loads `users.csv`: `user_id,<attr>,...`.
///
/// Chunks of rows are parsed in parallel (ids checked, every field parsed to its
/// column's representation) and applied in file order through `ChunkPipeline`.
struct UsersLoad {
    var driver: LoadDriver
    let columns: [AttributeDefinition]

    init(file: MappedFile, schema: Schema, options: LoadOptions) throws(CohortError) {
        driver = try LoadDriver(file: file, options: options)
        let header = driver.header
        let name = driver.name
        guard header.first == "user_id" else { throw .err("\(name) line 1: the first column must be user_id, got '\(header.first ?? "")'") }
        var seen = Set<String>()
        var columns: [AttributeDefinition] = []
        for column in header.dropFirst() {
            guard seen.insert(column).inserted else { throw .err("\(name) line 1: column '\(column)' appears twice") }
            guard let definition = schema.attribute(named: column) else {
                throw .err("\(name) line 1: undeclared column '\(column)' (declare it with ATTR.DEFINE)")
            }
            columns.append(definition)
        }
        self.columns = columns
    }

    /// One parsed field of a users row, in its column's representation.
    enum Parsed {
        case null
        case int64(Int64)
        case double(Double)
        case bool(Bool)
        /// A string value as validated UTF-8 bytes of the file.
        case bytes(UnsafeRawBufferPointer)
        /// A `|`-separated tags field, validated UTF-8.
        case tags(UnsafeRawBufferPointer)
        case value(Value)
    }

    /// The rows of one chunk: ids and `columns.count` parsed fields per row.
    struct Chunk: @unchecked Sendable {
        var lines = 0
        var keys: [UserKey] = []
        var values: [Parsed] = []
        var rejects: [(line: Int, range: Range<Int>, reason: String)] = []
    }

    mutating func run(into db: inout Database) throws(CohortError) -> LoadReport {
        let bodyStart = driver.reader.position
        let bytes = driver.file.bytes
        let ranges = ChunkPipeline.split(bytes, from: bodyStart, parts: ChunkPipeline.chunkCount(bytes.count - bodyStart))
        let stopAtFirstError = driver.options.rejects == nil
        let columns = self.columns
        nonisolated(unsafe) let file = bytes
        let slots = columns.map { db.attributes.slots[$0.id] }
        db.users.reserveCapacity(db.users.rowCount + (bytes.count - bodyStart) / 48)
        var line = driver.reader.linesConsumed + 1
        try ChunkPipeline.run(ranges, empty: Chunk(), parse: { Self.parse($0, file, columns, stopAtFirstError) }) {
            (chunk) throws(CohortError) in
            for reject in chunk.rejects {
                try driver.reject(RowError(reject.reason), line: line + reject.line - 1, range: reject.range)
            }
            for (r, key) in chunk.keys.enumerated() {
                let row = db.rowCreating(key)
                for k in columns.indices {
                    switch (slots[k], chunk.values[r * columns.count + k]) {
                    case (.int64(let i), .int64(let v)): db.attributes.int64s[i].set(row, v)
                    case (.int64(let i), .null): db.attributes.int64s[i].set(row, nil)
                    case (.double(let i), .double(let v)): db.attributes.doubles[i].set(row, v)
                    case (.double(let i), .null): db.attributes.doubles[i].set(row, nil)
                    case (.bool(let i), .bool(let v)): db.attributes.bools[i].set(row, v)
                    case (.bool(let i), .null): db.attributes.bools[i].set(row, nil)
                    case (.string(let i), .bytes(let b)): db.attributes.strings[i].set(row, bytes: b)
                    case (.string(let i), .null): db.attributes.strings[i].setNull(row)
                    case (.tags(let i), .tags(let b)): db.attributes.tags[i].set(row, separatedBytes: b)
                    case (_, .value(let v)): db.setParsed(row: row, columns[k], v)
                    default: db.setParsed(row: row, columns[k], .null)
                    }
                }
            }
            driver.tick(chunk.keys.count)
            line += chunk.lines
        }
        return driver.finish()
    }

    /// Parses one chunk. Pure: reads the file and the column definitions only.
    static func parse(_ range: Range<Int>, _ bytes: UnsafeRawBufferPointer, _ columns: [AttributeDefinition], _ stopAtFirstError: Bool) -> Chunk {
        var chunk = Chunk()
        var reader = CSVReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[range]), skipByteOrderMark: false)
        var fields: [CSVReader.Field] = []
        var row: [Parsed] = []
        while true {
            do throws(RowError) {
                guard try reader.nextRecord(into: &fields) else { break }
                guard fields.count == columns.count + 1 else {
                    throw RowError("wrong column count: expected \(columns.count + 1) fields, got \(fields.count)")
                }
                let key = try LoadDriver.userKey(fields[0], reader)
                row.removeAll(keepingCapacity: true)
                for (k, definition) in columns.enumerated() { row.append(try parse(fields[k + 1], definition, reader)) }
                chunk.keys.append(key)
                chunk.values.append(contentsOf: row)
            } catch {
                let base = range.lowerBound
                chunk.rejects.append((reader.recordLine, (base + reader.recordRange.lowerBound)..<(base + reader.recordRange.upperBound), error.reason))
                if stopAtFirstError { break }
            }
        }
        chunk.lines = reader.linesConsumed
        return chunk
    }

    /// Static, with explicit inputs: a method or a capturing helper here made Swift copy
    /// the whole loader for every field.
    private static func parse(_ field: CSVReader.Field, _ definition: AttributeDefinition, _ reader: CSVReader) throws(RowError) -> Parsed {
        if field.start == field.end { return .null }
        let raw = reader.raw(field)
        switch definition.type {
        case .int:
            guard let v = FieldParser.int(raw) else { throw badValue(field, definition, reader, "an int") }
            return .int64(v)
        case .time:
            guard let v = TimeFormat.parse(bytes: raw), v != NullSentinel.time else {
                throw badValue(field, definition, reader, "a time (Unix seconds or ISO-8601 such as 2026-06-30T12:00:00Z)")
            }
            return .int64(v)
        case .float:
            guard let v = FieldParser.double(raw) else { throw badValue(field, definition, reader, "a float") }
            return .double(v)
        case .bool:
            guard let v = FieldParser.bool(raw) else { throw badValue(field, definition, reader, "a bool (true or false)") }
            return .bool(v)
        case .string where !field.hasEscapedQuotes:
            guard FieldParser.isValidUTF8(raw) else { throw RowError("column '\(definition.name)' is not valid UTF-8") }
            return .bytes(raw)
        case .tags where !field.hasEscapedQuotes:
            guard FieldParser.isValidUTF8(raw) else { throw RowError("column '\(definition.name)' is not valid UTF-8") }
            return .tags(raw)
        case .string, .tags:
            guard let text = reader.string(field) else { throw RowError("column '\(definition.name)' is not valid UTF-8") }
            do { return .value(try definition.type.parse(text)) } catch { throw RowError("attribute '\(definition.name)': \(error.message)") }
        }
    }

    private static func badValue(_ field: CSVReader.Field, _ definition: AttributeDefinition, _ reader: CSVReader, _ expected: String) -> RowError {
        RowError("attribute '\(definition.name)': expected \(expected), got '\(reader.string(field) ?? "?")'")
    }
}
