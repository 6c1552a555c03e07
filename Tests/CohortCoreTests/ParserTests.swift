import CohortCore
import Testing

struct ParserTests {
    /// Every example of DESIGN §3 parses.
    @Test(arguments: [
        #"plan = "free" and signup_at >= now - 14d"#,
        #"country in ("PL", "DE") and not tags has "blocked""#,
        "count(ride, last 30d) >= 5",
        "sum(ride.cost, last 90d) > 250 and last(ride) >= now - 14d",
        #"count(ride where distance_km > 10 and car = "i3_premium", last 30d) >= 2"#,
        "not count(app_open, last 14d) >= 1",
        "subscription_ends_at >= now and subscription_ends_at < now + 7d",
        "avg_gap(purchase, last 365d) < 30d",
        "segment(premium_eligible) and last(nps.score) >= 9",
        "count(ride, from now - 60d to now - 30d) > 0 or verified",
        "(a + b) * 2 > 3 and (x or y)",
        "score is not null and -score < -1.5 and plan in (\"a\", -3, 2d, true)",
    ])
    func parsesDesignExamples(source: String) throws {
        _ = try Parser.predicate(source)
    }

    @Test func precedenceAndStructure() throws {
        let p = try Parser.predicate("a or b and not c")
        guard case .or(let terms) = p, terms.count == 2, case .and(let right) = terms[1], right.count == 2, case .not = right[1] else {
            Issue.record("unexpected tree \(p)")
            return
        }
        let v = try Parser.value("1 + 2 * 3 - 4")
        let product: ValueExpression = .binary(.multiply, .integer(2, at: 5), .integer(3, at: 9), at: 7)
        let sum: ValueExpression = .binary(.add, .integer(1, at: 1), product, at: 3)
        #expect(v == .binary(.subtract, sum, .integer(4, at: 13), at: 11))
        let c = try Parser.value("count(ride where cost > 1, last 30d)")
        guard case .aggregate(let call) = c else {
            Issue.record("not an aggregate")
            return
        }
        #expect(call.function == .count && call.event == "ride" && call.property == nil && call.filter != nil)
        #expect(call.window == .last(.duration(30 * 86_400, at: 33)))
    }

    @Test(arguments: [
        ("count(ride, last 30d >= 5", "syntax error at 22: expected ')'"),
        ("plan = ", "syntax error at 8: expected a value"),
        ("plan = \"free", "syntax error at 8: unterminated string"),
        ("a $ b", "syntax error at 3: unexpected character '$'"),
        ("count(ride, 30d) > 1", "syntax error at 13: expected a window ('last D' or 'from A to B')"),
        ("x is nul", "syntax error at 6: expected 'null'"),
        ("a in ()", "syntax error at 7: expected a literal (number, string, duration, true or false)"),
        ("a = 1 b", "syntax error at 7: expected end of expression"),
        ("sumx(ride) > 1", "syntax error at 1: unknown function 'sumx' (use count, sum, avg, min, max, first, last, distinct, avg_gap)"),
        ("x > 9q", "syntax error at 5: unexpected 'q' after number (a duration unit is one of s, m, h, d, w)"),
        ("count(ride, last 30) > 0", "syntax error at 18: expected a duration after 'last' (a number with s, m, h, d or w, as in 30d)"),
        ("count(ride, last now) > 0", "syntax error at 18: expected a duration after 'last' (a number with s, m, h, d or w, as in 30d)"),
    ])
    func syntaxErrorsNameThePosition(source: String, message: String) {
        #expect(throws: CohortError.err(message)) { try Parser.predicate(source) }
    }

    /// The crash of issue 11: 100,000 nested parentheses overflowed the parser's stack.
    /// Every construct that nests counts; the first token past the limit is named.
    @Test(arguments: [
        ("parentheses", 257), ("not", 1_025), ("minus", 261), ("chain", 1_031), ("where", 3_593),
    ])
    func nestingPastTheLimitIsRefusedWithItsPosition(shape: String, position: Int) {
        let source =
            switch shape {
            case "parentheses": String(repeating: "(", count: 100_000) + "a" + String(repeating: ")", count: 100_000)
            case "not": String(repeating: "not ", count: 300) + "a"
            case "minus": "a > " + String(repeating: "-", count: 300) + "1"
            case "chain": "a > 1" + String(repeating: " + 1", count: 300)
            default: String(repeating: "count(e where ", count: 300) + "a"
            }
        #expect(throws: CohortError.err("expression nested deeper than 256 levels at \(position)")) { try Parser.predicate(source) }
    }

    @Test func nestingUpToTheLimitParses() throws {
        let deep = String(repeating: "(", count: 256) + "a" + String(repeating: ")", count: 256)
        #expect(try Parser.predicate(deep) == .truthy(.name("a", at: 257)))
        var limits = Limits()
        limits.nesting = 8
        #expect(throws: CohortError.err("expression nested deeper than 8 levels at 9")) { try Parser.predicate(deep, limits: limits) }
        let chain = "1" + String(repeating: " + 1", count: 255)
        #expect(try Parser.value(chain).position == 1_019)
    }

    @Test func lengthPastTheLimitIsRefusedBeforeReading() {
        var limits = Limits()
        limits.expressionLength = 10
        #expect(throws: CohortError.err("expression is 11 bytes long; the limit is 10 (--max-expression-length)")) {
            try Parser.predicate("a and b and", limits: limits)
        }
        #expect(throws: Never.self) { try Parser.predicate("a and b", limits: limits) }
    }

    /// A `(` is tried as a predicate and, when a comparison follows, read again as a
    /// value: nested retries must not multiply (each value is parsed once per level).
    /// 200 levels of parenthesised arithmetic, each retried, parse to the right tree.
    @Test func nestedRetriesParseEachValueOnce() throws {
        var source = "x"
        for _ in 0..<120 { source = "(\(source) + 1)" }
        let p = try Parser.predicate(source + " > 0 and " + source + " < 1000")
        guard case .and(let terms) = p, terms.count == 2, case .compare(let v, .greater, _, _) = terms[0] else {
            Issue.record("unexpected tree")
            return
        }
        var depth = 0
        var node = v
        while case .binary(.add, let left, .integer(1, _), _) = node {
            depth += 1
            node = left
        }
        #expect(depth == 120 && node == .name("x", at: 121))
    }

    /// The canonical text parses back to a tree that prints the same (what the
    /// `fuzz-roundtrip` target checks on arbitrary input), and numbers stay exact.
    @Test(arguments: [
        #"plan = "free" and signup_at >= now - 14d"#,
        #"country in ("PL", -2.5, -3d, true) and not tags has "bl\"o\\cked""#,
        #"count(ride where distance_km > 10 and car = "i3", last 30d) >= 2 or last(ride) < first(ride)"#,
        "count(ride, from now - 60d to now - 30d) > 0.000001 or -(-x) * 1.5 / 3 = 2",
        "segment(a) and x is not null and (y is null or (z))",
    ])
    func canonicalTextRoundTrips(source: String) throws {
        let text = try Parser.predicate(source).canonicalText
        #expect(try Parser.predicate(text).canonicalText == text, "\(text)")
    }

    @Test(arguments: [
        ("0.0000001", "0.0000001"), ("150000000000000000000.0", "150000000000000000000.0"), ("2.50", "2.5"), ("1234.56789", "1234.56789"),
        ("0.1", "0.1"),
    ])
    func numbersPrintInPlainDecimal(source: String, text: String) throws {
        #expect(try Parser.value(source).canonicalText == text)
    }
}
