import CohortCore
import CohortFuzzSupport

/// The parser against its own printer: whatever parses prints a canonical text that
/// parses again to a tree printing the same text (differential, DESIGN §3's grammar
/// from both sides). The re-parse allows four times the nesting, for the parentheses the
/// canonical text adds.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRoundTrip(_ input: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data = input else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    var roomy = Limits()
    roomy.nesting *= 4
    roomy.expressionLength *= 8
    if let predicate = try? Parser.predicate(text) {
        expectRoundTrip(text, predicate.canonicalText) { (canonical) throws(CohortError) in try Parser.predicate(canonical, limits: roomy).canonicalText }
    }
    if let value = try? Parser.value(text) {
        expectRoundTrip(text, value.canonicalText) { (canonical) throws(CohortError) in try Parser.value(canonical, limits: roomy).canonicalText }
    }
    return 0
}

/// The canonical text of what `text` parsed to must parse (`reprint`) and print the same.
func expectRoundTrip(_ text: String, _ canonical: String, _ reprint: (String) throws(CohortError) -> String) {
    do {
        let again = try reprint(canonical)
        if again != canonical { fatalError("round trip changed \(canonical.debugDescription) into \(again.debugDescription)") }
    } catch { fatalError("the canonical text \(canonical.debugDescription) of \(text.debugDescription) does not parse: \(error)") }
}

runFuzzer { fuzzRoundTrip($0, $1) }
