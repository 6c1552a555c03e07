/// The syntax tree of a segment (boolean) expression, as parsed (DESIGN §3).
///
/// Every node keeps the position (1-based character index) where it starts, so that
/// the type checker can name it in errors. Names are not resolved here.
public indirect enum BoolExpression: Equatable, Sendable {
    case or([BoolExpression])
    case and([BoolExpression])
    case not(BoolExpression, at: Int)
    case compare(ValueExpression, Comparison, ValueExpression, at: Int)
    case inList(ValueExpression, [Literal], at: Int)
    case isNull(ValueExpression, negated: Bool, at: Int)
    case has(name: String, tag: String, at: Int)
    case segment(String, at: Int)
    /// A value used as a test: a bool attribute or aggregate.
    case truthy(ValueExpression)
}

public enum Comparison: String, Equatable, Sendable {
    case equal = "=", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
}

/// A literal inside `in ( ... )`.
public enum Literal: Equatable, Sendable {
    case integer(Int64)
    case number(Double)
    case string(String)
    case duration(Int64)
    case bool(Bool)
}

/// A value-producing expression.
public indirect enum ValueExpression: Equatable, Sendable {
    case integer(Int64, at: Int)
    case number(Double, at: Int)
    case string(String, at: Int)
    case duration(Int64, at: Int)
    case bool(Bool, at: Int)
    case now(at: Int)
    /// An attribute, a named aggregate, or (inside `where`) an event property.
    case name(String, at: Int)
    case aggregate(AggregateCall)
    case binary(ArithmeticOperator, ValueExpression, ValueExpression, at: Int)
    case negate(ValueExpression, at: Int)

    public var position: Int {
        switch self {
        case .integer(_, let at), .number(_, let at), .string(_, let at), .duration(_, let at), .bool(_, let at), .now(let at), .name(_, let at),
            .binary(_, _, _, let at), .negate(_, let at):
            at
        case .aggregate(let call): call.position
        }
    }
}

public enum ArithmeticOperator: String, Equatable, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/"
}

/// `fn(event[.property] [where predicate] [, window])`.
public struct AggregateCall: Equatable, Sendable {
    public enum Function: String, CaseIterable, Sendable {
        case count, sum, avg, min, max, first, last, distinct, avg_gap
    }

    public enum Window: Equatable, Sendable {
        /// `last D`: `now - D <= t <= now`.
        case last(ValueExpression)
        /// `from A to B`: `A <= t < B` and `t <= now`.
        case range(ValueExpression, ValueExpression)
    }

    public let function: Function
    public let event: String
    public let property: String?
    public let filter: BoolExpression?
    public let window: Window?
    public let position: Int
    /// Positions of the event and property names, for error messages.
    public let eventPosition: Int
    public let propertyPosition: Int
}
