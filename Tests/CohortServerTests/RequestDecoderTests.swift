import NIOCore
import NIOTestUtils
import Testing

@testable import CohortServer

/// The decoder fed one byte at a time, in every split, and all at once
/// (NIOTestUtils' verifier), plus its limits.
struct RequestDecoderTests {
    @Test func decodesTheSameWhateverTheSplit() throws {
        let limits = ServerLimits()
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                ("PING\r\n", [.command(["PING"])]),
                ("PING\n\r\n  \nSEGMENT.COUNT \"a and b\"\r\n", [.command(["PING"]), .command(["SEGMENT.COUNT", "a and b"])]),
                ("*2\r\n$4\r\nPING\r\n$3\r\na b\r\n", [.command(["PING", "a b"])]),
                ("*0\r\n*-1\r\n*1\r\n$0\r\n\r\n", [.command([""])]),
                ("*1\r\n$4\r\nPING\r\nUSER.GET \"x\\x41\\n\"\r\n", [.command(["PING"]), .command(["USER.GET", "xA\n"])]),
                ("*2\r\n$4\r\nPING\r\n$2\r\n\u{E9}\r\n", [.command(["PING", "\u{E9}"])]),
            ],
            decoderFactory: { RequestDecoder(limits: limits) })
    }

    /// Found by `fuzz-resp`: a 36-byte header line was "invalid multibulk length" when it
    /// arrived whole and "too big multibulk count string" in pieces. An error must not
    /// depend on how the bytes arrive.
    @Test(arguments: [
        [UInt8](Array("*".utf8) + [0xFE, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0xC7, count: 30) + [0x0A]),
        [UInt8](Array("*1\r\n$".utf8) + [UInt8](repeating: 0x39, count: 40) + [0x0D, 0x0A]),
    ])
    func errorsDoNotDependOnHowTheBytesArrive(input: [UInt8]) {
        func firstError(chunk: Int) -> String? {
            var decoder = RequestDecoder(limits: ServerLimits())
            var buffer = ByteBuffer()
            for start in stride(from: 0, to: input.count, by: chunk) {
                buffer.writeBytes(input[start..<min(input.count, start + chunk)])
                do { while try decoder.next(&buffer) != nil {} } catch { return error.message }
            }
            return nil
        }
        let whole = firstError(chunk: input.count)
        #expect(whole != nil)
        for chunk in 1..<input.count { #expect(firstError(chunk: chunk) == whole, "chunks of \(chunk)") }
    }

    @Test func invalidUTF8IsACommandErrorNotAProtocolError() throws {
        var decoder = RequestDecoder(limits: ServerLimits())
        var buffer = ByteBuffer(bytes: Array("*2\r\n$4\r\nPING\r\n$2\r\n".utf8) + [0xFF, 0xFE] + Array("\r\nPING\r\n".utf8))
        #expect(try decoder.next(&buffer) == .invalid("argument 2 is not valid UTF-8"))
        #expect(try decoder.next(&buffer) == .command(["PING"]))
        #expect(buffer.readableBytes == 0)
    }

    @Test(arguments: [
        ("*99999999999999999999\r\n", "invalid multibulk length"), ("*1\r\n$-5\r\n", "invalid bulk length"),
        ("*1x\r\n", "invalid multibulk length"), ("*1\r\n$\r\n", "invalid bulk length"),
        ("*" + String(repeating: "1", count: 40), "too big multibulk count string"),
    ])
    func malformedHeadersAreProtocolErrors(input: String, message: String) {
        var decoder = RequestDecoder(limits: ServerLimits())
        var buffer = ByteBuffer(string: input)
        #expect(throws: ProtocolError(message: message)) { try decoder.next(&buffer) }
    }

    @Test func limitsAreCheckedOnTheHeaderBeforeTheBytesArrive() {
        var limits = ServerLimits()
        limits.bulkLength = 10
        limits.arrayLength = 3
        var decoder = RequestDecoder(limits: limits)
        var big = ByteBuffer(string: "*1\r\n$11\r\n")  // the 11 bytes never need to arrive
        #expect(throws: ProtocolError(message: "invalid bulk length")) { try decoder.next(&big) }
        decoder = RequestDecoder(limits: limits)
        var long = ByteBuffer(string: "*4\r\n")
        #expect(throws: ProtocolError(message: "invalid multibulk length")) { try decoder.next(&long) }
    }
}
