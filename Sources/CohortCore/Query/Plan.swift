/// The static type of a value expression.
public enum ValueType: String, Equatable, Sendable {
    case int, float, bool, string, time, duration, tags

    /// Numbers and durations (seconds) compare and combine with each other.
    var isNumeric: Bool { self == .int || self == .float || self == .duration }
}

/// A type-checked, name-resolved boolean expression.
///
/// Built by `Binder` against one catalog; it refers to columns by slot, so it is valid
/// for every database state with that catalog version, whatever data it holds. `now` is
/// symbolic, and the one data-dependent leaf (`eventString`, whose literal becomes
/// dictionary codes) is made concrete per evaluation by `instantiated(in:)`.
indirect enum BoolPlan: Sendable {
    case constant(Bool)
    case and([BoolPlan])
    case or([BoolPlan])
    case not(BoolPlan)
    /// Rows given by an index: evaluated by bitmap algebra.
    case index(IndexLeaf)
    /// Null-aware comparison of two numeric or time values, as Doubles (NaN is null).
    case compareNumbers(ValuePlan, Comparison, ValuePlan)
    /// Null-aware comparison of two `int` values, exactly, as Int64 (`EvaluationNumber`).
    case compareInts(ValuePlan, Comparison, ValuePlan)
    /// Comparison of two string values (null compares false).
    case compareStrings(ValuePlan, Comparison, ValuePlan)
    /// `x in (...)` over numbers (NaN never matches).
    case numberIn(ValuePlan, [Double])
    /// `x in (...)` over an `int` value and integer literals, exactly.
    case intIn(ValuePlan, Set<Int64>)
    case stringIn(ValuePlan, Set<String>)
    /// `x is null`; `isString` says which kind of value `x` produces.
    case isNull(ValuePlan, isString: Bool)
    /// A bool value used as a test.
    case truthy(ValuePlan)
    case segment(name: String, BoolPlan)
    /// A string property of the filtered event (table, slot) tested against literals, as
    /// bound. Equality and `in` become `eventStringCodes` at instantiation; an ordering
    /// compares the event's string.
    case eventString(table: Int, slot: Int, StringTest)
    /// Instantiated equality or `in`: the event's code is one of `codes` (the literals
    /// that are in the property's dictionary now; none may be).
    case eventStringCodes(slot: Int, codes: [UInt32])
}

/// A test of a string against literals.
enum StringTest: Sendable {
    /// `= s` or `in (s, ...)`.
    case oneOf(Set<String>)
    /// `<`, `<=`, `>`, `>=` against a literal (bytewise order).
    case ordered(Comparison, String)

    /// The test `x op literal`; `!=` never reaches here (it is bound as `not =`).
    init(_ op: Comparison, _ literal: String) {
        self = op == .equal || op == .notEqual ? .oneOf([literal]) : .ordered(op, literal)
    }

    @inline(__always)
    func holds(_ s: String) -> Bool {
        switch self {
        case .oneOf(let set): set.contains(s)
        case .ordered(let op, let literal): op.holds(s, literal)
        }
    }
}

/// A test answered by an attribute index without looking at rows one by one.
enum IndexLeaf: Sendable {
    /// Rows whose string attribute (column) passes the test: the postings of the
    /// literals' codes for `oneOf`, of every passing dictionary entry for `ordered`.
    case stringColumn(Int, StringTest)
    case boolColumn(Int, value: Bool)
    case tag(column: Int, tag: String)
    /// Rows where the attribute has a value (string, bool, tags columns).
    case stringNotNull(Int)
    case boolNotNull(Int)
    case tagsNotNull(Int)
}

/// A type-checked value expression.
indirect enum ValuePlan: Sendable {
    /// A float, duration, time or bool (1/0) literal; NaN is null.
    case number(Double)
    /// An integer literal, exact.
    case integer(Int64)
    /// The evaluation's "now" (a time).
    case now
    /// The bucket being evaluated by a `SERIES.*` command: its start and end (times).
    case bucketStart
    case bucketEnd
    /// The user's assignment time in the split a `SPLIT.REPORT` reads (a time).
    case assignedAt
    case string(String)
    case int64Column(Int)
    case doubleColumn(Int)
    case boolColumn(Int)
    case stringColumn(Int)
    case aggregate(AggregatePlan)
    case binary(ArithmeticOperator, ValuePlan, ValuePlan, resultType: ValueType)
    case negate(ValuePlan)
    /// A property of the event being filtered (inside `where`), by slot.
    case eventInt(Int)
    case eventFloat(Int)
    case eventBool(Int)
    case eventString(Int)
}

/// One aggregate over a user's events of one type.
struct AggregatePlan: Sendable {
    let function: AggregateCall.Function
    let table: Int
    /// The property's slot in the table's columns, when the call names one.
    let property: PropertyColumns.Slot?
    let filter: BoolPlan?
    let window: WindowPlan
    /// The aggregate's type as bound (`Binder`'s rule): `.int` means it is evaluated in
    /// Int64, exactly (`isInteger`).
    let type: ValueType

    var isInteger: Bool { type == .int }

    /// The string property's slot when the call is `first(e.p)`/`last(e.p)` of a string
    /// property (a string-valued aggregate, whose numeric form is the dictionary code).
    var stringSlot: Int? {
        guard function == .first || function == .last, case .string(let s)? = property else { return nil }
        return s
    }
}

/// Which events a window selects, relative to the evaluation's now (DESIGN §3).
enum WindowPlan: Sendable {
    /// No window: every event with `t <= now`.
    case all
    /// `now - D <= t <= now`.
    case last(ValuePlan)
    /// `A <= t < B` and `t <= now`.
    case range(ValuePlan, ValuePlan)
}
