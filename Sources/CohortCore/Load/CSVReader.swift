/// An RFC 4180 record reader over bytes: comma-separated fields, optional double
/// quotes with `""` as an escaped quote, records ended by `\n` or `\r\n`, quoted
/// fields may span lines.
///
/// It never copies: each field is a byte range into the input, flagged when it needs
/// unquoting. Cost: one pass over the bytes, no allocation per record once `fields`
/// has grown to the widest record.
struct CSVReader {
    struct Field {
        var start: Int
        var end: Int
        /// The field was quoted and contains `""` pairs to collapse.
        var hasEscapedQuotes: Bool
    }

    enum ReadError: Error {
        case unterminatedQuote
        case textAfterClosingQuote
    }

    let bytes: UnsafeRawBufferPointer
    private(set) var position = 0
    /// Line (1-based) on which the last record returned started.
    private(set) var recordLine = 0
    /// Byte range of the last record returned, without its line ending.
    private(set) var recordRange = 0..<0
    private var nextLine = 1

    init(bytes: UnsafeRawBufferPointer, skipByteOrderMark: Bool = true) {
        self.bytes = bytes
        // A UTF-8 byte order mark is not part of the first field.
        if skipByteOrderMark, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { position = 3 }
    }

    /// Newlines passed so far (the lines of a chunk, when reading one).
    var linesConsumed: Int { nextLine - 1 }

    var isAtEnd: Bool { position >= bytes.count }

    /// Reads the next record into `fields`; false at end of input.
    mutating func next(into fields: inout [Field]) throws(ReadError) -> Bool {
        fields.removeAll(keepingCapacity: true)
        guard position < bytes.count else { return false }
        recordLine = nextLine
        let recordStart = position
        let n = bytes.count
        var i = position
        while true {
            if i < n, bytes[i] == UInt8(ascii: "\"") {
                // Quoted field.
                i += 1
                let start = i
                var escaped = false
                while true {
                    guard i < n else {
                        position = n
                        throw .unterminatedQuote
                    }
                    let b = bytes[i]
                    if b == UInt8(ascii: "\"") {
                        if i + 1 < n, bytes[i + 1] == UInt8(ascii: "\"") {
                            escaped = true
                            i += 2
                            continue
                        }
                        break
                    }
                    if b == UInt8(ascii: "\n") { nextLine += 1 }
                    i += 1
                }
                fields.append(Field(start: start, end: i, hasEscapedQuotes: escaped))
                i += 1  // closing quote
                if i < n, bytes[i] != UInt8(ascii: ","), bytes[i] != UInt8(ascii: "\n"), bytes[i] != UInt8(ascii: "\r") {
                    skipRecord(from: i)
                    throw .textAfterClosingQuote
                }
            } else {
                let start = i
                while i < n {
                    let b = bytes[i]
                    if b == UInt8(ascii: ",") || b == UInt8(ascii: "\n") { break }
                    i += 1
                }
                var end = i
                if end > start, end == n || bytes[end] == UInt8(ascii: "\n"), bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                fields.append(Field(start: start, end: end, hasEscapedQuotes: false))
            }
            if i < n, bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            // End of record: `\n`, `\r\n` or end of input.
            var recordEnd = i
            if i < n, bytes[i] == UInt8(ascii: "\r") { i += 1 }
            if i < n, bytes[i] == UInt8(ascii: "\n") {
                if recordEnd > recordStart, bytes[recordEnd - 1] == UInt8(ascii: "\r") { recordEnd -= 1 }
                i += 1
                nextLine += 1
            }
            recordRange = recordStart..<recordEnd
            position = i
            return true
        }
    }

    /// Skips to the start of the next line after a malformed record.
    private mutating func skipRecord(from start: Int) {
        var i = start
        while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
        recordRange = recordRange.lowerBound..<i
        if i < bytes.count { i += 1 }
        nextLine += 1
        position = i
    }

    /// The raw bytes of a field.
    func raw(_ field: Field) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[field.start..<field.end]) }

    /// The field as a String, or nil when it is not valid UTF-8.
    func string(_ field: Field) -> String? {
        let raw = raw(field)
        if !field.hasEscapedQuotes { return String(validating: raw, as: UTF8.self) }
        var unescaped: [UInt8] = []
        unescaped.reserveCapacity(raw.count)
        var k = 0
        while k < raw.count {
            unescaped.append(raw[k])
            k += raw[k] == UInt8(ascii: "\"") ? 2 : 1
        }
        return String(validating: unescaped, as: UTF8.self)
    }
}
