@testable import CohortCore
import CohortFuzzSupport

/// The journal reader on arbitrary files: replays good records, drops a torn tail, refuses
/// corruption; never a crash. Each record is replayed into an engine with the demo schema.
/// The generation expected is the one the input's header claims, so inputs are not all
/// stopped at the header.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJournal(_ input: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data = input else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let generation = size >= 16 ? UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) : 0
    let engine = Engine(database: FuzzSupport.schema, fixedNow: 1_782_864_000, clock: { 1_782_864_000 })
    FuzzSupport.withFile(bytes) { path in
        _ = try? JournalReader.read(path: path, generation: generation) { (words, time, _) throws(CohortError) in
            _ = engine.replay(words, at: time)
        }
    }
    return 0
}

runFuzzer { fuzzJournal($0, $1) }
