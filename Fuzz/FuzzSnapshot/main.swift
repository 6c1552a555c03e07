import CohortCore
import CohortFuzzSupport

/// The snapshot reader on arbitrary files: a snapshot loads whole or fails naming the
/// section, never a crash or a part-loaded database.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSnapshot(_ input: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data = input else { return 0 }
    FuzzSupport.withFile(UnsafeRawBufferPointer(start: data, count: size)) { path in
        if let (db, _) = try? SnapshotReader.read(path: path) {
            // What loaded must answer: count every segment.
            let engine = Engine(database: db, fixedNow: 1_782_864_000, clock: { 1_782_864_000 })
            for name in db.catalog.segments.keys { _ = engine.execute(["SEGMENT.COUNT", name]) }
        }
    }
    return 0
}

runFuzzer { fuzzSnapshot($0, $1) }
