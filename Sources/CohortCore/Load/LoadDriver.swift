#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension CSVReader {
    /// The next record that is not a blank line, with read errors as row errors;
    /// false at the end.
    mutating func nextRecord(into fields: inout [Field]) throws(RowError) -> Bool {
        while true {
            do {
                guard try next(into: &fields) else { return false }
            } catch .unterminatedQuote {
                throw RowError("unterminated quoted field")
            } catch {
                throw RowError("text after a closing quote")
            }
            if !(fields.count == 1 && fields[0].start == fields[0].end) { return true }
        }
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
    var header: [String] = []
    var rows = 0
    var rejected = 0
    var firstRejections: [String] = []
    private let started = LoadDriver.monotonicSeconds()

    init(file: MappedFile, options: LoadOptions) throws(CohortError) {
        self.file = file
        self.name = String(file.path.split(separator: "/").last ?? Substring(file.path))
        self.options = options
        self.reader = CSVReader(bytes: file.bytes)
        var fields: [CSVReader.Field] = []
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
    }

    /// Records a bad row found at `line`, bytes `range` of the file: fails the load, or
    /// writes the row to the rejects file.
    mutating func reject(_ error: RowError, line: Int, range: Range<Int>) throws(CohortError) {
        let message = "line \(line): \(error.reason)"
        guard let rejects = options.rejects else {
            throw .err("\(name) \(message); nothing of this load was kept (use --skip-bad-rows FILE to load the good rows)")
        }
        rejected += 1
        if firstRejections.count < 10 { firstRejections.append(message) }
        rejects.write(source: name, line: line, reason: error.reason, record: UnsafeRawBufferPointer(rebasing: file.bytes[range]))
    }

    mutating func tick(_ count: Int = 1) {
        let before = rows / options.progressInterval
        rows += count
        if rows / options.progressInterval != before { reportProgress() }
    }

    func reportProgress() {
        options.progress?(
            LoadProgress(
                file: name, rows: rows, bytesRead: reader.position, totalBytes: file.bytes.count,
                seconds: LoadDriver.monotonicSeconds() - started))
    }

    mutating func finish() -> LoadReport {
        reportProgress()
        return LoadReport(file: name, rows: rows, rejected: rejected, firstRejections: firstRejections, seconds: LoadDriver.monotonicSeconds() - started)
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
