import CohortCore
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// One decoded request: the command's words, or a request that was read whole but
/// cannot run (its error is replied and the connection stays open).
enum Request: Equatable, Sendable {
    case command([String])
    case invalid(String)
}

/// A violation of the protocol or of a limit: replied as `-ERR Protocol error: ...`,
/// then the connection closes (as Redis does).
struct ProtocolError: Error, Equatable {
    let message: String
}

/// Decodes RESP arrays of bulk strings and inline command lines (DESIGN §4) into
/// `Request`s, across any split of the bytes into reads.
///
/// It never rescans: an inline line's search for `\n` resumes where the last one
/// stopped (`inlineScanned`), and an array's elements are consumed one by one as they
/// complete (`pendingWords`), so a big pipelined array is not parsed again for every
/// read. What it buffers is capped by `ServerLimits`: an inline line, an array header
/// and a bulk's declared length are checked before their bytes are awaited.
struct RequestDecoder: ByteToMessageDecoder {
    typealias InboundOut = Request

    let limits: ServerLimits
    /// Bytes of the current inline line already searched for its newline.
    private var inlineScanned = 0
    /// Elements still expected by the array being read, and the words read so far.
    private var pendingCount = 0
    private var pendingWords: [String] = []
    private var pendingInvalid: String?

    init(limits: ServerLimits) { self.limits = limits }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let request = try next(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(request))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// The next complete request, or nil when more bytes are needed. Public to tests
    /// through `decode`; consumes exactly the bytes of the requests it returns.
    mutating func next(_ buffer: inout ByteBuffer) throws(ProtocolError) -> Request? {
        while true {
            if pendingCount > 0 {
                guard try readBulk(&buffer) else { return nil }
                if pendingCount == 0 { return finishArray() }
                continue
            }
            guard let first = buffer.readableBytesView.first else { return nil }
            if first == UInt8(ascii: "*") {
                guard let count = try readHeader(&buffer, what: "multibulk count") else { return nil }
                guard count <= limits.arrayLength else { throw ProtocolError(message: "invalid multibulk length") }
                if count <= 0 { continue }  // `*0` and `*-1` are no command, as in Redis
                pendingCount = count
                pendingWords = []
                pendingWords.reserveCapacity(min(count, 64))
                pendingInvalid = nil
                continue
            }
            guard let line = try readInline(&buffer) else { return nil }
            if let request = line { return request }
        }
    }

    /// Reads `<prefix byte><integer>\r\n`; nil when the line is not complete yet. Works on
    /// the raw bytes (memchr and a digit loop): this runs twice per argument.
    private func readHeader(_ buffer: inout ByteBuffer, what: String) throws(ProtocolError) -> Int? {
        // A header is at most 21 bytes (`*`, a sign, 18 digits, CR); past 32 without its
        // newline, or with it, it is too big, however the bytes arrived.
        let parsed: (value: Int?, consumed: Int)? = try buffer.withUnsafeReadableBytes { (raw) throws(ProtocolError) in
            guard let base = raw.baseAddress, let hit = memchr(base, 0x0A, min(raw.count, 33)) else {
                if raw.count > 32 { throw ProtocolError(message: "too big \(what) string") }
                return nil
            }
            let newline = UnsafeRawPointer(hit) - base
            var end = newline
            if end > 0, raw[end - 1] == 0x0D { end -= 1 }
            var i = 1
            var negative = false
            if i < end, raw[i] == UInt8(ascii: "-") {
                negative = true
                i += 1
            }
            guard i < end, end - i <= 18 else { return (nil, newline + 1) }
            var value = 0
            while i < end {
                let digit = Int(raw[i]) - 48
                guard digit >= 0, digit <= 9 else { return (nil, newline + 1) }
                value = value * 10 + digit
                i += 1
            }
            return (negative ? -value : value, newline + 1)
        }
        guard let parsed else { return nil }
        guard let value = parsed.value else {
            throw ProtocolError(message: what == "bulk length" ? "invalid bulk length" : "invalid multibulk length")
        }
        buffer.moveReaderIndex(forwardBy: parsed.consumed)
        return value
    }

    /// A word from raw bytes, nil when they are not valid UTF-8. ASCII (nearly every
    /// word) skips the generic validating initializer, whose metadata lookups cost more
    /// than the copy.
    @inline(__always)
    private static func word(_ raw: UnsafeRawBufferPointer) -> String? {
        raw.withMemoryRebound(to: UInt8.self) { bytes in
            var high: UInt8 = 0
            for b in bytes { high |= b }
            return high < 0x80 ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
        }
    }

    /// Reads one `$len\r\n<bytes>\r\n` element of the current array; false when it is
    /// not all there yet (nothing consumed).
    private mutating func readBulk(_ buffer: inout ByteBuffer) throws(ProtocolError) -> Bool {
        guard let first = buffer.readableBytesView.first else { return false }
        guard first == UInt8(ascii: "$") else {
            throw ProtocolError(message: "expected '$', got '\(Character(Unicode.Scalar(first)))'")
        }
        var probe = buffer
        guard let length = try readHeader(&probe, what: "bulk length") else { return false }
        guard length >= 0, length <= limits.bulkLength else { throw ProtocolError(message: "invalid bulk length") }
        guard probe.readableBytes >= length + 2 else { return false }
        let word = probe.withUnsafeReadableBytes { Self.word(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        if let word {
            pendingWords.append(word)
        } else {
            pendingWords.append("")
            pendingInvalid = pendingInvalid ?? "argument \(pendingWords.count) is not valid UTF-8"
        }
        probe.moveReaderIndex(forwardBy: length + 2)
        buffer = probe
        pendingCount -= 1
        return true
    }

    private mutating func finishArray() -> Request {
        defer { pendingWords = [] }
        if let invalid = pendingInvalid { return .invalid(invalid) }
        return .command(pendingWords)
    }

    /// Reads one inline line. Nil: need more bytes; `.some(nil)`: an empty line (skipped).
    private mutating func readInline(_ buffer: inout ByteBuffer) throws(ProtocolError) -> Request?? {
        let scanned = inlineScanned
        let found: Int? = buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress, scanned < raw.count, let hit = memchr(base + scanned, 0x0A, raw.count - scanned) else { return nil }
            return UnsafeRawPointer(hit) - base
        }
        guard let newline = found else {
            inlineScanned = buffer.readableBytes
            if buffer.readableBytes > limits.inlineLine { throw ProtocolError(message: "too big inline request") }
            return nil
        }
        inlineScanned = 0
        guard newline <= limits.inlineLine else { throw ProtocolError(message: "too big inline request") }
        let line: String? = buffer.withUnsafeReadableBytes { raw in
            var end = newline
            if end > 0, raw[end - 1] == 0x0D { end -= 1 }
            return Self.word(UnsafeRawBufferPointer(rebasing: raw[0..<end]))
        }
        buffer.moveReaderIndex(forwardBy: newline + 1)
        guard let line else { return .some(.invalid("the command line is not valid UTF-8")) }
        do {
            let words = try InlineCommand.split(line)
            return words.isEmpty ? .some(nil) : .some(.command(words))
        } catch {
            if error.message.contains("unbalanced") { throw ProtocolError(message: "unbalanced quotes in request") }
            return .some(.invalid(error.message))
        }
    }
}
