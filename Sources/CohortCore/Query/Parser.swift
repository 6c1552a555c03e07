/// Recursive-descent parser for the expression language of DESIGN §3.
///
/// Grammar (precedence from loose to tight): `or`, `and`, `not`, tests, `+ -`, `* /`,
/// unary minus. Errors are `syntax error at N: expected X` with N the 1-based
/// character position of the offending token.
///
/// Bounded (`Limits`): the text's length is checked before it is read, and every
/// construct that nests (a parenthesis, `not`, unary minus, a `where` filter, each
/// further operator of an arithmetic chain, whose tree deepens by one per operator)
/// enters one level; past `limits.nesting` levels the parse stops with `expression
/// nested deeper than N levels at P`, so its recursion, and that of everything that
/// walks the tree it builds, stays shallow. Cost: linear in the tokens. The one
/// ambiguity, a `(` that opens either a predicate or a value, is tried as a predicate
/// first; each value parsed is remembered by (position, level), so a retry never
/// parses the same text twice and nested retries stay linear.
public struct Parser {
    private let tokens: [Token]
    private var index = 0
    private let maxDepth: Int
    private var depth = 0
    /// Values parsed, by (token index, depth): the value and the index after it, or the error.
    private var values: [Memo: Result<(ValueExpression, Int), CohortError>] = [:]

    private struct Memo: Hashable {
        let index: Int
        let depth: Int
    }

    /// Parses a boolean (segment) expression.
    public static func predicate(_ source: String, limits: Limits = Limits()) throws(CohortError) -> BoolExpression {
        var parser = try Parser(source, limits: limits)
        let result = try parser.parseOr()
        try parser.expectEnd()
        return result
    }

    /// Parses a value (aggregate) expression.
    public static func value(_ source: String, limits: Limits = Limits()) throws(CohortError) -> ValueExpression {
        var parser = try Parser(source, limits: limits)
        let result = try parser.parseValue()
        try parser.expectEnd()
        return result
    }

    private init(_ source: String, limits: Limits) throws(CohortError) {
        let length = source.utf8.count
        guard length <= limits.expressionLength else {
            throw .err("expression is \(length) bytes long; the limit is \(limits.expressionLength) (--max-expression-length)")
        }
        tokens = try Lexer.tokenize(source)
        maxDepth = limits.nesting
    }

    // MARK: Token helpers

    private var current: Token { tokens[index] }

    private func isSymbol(_ s: String) -> Bool { current.kind == .symbol(s) }
    private func isKeyword(_ s: String) -> Bool { current.kind == .keyword(s) }

    private mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    private func error(_ expected: String) -> CohortError {
        .err("syntax error at \(current.position): expected \(expected)")
    }

    private mutating func expectSymbol(_ s: String) throws(CohortError) {
        guard isSymbol(s) else { throw error("'\(s)'") }
        _ = advance()
    }

    private mutating func expectEnd() throws(CohortError) {
        guard current.kind == .end else { throw error("end of expression") }
    }

    /// Enters one nesting level at the current token; the caller leaves it (`depth -= 1`).
    private mutating func enter() throws(CohortError) {
        depth += 1
        guard depth <= maxDepth else { throw .err("expression nested deeper than \(maxDepth) levels at \(current.position)") }
    }

    private mutating func identifier(_ what: String) throws(CohortError) -> (String, Int) {
        guard case .identifier(let name) = current.kind else { throw error(what) }
        let position = current.position
        _ = advance()
        return (name, position)
    }

    // MARK: Predicates

    mutating func parseOr() throws(CohortError) -> BoolExpression {
        var terms = [try parseAnd()]
        while isKeyword("or") {
            _ = advance()
            terms.append(try parseAnd())
        }
        return terms.count == 1 ? terms[0] : .or(terms)
    }

    mutating func parseAnd() throws(CohortError) -> BoolExpression {
        var terms = [try parseUnary()]
        while isKeyword("and") {
            _ = advance()
            terms.append(try parseUnary())
        }
        return terms.count == 1 ? terms[0] : .and(terms)
    }

    mutating func parseUnary() throws(CohortError) -> BoolExpression {
        if isKeyword("not") {
            try enter()
            defer { depth -= 1 }
            let position = advance().position
            return .not(try parseUnary(), at: position)
        }
        if isSymbol("(") {
            // `(` opens either a parenthesised predicate or a parenthesised value that a
            // comparison follows; try the predicate first and fall back.
            let (savedIndex, savedDepth) = (index, depth)
            try enter()
            _ = advance()
            if let inner = try? parseOr(), isSymbol(")") {
                _ = advance()
                depth -= 1
                if !isComparisonAhead { return inner }
            }
            (index, depth) = (savedIndex, savedDepth)
        }
        return try parseTest()
    }

    private var isComparisonAhead: Bool {
        if case .symbol(let s) = current.kind { return Comparison(rawValue: s) != nil || "+-*/".contains(s) }
        return isKeyword("in") || isKeyword("is")
    }

    mutating func parseTest() throws(CohortError) -> BoolExpression {
        // segment(name)
        if case .identifier("segment") = current.kind, tokens[index + 1].kind == .symbol("(") {
            let position = advance().position
            _ = advance()
            let (name, _) = try identifier("a segment name")
            try expectSymbol(")")
            return .segment(name, at: position)
        }
        // name has "tag"
        if case .identifier(let name) = current.kind, tokens[index + 1].kind == .keyword("has") {
            let position = advance().position
            _ = advance()
            guard case .string(let tag) = current.kind else { throw error("a string after 'has'") }
            _ = advance()
            return .has(name: name, tag: tag, at: position)
        }
        let left = try parseValue()
        // Tests are positioned at their operator: that is where a type error is reported.
        let start = current.position
        if case .symbol(let s) = current.kind, let comparison = Comparison(rawValue: s) {
            _ = advance()
            let right = try parseValue()
            return .compare(left, comparison, right, at: start)
        }
        if isKeyword("in") {
            _ = advance()
            try expectSymbol("(")
            var literals = [try parseLiteral()]
            while isSymbol(",") {
                _ = advance()
                literals.append(try parseLiteral())
            }
            try expectSymbol(")")
            return .inList(left, literals, at: start)
        }
        if isKeyword("is") {
            _ = advance()
            var negated = false
            if isKeyword("not") {
                _ = advance()
                negated = true
            }
            guard isKeyword("null") else { throw error("'null'") }
            _ = advance()
            return .isNull(left, negated: negated, at: start)
        }
        return .truthy(left)
    }

    mutating func parseLiteral() throws(CohortError) -> Literal {
        var negative = false
        if isSymbol("-") {
            _ = advance()
            negative = true
        }
        switch current.kind {
        case .integer(let v):
            _ = advance()
            return .integer(negative ? -v : v)
        case .number(let v):
            _ = advance()
            return .number(negative ? -v : v)
        case .duration(let d):
            _ = advance()
            return .duration(negative ? -d : d)
        case .string(let s) where !negative:
            _ = advance()
            return .string(s)
        case .keyword("true") where !negative:
            _ = advance()
            return .bool(true)
        case .keyword("false") where !negative:
            _ = advance()
            return .bool(false)
        default:
            throw error("a literal (number, string, duration, true or false)")
        }
    }

    // MARK: Values

    mutating func parseValue() throws(CohortError) -> ValueExpression {
        let key = Memo(index: index, depth: depth)
        if let known = values[key] {
            let (value, end) = try known.get()
            index = end
            return value
        }
        do throws(CohortError) {
            let value = try parseChain(of: ["+", "-"]) { (parser) throws(CohortError) in try parser.parseTerm() }
            values[key] = .success((value, index))
            return value
        } catch {
            values[key] = .failure(error)
            throw error
        }
    }

    mutating func parseTerm() throws(CohortError) -> ValueExpression {
        try parseChain(of: ["*", "/"]) { (parser) throws(CohortError) in try parser.parseFactor() }
    }

    /// `operand (op operand)*`, left-associative: each further operator is one level deeper.
    private mutating func parseChain(
        of operators: Set<String>, _ operand: (inout Parser) throws(CohortError) -> ValueExpression
    ) throws(CohortError) -> ValueExpression {
        let start = depth
        defer { depth = start }
        var left = try operand(&self)
        while case .symbol(let s) = current.kind, operators.contains(s) {
            try enter()
            let position = advance().position
            left = .binary(ArithmeticOperator(rawValue: s)!, left, try operand(&self), at: position)
        }
        return left
    }

    mutating func parseFactor() throws(CohortError) -> ValueExpression {
        let token = current
        switch token.kind {
        case .integer(let v):
            _ = advance()
            return .integer(v, at: token.position)
        case .number(let v):
            _ = advance()
            return .number(v, at: token.position)
        case .duration(let d):
            _ = advance()
            return .duration(d, at: token.position)
        case .string(let s):
            _ = advance()
            return .string(s, at: token.position)
        case .keyword("now"):
            _ = advance()
            return .now(at: token.position)
        case .keyword("last") where tokens[index + 1].kind == .symbol("("):
            // `last` is a keyword (windows) and also the aggregate function `last(e)`.
            _ = advance()
            return .aggregate(try parseAggregate(.last, at: token.position))
        case .keyword("true"), .keyword("false"):
            _ = advance()
            return .bool(token.kind == .keyword("true"), at: token.position)
        case .symbol("-"):
            try enter()
            defer { depth -= 1 }
            _ = advance()
            return .negate(try parseFactor(), at: token.position)
        case .symbol("("):
            try enter()
            defer { depth -= 1 }
            _ = advance()
            let inner = try parseValue()
            try expectSymbol(")")
            return inner
        case .identifier(let name):
            _ = advance()
            if isSymbol("("), let function = AggregateCall.Function(rawValue: name) {
                return .aggregate(try parseAggregate(function, at: token.position))
            }
            if isSymbol("(") { throw .err("syntax error at \(token.position): unknown function '\(name)' (use \(AggregateCall.Function.allCases.map(\.rawValue).joined(separator: ", ")))") }
            return .name(name, at: token.position)
        default:
            throw error("a value")
        }
    }

    mutating func parseAggregate(_ function: AggregateCall.Function, at position: Int) throws(CohortError) -> AggregateCall {
        try expectSymbol("(")
        let (event, eventPosition) = try identifier("an event name")
        var property: String?
        var propertyPosition = eventPosition
        if isSymbol(".") {
            _ = advance()
            let (name, at) = try identifier("a property name")
            property = name
            propertyPosition = at
        }
        var filter: BoolExpression?
        if isKeyword("where") {
            try enter()
            defer { depth -= 1 }
            _ = advance()
            filter = try parseOr()
        }
        var window: AggregateCall.Window?
        if isSymbol(",") {
            _ = advance()
            if isKeyword("last") {
                _ = advance()
                // The grammar's `"last" duration`: a bare number has no unit to read.
                guard case .duration(let seconds) = current.kind else {
                    throw error("a duration after 'last' (a number with s, m, h, d or w, as in 30d)")
                }
                window = .last(.duration(seconds, at: advance().position))
            } else if isKeyword("from") {
                _ = advance()
                let from = try parseValue()
                guard isKeyword("to") else { throw error("'to'") }
                _ = advance()
                window = .range(from, try parseValue())
            } else {
                throw error("a window ('last D' or 'from A to B')")
            }
        }
        try expectSymbol(")")
        return AggregateCall(
            function: function, event: event, property: property, filter: filter, window: window, position: position,
            eventPosition: eventPosition, propertyPosition: propertyPosition)
    }
}
