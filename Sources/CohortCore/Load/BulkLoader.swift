#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a bulk load behaves on bad rows and how it reports progress.
public struct LoadOptions: Sendable {
    /// With a path, bad rows are written there (header first, rows verbatim) and the
    /// load goes on (`--skip-bad-rows FILE`); without, the first bad row fails the load.
    public var rejectsPath: String?
    /// Called every `progressInterval` rows and once at the end.
    public var progress: (@Sendable (LoadProgress) -> Void)?
    public var progressInterval = 1_000_000

    public init(rejectsPath: String? = nil, progress: (@Sendable (LoadProgress) -> Void)? = nil) {
        self.rejectsPath = rejectsPath
        self.progress = progress
    }
}

/// A progress report of a running load.
public struct LoadProgress: Sendable {
    public let file: String
    public let rows: Int
    public let bytesRead: Int
    public let totalBytes: Int
    public let seconds: Double
    public var rowsPerSecond: Double { seconds > 0 ? Double(rows) / seconds : 0 }
}

/// What a finished load did.
public struct LoadReport: Sendable, Equatable {
    public let file: String
    public let rows: Int
    public let rejected: Int
    /// The reasons of the first rejected rows (at most 10), `line N: reason`.
    public let firstRejections: [String]
    public let seconds: Double
}

/// CSV bulk load (DESIGN §7) into a `Database`.
///
/// All-or-nothing: rows are applied to a copy-on-write copy of the database that
/// replaces the caller's only when the whole file is done, so a failing load leaves
/// the database exactly as it was. Every rejection names the line (the header is
/// line 1) and the reason. Events are compacted into the sorted layout at the end.
public enum BulkLoader {
    public static func loadUsers(path: String, into database: inout Database, options: LoadOptions = LoadOptions()) throws(CohortError)
        -> LoadReport
    {
        try staged(path, &database) { (file, db) throws(CohortError) in
            var load = try UsersLoad(file: file, schema: db.schema, options: options)
            return try load.run(into: &db)
        }
    }

    public static func loadEvents(path: String, into database: inout Database, options: LoadOptions = LoadOptions()) throws(CohortError)
        -> LoadReport
    {
        try staged(path, &database) { (file, db) throws(CohortError) in
            var load = try EventsLoad(file: file, schema: db.schema, options: options)
            return try load.run(into: &db)
        }
    }

    /// Runs `body` on a copy of `database` that replaces it only when `body` succeeds.
    private static func staged(
        _ path: String, _ database: inout Database, _ body: (MappedFile, inout Database) throws(CohortError) -> LoadReport
    ) throws(CohortError) -> LoadReport {
        let file = try MappedFile(path: path)
        var staged = database
        let report = try body(file, &staged)
        database = staged
        return report
    }
}

/// A validated user id from a CSV field.
enum UserKey {
    case bytes(UnsafeRawBufferPointer)
    case string(String)
}

extension Database {
    mutating func rowCreating(_ key: UserKey) -> UInt32 {
        switch key {
        case .bytes(let b): users.rowCreating(bytes: b).row
        case .string(let s): users.rowCreating(s).row
        }
    }
}

/// A row that cannot be loaded, with the reason.
struct RowError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// What users and events loads share: reading records, rejecting rows, reporting.
struct LoadDriver {
    let file: MappedFile
    let name: String
    let options: LoadOptions
    var reader: CSVReader
    var fields: [CSVReader.Field] = []
    var header: [String] = []
    var rows = 0
    var rejected = 0
    var firstRejections: [String] = []
    private var rejects: UnsafeMutablePointer<FILE>?
    private let started = LoadDriver.monotonicSeconds()

    init(file: MappedFile, options: LoadOptions) throws(CohortError) {
        self.file = file
        self.name = String(file.path.split(separator: "/").last ?? Substring(file.path))
        self.options = options
        self.reader = CSVReader(bytes: file.bytes)
        do {
            guard try reader.next(into: &fields) else { throw CohortError.err("\(name) line 1: the file is empty, expected a header row") }
        } catch let error as CohortError {
            throw error
        } catch {
            throw .err("\(name) line 1: malformed header (\(error))")
        }
        for field in fields {
            guard let column = reader.string(field) else { throw .err("\(name) line 1: header is not valid UTF-8") }
            header.append(column)
        }
        if let path = options.rejectsPath {
            guard let handle = fopen(path, "w") else { throw .err("cannot write rejected rows to \(path): \(String(cString: strerror(errno)))") }
            rejects = handle
            write(record: reader.recordRange)
        }
    }

    /// Advances to the next non-empty record; false at the end.
    mutating func nextRecord() throws(RowError) -> Bool {
        while true {
            do {
                guard try reader.next(into: &fields) else { return false }
            } catch .unterminatedQuote {
                throw RowError("unterminated quoted field")
            } catch {
                throw RowError("text after a closing quote")
            }
            if !(fields.count == 1 && fields[0].start == fields[0].end) { return true }
        }
    }

    /// Records a bad row: fails the load, or writes it to the rejects file.
    mutating func reject(_ error: RowError) throws(CohortError) {
        let message = "line \(reader.recordLine): \(error.reason)"
        guard rejects != nil else { throw .err("\(name) \(message); nothing of this load was kept (use --skip-bad-rows FILE to load the good rows)") }
        rejected += 1
        if firstRejections.count < 10 { firstRejections.append(message) }
        write(record: reader.recordRange)
    }

    mutating func checkColumnCount() throws(RowError) {
        guard fields.count == header.count else {
            throw RowError("wrong column count: expected \(header.count) fields, got \(fields.count)")
        }
    }

    mutating func tick() {
        rows += 1
        if rows % options.progressInterval == 0 { reportProgress() }
    }

    func reportProgress() {
        options.progress?(
            LoadProgress(
                file: name, rows: rows, bytesRead: reader.position, totalBytes: file.bytes.count,
                seconds: LoadDriver.monotonicSeconds() - started))
    }

    mutating func finish() -> LoadReport {
        if let rejects { fclose(rejects) }
        rejects = nil
        reportProgress()
        return LoadReport(file: name, rows: rows, rejected: rejected, firstRejections: firstRejections, seconds: LoadDriver.monotonicSeconds() - started)
    }

    private func write(record range: Range<Int>) {
        guard let rejects else { return }
        let bytes = UnsafeRawBufferPointer(rebasing: file.bytes[range])
        if let base = bytes.baseAddress { fwrite(base, 1, bytes.count, rejects) }
        fputc(0x0A, rejects)
    }

    /// The user id field, checked against DESIGN §2: raw bytes when they are plain
    /// ASCII (the common case, no `String` built), else a validated `String`.
    /// Static so that calling it never copies the driver (Swift did, once per row).
    static func userKey(_ field: CSVReader.Field, _ reader: CSVReader) throws(RowError) -> UserKey {
        let raw = reader.raw(field)
        if !field.hasEscapedQuotes, FieldParser.isPlainASCIIUserID(raw) { return .bytes(raw) }
        guard let id = reader.string(field) else { throw RowError("user_id is not valid UTF-8") }
        do { try UserTable.validate(id) } catch { throw RowError(error.message) }
        return .string(id)
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Loads `users.csv`: `user_id,<attr>,...`.
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

    /// One parsed field of a users row, held until the whole row has been checked.
    enum Parsed {
        case null
        case int64(Int64)
        case double(Double)
        case bool(Bool)
        case bytes(UnsafeRawBufferPointer)
        /// A `|`-separated tags field, validated UTF-8.
        case tags(UnsafeRawBufferPointer)
        case value(Value)
    }

    mutating func run(into db: inout Database) throws(CohortError) -> LoadReport {
        var parsed: [Parsed] = []
        let slots = columns.map { db.attributes.slots[$0.id] }
        db.users.reserveCapacity(db.users.rowCount + driver.file.bytes.count / 48)
        while true {
            do throws(RowError) {
                guard try driver.nextRecord() else { break }
                try driver.checkColumnCount()
                let key = try LoadDriver.userKey(driver.fields[0], driver.reader)
                parsed.removeAll(keepingCapacity: true)
                for (k, definition) in columns.enumerated() {
                    parsed.append(try Self.parse(driver.fields[k + 1], definition, driver.reader))
                }
                let row = db.rowCreating(key)
                for (k, value) in parsed.enumerated() {
                    switch (slots[k], value) {
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
                driver.tick()
            } catch {
                try driver.reject(error)
            }
        }
        return driver.finish()
    }

    /// Parses one field for `definition` straight from its bytes where the type allows.
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

/// Loads `events.csv`: `user_id,event,time,<prop>,...` (the union of declared properties).
struct EventsLoad {
    var driver: LoadDriver
    /// For each event id, for each CSV property column (0-based after `time`), the
    /// property index on that event, or nil when the event does not declare it.
    let propertyOfColumn: [[Int?]]
    let propertyTypes: [PropertyType]
    let eventNames: [[UInt8]]

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
        propertyTypes = types
        propertyOfColumn = schema.events.map { event in header.dropFirst(3).map { event.propertyIndex($0) } }
        eventNames = schema.events.map { Array($0.name.utf8) }
    }

    mutating func run(into db: inout Database) throws(CohortError) -> LoadReport {
        let schema = db.schema
        var raws = db.events.tables.map { $0.makeRawValues() }
        var strings: [(Int, CSVReader.Field)] = []
        var lastUser: (bytes: UnsafeRawBufferPointer, row: UInt32)? = nil
        var lastEvent = 0
        let approximateRows = driver.file.bytes.count / 48
        db.users.reserveCapacity(db.users.rowCount + approximateRows / 16)
        for t in db.events.tables.indices { db.events.tables[t].reservePending(approximateRows / max(1, schema.events.count)) }

        while true {
            do throws(RowError) {
                guard try driver.nextRecord() else { break }
                try driver.checkColumnCount()
                let fields = driver.fields
                let reader = driver.reader

                // Event name: the previous row's name is the likeliest.
                let nameBytes = reader.raw(fields[1])
                var eventID = -1
                if lastEvent < eventNames.count, nameBytes.elementsEqual(eventNames[lastEvent]) {
                    eventID = lastEvent
                } else if let found = eventNames.firstIndex(where: { nameBytes.elementsEqual($0) }) {
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

                // Properties, checked before anything is stored.
                raws[eventID].clear()
                strings.removeAll(keepingCapacity: true)
                let map = propertyOfColumn[eventID]
                let slots = db.events.tables[eventID].properties.slots
                for c in 0..<map.count {
                    let field = fields[c + 3]
                    if field.start == field.end { continue }
                    guard let property = map[c] else {
                        throw RowError("event '\(schema.events[eventID].name)' has no property '\(driver.header[c + 3])'")
                    }
                    let bytes = reader.raw(field)
                    switch slots[property] {
                    case .int(let s):
                        guard let v = FieldParser.int(bytes) else { throw badValue(c, "an int") }
                        raws[eventID].ints[s] = v
                    case .float(let s):
                        guard let v = FieldParser.double(bytes) else { throw badValue(c, "a float") }
                        raws[eventID].floats[s] = v
                    case .bool(let s):
                        guard let v = FieldParser.bool(bytes) else { throw badValue(c, "a bool (true or false)") }
                        raws[eventID].bools[s] = v ? 1 : 0
                    case .string(let s):
                        guard FieldParser.isValidUTF8(bytes) else { throw RowError("property '\(driver.header[c + 3])' is not valid UTF-8") }
                        strings.append((s, field))
                    }
                }

                // User: consecutive rows often repeat it.
                let userBytes = reader.raw(fields[0])
                let row: UInt32
                if let last = lastUser, !fields[0].hasEscapedQuotes, FieldParser.equal(last.bytes, userBytes) {
                    row = last.row
                } else {
                    row = db.rowCreating(try LoadDriver.userKey(fields[0], reader))
                    lastUser = (userBytes, row)
                }
                for (s, field) in strings {
                    if field.hasEscapedQuotes {
                        raws[eventID].strings[s] = db.events.tables[eventID].encodeString(reader.string(field)!, slot: s)
                    } else {
                        raws[eventID].strings[s] = db.events.tables[eventID].encodeString(bytes: reader.raw(field), slot: s)
                    }
                }
                db.events.tables[eventID].append(row: row, time: time, raws[eventID])
                driver.tick()
            } catch {
                try driver.reject(error)
            }
        }
        db.compact()
        return driver.finish()
    }

    private func badValue(_ column: Int, _ expected: String) -> RowError {
        let field = driver.fields[column + 3]
        return RowError("property '\(driver.header[column + 3])': expected \(expected), got '\(driver.reader.string(field) ?? "?")'")
    }
}
