/// The two representations numbers are evaluated in, each with its own null.
///
/// `Int64` (null: `NullSentinel.int`) carries every `int`-typed value: int attributes and
/// properties, integer literals, `count`/`distinct`, `sum`/`min`/`max`/`first`/`last` of an
/// int property, and `+ - *` of ints. So ints stay exact over the whole Int64 range
/// (DESIGN: `int` is Int64), where a Double would round above 2^53. Arithmetic that
/// overflows Int64 gives null, not a wrapped number.
///
/// `Double` (null: NaN) carries floats, times, durations, bools (1/0) and any arithmetic
/// that mixes in a float or divides; an int meeting a float is converted, as in SQL.
///
/// The evaluator and the aggregate definitions are generic over this protocol and
/// specialised for both types, so the choice costs nothing per value. The binder picks
/// `Int64` exactly where both sides of a comparison are `int` (`BoolPlan.compareInts`).
protocol EvaluationNumber: Comparable, Sendable {
    static var null: Self { get }
    var isNull: Bool { get }
    /// The identities of `max` and `min`.
    static var lowest: Self { get }
    static var highest: Self { get }
    /// An int as stored (the int sentinel is null).
    init(int: Int64)
    /// A double (NaN is null). For Int64, truncated toward zero and saturated, so that
    /// null-ness is kept (what `count(e.p)` of a float property needs); the binder never
    /// gives an int context a float-valued expression otherwise.
    init(double: Double)
    /// A stored bool (0, 1 or the bool sentinel).
    init(bool: UInt8)
    /// A stored string code (the code sentinel is null).
    init(code: UInt32)
    /// `x op y`; null when either is null, when dividing by zero, or on Int64 overflow.
    static func apply(_ op: ArithmeticOperator, _ x: Self, _ y: Self) -> Self
    var negated: Self { get }
    var asDouble: Double { get }
}

extension Double: EvaluationNumber {
    static var null: Double { .nan }
    var isNull: Bool { isNaN }
    static var lowest: Double { -.infinity }
    static var highest: Double { .infinity }
    @inline(__always) init(int: Int64) { self = int == NullSentinel.int ? .nan : Double(int) }
    @inline(__always) init(double: Double) { self = double }
    @inline(__always) init(bool: UInt8) { self = bool == NullSentinel.bool ? .nan : Double(bool) }
    @inline(__always) init(code: UInt32) { self = code == NullSentinel.stringCode ? .nan : Double(code) }
    @inline(__always)
    static func apply(_ op: ArithmeticOperator, _ x: Double, _ y: Double) -> Double {
        switch op {
        case .add: x + y
        case .subtract: x - y
        case .multiply: x * y
        case .divide: y == 0 ? .nan : x / y
        }
    }
    var negated: Double { -self }
    var asDouble: Double { self }
}

extension Int64: EvaluationNumber {
    static var null: Int64 { NullSentinel.int }
    var isNull: Bool { self == NullSentinel.int }
    static var lowest: Int64 { .min }
    static var highest: Int64 { .max }
    @inline(__always) init(int: Int64) { self = int }
    @inline(__always)
    init(double: Double) {
        if double.isNaN {
            self = NullSentinel.int
        } else if double >= 9.2e18 {
            self = .max
        } else if double <= -9.2e18 {
            self = .min + 1
        } else {
            self = Int64(double)
        }
    }
    @inline(__always) init(bool: UInt8) { self = bool == NullSentinel.bool ? NullSentinel.int : Int64(bool) }
    @inline(__always) init(code: UInt32) { self = code == NullSentinel.stringCode ? NullSentinel.int : Int64(code) }
    @inline(__always)
    static func apply(_ op: ArithmeticOperator, _ x: Int64, _ y: Int64) -> Int64 {
        if x == NullSentinel.int || y == NullSentinel.int { return NullSentinel.int }
        let (result, overflow): (Int64, Bool)
        switch op {
        case .add: (result, overflow) = x.addingReportingOverflow(y)
        case .subtract: (result, overflow) = x.subtractingReportingOverflow(y)
        case .multiply: (result, overflow) = x.multipliedReportingOverflow(by: y)
        // The binder types every `/` as float; a division reaching here is done as one.
        case .divide: return Int64(double: Double.apply(.divide, Double(x), Double(y)))
        }
        // An overflow, or a result landing on the sentinel, is null.
        return overflow ? NullSentinel.int : result
    }
    var negated: Int64 { self == NullSentinel.int ? self : -self }
    var asDouble: Double { Double(int: self) }
}
