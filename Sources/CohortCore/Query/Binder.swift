/// Binds a parsed expression to a catalog: type-checks it and resolves its names to
/// column slots and to the bound plans of named definitions, once, at DEFINE time (or
/// once per ad-hoc target text, cached by `PlanCache`).
///
/// A bound plan depends on the schema and the definitions only, never on data: `now`
/// stays symbolic (`ValuePlan.now`), string literals stay strings (dictionary codes are
/// looked up per evaluation by `BoolPlan.instantiated(in:)`), and index leaves read the
/// index when evaluated. So no data write invalidates it.
///
/// Name resolution: inside `where`, a name is first a property of the aggregated event
/// (shadowing an attribute), then an attribute, then a named aggregate; elsewhere an
/// attribute or a named aggregate. `segment(name)` takes the named segment's bound plan;
/// cycles are found by `DefinitionBinding`. `a != b` is bound as `not (a = b)`
/// (DESIGN §3), so it is true when an operand is null.
struct Binder {
    /// The schema and where its columns live (attribute and property slots).
    let layout: Database
    let definitions: any DefinitionResolver
    var schema: Schema { layout.schema }
    /// Time-valued names a command adds to its expressions; attributes, properties and
    /// named aggregates of those names shadow them.
    struct ExtraNames: OptionSet, Sendable {
        let rawValue: Int
        /// `bucket_start`, `bucket_end`: the bucket a `SERIES.*` command evaluates.
        static let bucket = ExtraNames(rawValue: 1)
        /// `assigned_at`: the user's assignment time in `SPLIT.REPORT ... CONVERT EXPR`.
        static let assignedAt = ExtraNames(rawValue: 2)
    }
    var names: ExtraNames = []

    /// Where a name is being resolved: a user, or one event of a table (inside `where`).
    enum Scope {
        case user
        case event(EventDefinition)
    }

    init(layout: Database, definitions: any DefinitionResolver) {
        self.layout = layout
        self.definitions = definitions
    }

    /// A binder over `db`'s own catalog (its stored definitions).
    init(_ db: Database) {
        self.init(layout: db, definitions: StoredDefinitions(catalog: db.catalog))
    }

    func predicate(_ p: BoolExpression) throws(CohortError) -> BoolPlan { try predicate(p, .user) }
    func value(_ v: ValueExpression) throws(CohortError) -> (ValuePlan, ValueType) { try value(v, .user) }

    // MARK: Predicates

    func predicate(_ p: BoolExpression, _ scope: Scope) throws(CohortError) -> BoolPlan {
        switch p {
        case .or(let terms):
            var plans: [BoolPlan] = []
            for t in terms { plans.append(try predicate(t, scope)) }
            return .or(plans)
        case .and(let terms):
            var plans: [BoolPlan] = []
            for t in terms { plans.append(try predicate(t, scope)) }
            return .and(plans)
        case .not(let inner, _):
            return .not(try predicate(inner, scope))
        case .compare(let l, let op, let r, let at):
            if op == .notEqual { return .not(try compare(l, .equal, r, at: at, scope)) }
            return try compare(l, op, r, at: at, scope)
        case .inList(let l, let literals, let at):
            return try inList(l, literals, at: at, scope)
        case .isNull(let v, let negated, let at):
            let notNull = try notNullPlan(v, at: at, scope)
            return negated ? notNull : .not(notNull)
        case .has(let name, let tag, let at):
            if case .event(let event) = scope, event.propertyIndex(name) != nil {
                throw .err("type error at \(at): '\(name)' is a property of '\(event.name)', not a tags attribute")
            }
            guard let attribute = schema.attribute(named: name) else { throw .err("unknown attribute '\(name)' at \(at)") }
            guard case .tags(let column) = layout.attributes.slots[attribute.id] else {
                throw .err("type error at \(at): 'has' needs a tags attribute, '\(name)' is \(attribute.type.rawValue)")
            }
            return .index(.tag(column: column, tag: tag))
        case .segment(let name, let at):
            return try definitions.segment(name, at: at)
        case .truthy(let v):
            let (plan, type) = try value(v, scope)
            guard type == .bool else { throw .err("type error at \(v.position): expected a bool test, got \(type.rawValue)") }
            if case .boolColumn(let column) = plan { return .index(.boolColumn(column, value: true)) }
            return .truthy(plan)
        }
    }

    private func compare(_ l: ValueExpression, _ op: Comparison, _ r: ValueExpression, at: Int, _ scope: Scope) throws(CohortError)
        -> BoolPlan
    {
        var (lp, lt) = try value(l, scope)
        var (rp, rt) = try value(r, scope)
        // A string literal compared with a time is read as ISO-8601.
        if lt == .time, rt == .string { (rp, rt) = (try timeLiteral(rp, at: r.position), .time) }
        if rt == .time, lt == .string { (lp, lt) = (try timeLiteral(lp, at: l.position), .time) }
        switch (lt, rt) {
        case (.int, .int):
            return .compareInts(lp, op, rp)
        case _ where lt.isNumeric && rt.isNumeric, (.time, .time):
            return .compareNumbers(lp, op, rp)
        case (.string, .string):
            if case .event(let event) = scope {
                if case .eventString(let slot) = lp, case .string(let literal) = rp { return .eventString(table: event.id, slot: slot, StringTest(op, literal)) }
                if case .eventString(let slot) = rp, case .string(let literal) = lp {
                    return .eventString(table: event.id, slot: slot, StringTest(op.mirrored, literal))
                }
            }
            if case .stringColumn(let column) = lp, case .string(let literal) = rp { return .index(.stringColumn(column, StringTest(op, literal))) }
            if case .stringColumn(let column) = rp, case .string(let literal) = lp {
                return .index(.stringColumn(column, StringTest(op.mirrored, literal)))
            }
            return .compareStrings(lp, op, rp)
        case (.bool, .bool) where op == .equal:
            if case .boolColumn(let column) = lp, case .number(let v) = rp { return .index(.boolColumn(column, value: v == 1)) }
            if case .boolColumn(let column) = rp, case .number(let v) = lp { return .index(.boolColumn(column, value: v == 1)) }
            return .compareNumbers(lp, op, rp)
        case (.bool, .bool):
            throw .err("type error at \(at): cannot order bool values with \(op.rawValue)")
        default:
            throw .err("type error at \(at): cannot compare \(lt.rawValue) with \(rt.rawValue)")
        }
    }

    private func timeLiteral(_ plan: ValuePlan, at: Int) throws(CohortError) -> ValuePlan {
        guard case .string(let text) = plan else { throw .err("type error at \(at): cannot compare string with time") }
        guard let t = TimeFormat.parse(text) else { throw .err("type error at \(at): cannot read '\(text)' as a time (use ISO-8601 such as 2026-06-30)") }
        return .number(Double(t))
    }

    private func inList(_ l: ValueExpression, _ literals: [Literal], at: Int, _ scope: Scope) throws(CohortError) -> BoolPlan {
        let (plan, type) = try value(l, scope)
        func mismatch(_ literal: Literal) -> CohortError {
            let name: String
            switch literal {
            case .integer: name = "int"
            case .number: name = "float"
            case .string: name = "string"
            case .duration: name = "duration"
            case .bool: name = "bool"
            }
            return .err("type error at \(at): cannot compare \(type.rawValue) with \(name)")
        }
        switch type {
        case .string:
            var set = Set<String>()
            for literal in literals {
                guard case .string(let s) = literal else { throw mismatch(literal) }
                set.insert(s)
            }
            if case .stringColumn(let column) = plan { return .index(.stringColumn(column, .oneOf(set))) }
            if case .event(let event) = scope, case .eventString(let slot) = plan { return .eventString(table: event.id, slot: slot, .oneOf(set)) }
            return .stringIn(plan, set)
        case .time:
            var values: [Double] = []
            for literal in literals {
                guard case .string(let s) = literal, let t = TimeFormat.parse(s) else {
                    if case .string(let s) = literal { throw .err("type error at \(at): cannot read '\(s)' as a time (use ISO-8601 such as 2026-06-30)") }
                    throw mismatch(literal)
                }
                values.append(Double(t))
            }
            return .numberIn(plan, values)
        case .bool:
            var values: [Double] = []
            for literal in literals {
                guard case .bool(let b) = literal else { throw mismatch(literal) }
                values.append(b ? 1 : 0)
            }
            return .numberIn(plan, values)
        case .int where literals.allSatisfy({ if case .integer = $0 { true } else { false } }):
            var values = Set<Int64>()
            for case .integer(let v) in literals { values.insert(v) }
            return .intIn(plan, values)
        case _ where type.isNumeric:
            var values: [Double] = []
            for literal in literals {
                switch literal {
                case .integer(let v): values.append(Double(v))
                case .number(let v): values.append(v)
                case .duration(let d): values.append(Double(d))
                default: throw mismatch(literal)
                }
            }
            return .numberIn(plan, values)
        default:
            throw .err("type error at \(at): 'in' cannot test a \(type.rawValue) value")
        }
    }

    private func notNullPlan(_ v: ValueExpression, at: Int, _ scope: Scope) throws(CohortError) -> BoolPlan {
        if case .name(let name, _) = v, !isProperty(name, scope), let attribute = schema.attribute(named: name) {
            switch layout.attributes.slots[attribute.id] {
            case .tags(let c): return .index(.tagsNotNull(c))
            case .string(let c): return .index(.stringNotNull(c))
            case .bool(let c): return .index(.boolNotNull(c))
            default: break
            }
        }
        let (plan, type) = try value(v, scope)
        return .not(.isNull(plan, isString: type == .string))
    }

    private func isProperty(_ name: String, _ scope: Scope) -> Bool {
        if case .event(let event) = scope { return event.propertyIndex(name) != nil }
        return false
    }

    // MARK: Values

    func value(_ v: ValueExpression, _ scope: Scope) throws(CohortError) -> (ValuePlan, ValueType) {
        switch v {
        case .integer(let x, _): return (.integer(x), .int)
        case .number(let x, _): return (.number(x), .float)
        case .string(let s, _): return (.string(s), .string)
        case .duration(let d, _): return (.number(Double(d)), .duration)
        case .bool(let b, _): return (.number(b ? 1 : 0), .bool)
        case .now: return (.now, .time)
        case .name(let name, let at): return try resolve(name, at: at, scope)
        case .aggregate(let call):
            if case .event = scope { throw .err("type error at \(call.position): aggregates cannot be nested inside where") }
            return try aggregate(call)
        case .negate(let inner, let at):
            let (plan, type) = try value(inner, scope)
            guard type.isNumeric else { throw .err("type error at \(at): cannot negate a \(type.rawValue)") }
            if case .number(let x) = plan { return (.number(-x), type) }
            if case .integer(let x) = plan { return (.integer(-x), type) }
            return (.negate(plan), type)
        case .binary(let op, let l, let r, let at):
            let (lp, lt) = try value(l, scope)
            let (rp, rt) = try value(r, scope)
            guard let type = Self.arithmeticType(op, lt, rt) else {
                throw .err("type error at \(at): cannot compute \(lt.rawValue) \(op.rawValue) \(rt.rawValue)")
            }
            return (.binary(op, lp, rp, resultType: type), type)
        }
    }

    /// DESIGN §3: `time - time` is a duration, `time ± duration` a time, `/` always
    /// floating-point; numbers and durations mix (a duration is seconds).
    static func arithmeticType(_ op: ArithmeticOperator, _ l: ValueType, _ r: ValueType) -> ValueType? {
        switch (op, l, r) {
        case (.subtract, .time, .time): return .duration
        case (.add, .time, _) where r.isNumeric, (.subtract, .time, _) where r.isNumeric: return .time
        case (.add, _, .time) where l.isNumeric: return .time
        case (.divide, _, _) where l.isNumeric && r.isNumeric: return .float
        case (_, _, _) where l.isNumeric && r.isNumeric:
            if l == .duration || r == .duration { return .duration }
            return l == .int && r == .int ? .int : .float
        default: return nil
        }
    }

    private func resolve(_ name: String, at: Int, _ scope: Scope) throws(CohortError) -> (ValuePlan, ValueType) {
        if case .event(let event) = scope, let index = event.propertyIndex(name) {
            let table = layout.events.tables[event.id]
            let type = event.properties[index].type
            switch table.properties.slots[index] {
            case .int(let s): return (.eventInt(s), type.valueType)
            case .float(let s): return (.eventFloat(s), type.valueType)
            case .bool(let s): return (.eventBool(s), type.valueType)
            case .string(let s): return (.eventString(s), type.valueType)
            }
        }
        if let attribute = schema.attribute(named: name) {
            switch layout.attributes.slots[attribute.id] {
            case .int64(let c): return (.int64Column(c), attribute.type == .time ? .time : .int)
            case .double(let c): return (.doubleColumn(c), .float)
            case .bool(let c): return (.boolColumn(c), .bool)
            case .string(let c): return (.stringColumn(c), .string)
            case .tags: throw .err("type error at \(at): tags attribute '\(name)' can only be tested with has or is null")
            }
        }
        if let bound = try definitions.aggregate(name) { return bound }
        if names.contains(.bucket), name == "bucket_start" { return (.bucketStart, .time) }
        if names.contains(.bucket), name == "bucket_end" { return (.bucketEnd, .time) }
        if names.contains(.assignedAt), name == "assigned_at" { return (.assignedAt, .time) }
        throw .err("unknown attribute '\(name)' at \(at)")
    }

    private func aggregate(_ call: AggregateCall) throws(CohortError) -> (ValuePlan, ValueType) {
        guard let event = schema.event(named: call.event) else { throw .err("unknown event '\(call.event)' at \(call.eventPosition)") }
        var slot: PropertyColumns.Slot?
        var propertyType: PropertyType?
        if let name = call.property {
            guard let index = event.propertyIndex(name) else {
                throw .err("unknown property '\(name)' of event '\(event.name)' at \(call.propertyPosition)")
            }
            slot = layout.events.tables[event.id].properties.slots[index]
            propertyType = event.properties[index].type
        }
        let fn = call.function.rawValue
        let result: ValueType
        switch call.function {
        case .count:
            result = .int
        case .sum, .avg, .min, .max:
            guard let propertyType else { throw .err("type error at \(call.position): \(fn) needs a property, as in \(fn)(\(event.name).amount)") }
            guard propertyType == .int || propertyType == .float else {
                throw .err("type error at \(call.position): cannot take \(fn) of \(propertyType.rawValue) property '\(call.property!)'")
            }
            result = call.function == .avg ? .float : propertyType.valueType
        case .first, .last:
            result = propertyType?.valueType ?? .time
        case .distinct:
            guard propertyType != nil else { throw .err("type error at \(call.position): distinct needs a property, as in distinct(\(event.name).car)") }
            result = .int
        case .avg_gap:
            guard propertyType == nil else { throw .err("type error at \(call.position): avg_gap takes an event, not a property") }
            result = .duration
        }
        var filter: BoolPlan?
        if let f = call.filter { filter = try predicate(f, .event(event)) }
        let window: WindowPlan
        switch call.window {
        case nil:
            window = .all
        case .last(let d):
            let (plan, type) = try value(d, .user)
            guard type.isNumeric else { throw .err("type error at \(d.position): a 'last' window needs a duration, got \(type.rawValue)") }
            window = .last(plan)
        case .range(let a, let b):
            var bounds: [ValuePlan] = []
            for bound in [a, b] {
                var (plan, type) = try value(bound, .user)
                if type == .string { (plan, type) = (try timeLiteral(plan, at: bound.position), .time) }
                guard type == .time else { throw .err("type error at \(bound.position): a 'from ... to' window needs times, got \(type.rawValue)") }
                bounds.append(plan)
            }
            window = .range(bounds[0], bounds[1])
        }
        return (.aggregate(AggregatePlan(function: call.function, table: event.id, property: slot, filter: filter, window: window, type: result)), result)
    }
}

extension PropertyType {
    var valueType: ValueType {
        switch self {
        case .int: .int
        case .float: .float
        case .bool: .bool
        case .string: .string
        }
    }
}

extension Comparison {
    /// The comparison with its operands swapped (`a < b` is `b > a`).
    var mirrored: Comparison {
        switch self {
        case .less: .greater
        case .lessOrEqual: .greaterOrEqual
        case .greater: .less
        case .greaterOrEqual: .lessOrEqual
        case .equal, .notEqual: self
        }
    }
}
