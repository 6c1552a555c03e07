import CohortCore
import CohortFuzzSupport

/// The CSV loader (DESIGN §7) on arbitrary files, as users and as events, into a database
/// with the demo schema: rows are loaded or rejected with a message, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ input: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data = input else { return 0 }
    let schema = FuzzSupport.schema
    FuzzSupport.withFile(UnsafeRawBufferPointer(start: data, count: size)) { path in
        var users = schema
        _ = try? BulkLoader.loadUsers(path: path, into: &users)
        var events = schema
        _ = try? BulkLoader.loadEvents(path: path, into: &events)
        _ = try? BulkLoader.loadEvents(path: path, into: &users)
    }
    return 0
}

runFuzzer { fuzzCSV($0, $1) }
