import CohortCore
import CohortFuzzSupport

/// The expression language end to end (parser, binder, plan, both evaluators) on a fixed
/// population: any text is answered or refused, never a crash; and when a text counts,
/// the set-at-a-time count equals the per-user SEGMENT.CHECKs (two evaluators, one answer).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExpression(_ input: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data = input else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let (engine, users) = FuzzSupport.population
    if case .integer(let count) = engine.execute(["SEGMENT.COUNT", text]) {
        var members = 0
        for user in users {
            switch engine.execute(["SEGMENT.CHECK", text, user]) {
            case .integer(1): members += 1
            case .integer(0): break
            case let other: fatalError("SEGMENT.CHECK answered \(other) where SEGMENT.COUNT answered \(count) for \(text.debugDescription)")
            }
        }
        if members != count { fatalError("SEGMENT.COUNT \(count) != \(members) SEGMENT.CHECKs for \(text.debugDescription)") }
        _ = engine.execute(["SEGMENT.MEMBERS", text, "COUNT", "7"])
    }
    _ = engine.execute(["AGG.GET", users[0], text])
    _ = engine.execute(["AGG.STATS", text])
    return 0
}

runFuzzer { fuzzExpression($0, $1) }
