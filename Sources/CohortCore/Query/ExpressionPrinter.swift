/// Canonical text of a syntax tree: every operand parenthesised, numbers in plain decimal
/// notation, strings with `\"` and `\\` escaped, so that parsing the text gives back the
/// same tree (positions aside) and printing that tree gives the same text. The fuzz
/// target `fuzz-roundtrip` checks exactly that against the parser. Cost: linear in the tree.
extension BoolExpression {
    public var canonicalText: String {
        switch self {
        case .or(let terms): terms.map { "(\($0.canonicalText))" }.joined(separator: " or ")
        case .and(let terms): terms.map { "(\($0.canonicalText))" }.joined(separator: " and ")
        case .not(let inner, _): "not (\(inner.canonicalText))"
        case .compare(let l, let op, let r, _): "(\(l.canonicalText)) \(op.rawValue) (\(r.canonicalText))"
        case .inList(let v, let literals, _): "(\(v.canonicalText)) in (\(literals.map(\.canonicalText).joined(separator: ", ")))"
        case .isNull(let v, let negated, _): "(\(v.canonicalText)) is \(negated ? "not " : "")null"
        case .has(let name, let tag, _): "\(name) has \(ExpressionText.string(tag))"
        case .segment(let name, _): "segment(\(name))"
        case .truthy(let v): v.canonicalText
        }
    }
}

extension ValueExpression {
    public var canonicalText: String {
        switch self {
        case .integer(let v, _): String(v)
        case .number(let v, _): ExpressionText.number(v)
        case .string(let s, _): ExpressionText.string(s)
        case .duration(let d, _): "\(d)s"
        case .bool(let b, _): b ? "true" : "false"
        case .now: "now"
        case .name(let name, _): name
        case .aggregate(let call): call.canonicalText
        case .binary(let op, let l, let r, _): "(\(l.canonicalText)) \(op.rawValue) (\(r.canonicalText))"
        case .negate(let v, _): "-(\(v.canonicalText))"
        }
    }
}

extension AggregateCall {
    public var canonicalText: String {
        var text = "\(function.rawValue)(\(event)" + (property.map { ".\($0)" } ?? "")
        if let filter { text += " where (\(filter.canonicalText))" }
        switch window {
        case .last(let d): text += ", last \(d.canonicalText)"
        case .range(let a, let b): text += ", from (\(a.canonicalText)) to (\(b.canonicalText))"
        case nil: break
        }
        return text + ")"
    }
}

extension Literal {
    public var canonicalText: String {
        switch self {
        case .integer(let v): String(v)
        case .number(let v): v < 0 ? "-" + ExpressionText.number(-v) : ExpressionText.number(v)
        case .string(let s): ExpressionText.string(s)
        case .duration(let d): d < 0 ? "-\(-d)s" : "\(d)s"
        case .bool(let b): b ? "true" : "false"
        }
    }
}

/// The literal forms the lexer reads back exactly.
enum ExpressionText {
    static func string(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// A finite, non-negative double as `digits.digits` (the lexer has no exponent form):
    /// Swift's shortest round-tripping digits, with the exponent moved into the point.
    static func number(_ v: Double) -> String {
        let text = v.description
        guard let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return text.contains(".") ? text : text + ".0" }
        let mantissa = text[..<e]
        let exponent = Int(text[text.index(after: e)...])!
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let whole = String(parts[0])
        let digits = whole + (parts.count > 1 ? String(parts[1]) : "")
        let point = whole.count + exponent  // digits before the decimal point
        if point <= 0 { return "0." + String(repeating: "0", count: -point) + digits }
        if point >= digits.count { return digits + String(repeating: "0", count: point - digits.count) + ".0" }
        let i = digits.index(digits.startIndex, offsetBy: point)
        return String(digits[..<i]) + "." + String(digits[i...])
    }
}
