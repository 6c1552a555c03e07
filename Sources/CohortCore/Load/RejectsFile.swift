#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where `--skip-bad-rows FILE` puts rejected rows: one CSV for every file of the load.
///
/// Format (RFC 4180, header row): `source,line,reason,row` where `source` is the input
/// file's name, `line` the rejected record's line (the header is line 1), `reason` why
/// it was rejected and `row` the record exactly as it was in the input, as one quoted
/// field. Every write is checked and `close()` flushes and closes with checks too, so a
/// full disk fails the load instead of silently losing rejected rows.
///
/// Concurrency: used by one loader thread at a time (rows are rejected on the driver).
public final class RejectsFile: @unchecked Sendable {
    public let path: String
    private var handle: UnsafeMutablePointer<FILE>?
    private var failure: CohortError?

    public init(path: String) throws(CohortError) {
        self.path = path
        guard let handle = fopen(path, "w") else { throw .err("cannot write rejected rows to \(path): \(String(cString: strerror(errno)))") }
        self.handle = handle
        put(Array("source,line,reason,row\n".utf8))
        if let failure { throw failure }
    }

    deinit { if let handle { fclose(handle) } }

    /// Appends one rejected record (`record`: its bytes in the input, without line end).
    func write(source: String, line: Int, reason: String, record: UnsafeRawBufferPointer) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(record.count + reason.utf8.count + 32)
        Self.appendField(Array(source.utf8), to: &bytes)
        bytes.append(UInt8(ascii: ","))
        bytes.append(contentsOf: String(line).utf8)
        bytes.append(UInt8(ascii: ","))
        Self.appendField(Array(reason.utf8), to: &bytes)
        bytes.append(UInt8(ascii: ","))
        Self.appendField(Array(record), to: &bytes, alwaysQuote: true)
        bytes.append(0x0A)
        put(bytes)
    }

    /// Flushes and closes the file; the first write error, if any, is thrown here.
    public func close() throws(CohortError) {
        if let handle {
            if fflush(handle) != 0, failure == nil { failure = .err("cannot write rejected rows to \(path): \(String(cString: strerror(errno)))") }
            if fclose(handle) != 0, failure == nil { failure = .err("cannot close \(path): \(String(cString: strerror(errno)))") }
            self.handle = nil
        }
        if let failure { throw failure }
    }

    private func put(_ bytes: [UInt8]) {
        guard failure == nil, let handle else { return }
        let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, handle) }
        if written != bytes.count { failure = .err("cannot write rejected rows to \(path): \(String(cString: strerror(errno)))") }
    }

    /// A CSV field: quoted (quotes doubled) when it needs it or `alwaysQuote`.
    private static func appendField(_ field: [UInt8], to out: inout [UInt8], alwaysQuote: Bool = false) {
        let quote = UInt8(ascii: "\"")
        let needs = alwaysQuote || field.contains { $0 == quote || $0 == UInt8(ascii: ",") || $0 == 0x0A || $0 == 0x0D }
        guard needs else { return out.append(contentsOf: field) }
        out.append(quote)
        for byte in field {
            if byte == quote { out.append(quote) }
            out.append(byte)
        }
        out.append(quote)
    }
}
