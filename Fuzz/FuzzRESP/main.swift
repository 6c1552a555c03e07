@testable import CohortServer
import CohortFuzzSupport
import NIOCore

/// The request decoder (RESP and inline, DESIGN §4) on arbitrary bytes, fed whole and
/// split at every position the input's first byte picks: never a crash, and the same
/// requests (or the same protocol error) however the bytes arrive.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ input: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data = input else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var limits = ServerLimits()
    (limits.inlineLine, limits.bulkLength, limits.arrayLength) = (1_024, 4_096, 64)
    let whole = decode(bytes, chunk: max(1, size), limits)
    let chunk = size == 0 ? 1 : Int(bytes[0] % 17) + 1
    let split = decode(bytes, chunk: chunk, limits)
    if whole != split { fatalError("decoded differently in chunks of \(chunk): \(whole) vs \(split)") }
    return 0
}

/// The requests decoded from `bytes` arriving `chunk` bytes at a time, then the error if one stopped it.
private func decode(_ bytes: UnsafeRawBufferPointer, chunk: Int, _ limits: ServerLimits) -> ([Request], String?) {
    var decoder = RequestDecoder(limits: limits)
    var buffer = ByteBuffer()
    var requests: [Request] = []
    var offset = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + chunk)
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
        offset = end
        do {
            while let request = try decoder.next(&buffer) { requests.append(request) }
        } catch {
            return (requests, error.message)
        }
    }
    return (requests, nil)
}

runFuzzer { fuzzRESP($0, $1) }
