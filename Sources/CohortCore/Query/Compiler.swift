/// Type-checks a parsed expression against a database's schema and definitions and
/// resolves its names to columns, producing an executable plan.
///
/// Name resolution: inside `where`, a name is first a property of the aggregated event
/// (shadowing an attribute), then an attribute, then a named aggregate; elsewhere an
/// attribute or a named aggregate. `segment(name)` compiles the named segment in place;
/// a reference chain that comes back to a segment (or aggregate) being compiled is a
/// cycle and an error. `now` is folded to the evaluation's time; `a != b` is compiled as
/// `not (a = b)` (DESIGN §3), so it is true when an operand is null.
struct Compiler {
    let db: Database
    let now: Int64
    private var segmentStack: [String] = []
    private var aggregateStack: [String] = []

    /// Where a name is being resolved: a user, or one event of a table (inside `where`).
    enum Scope {
        case user
        case event(EventDefinition)
    }

    init(db: Database, now: Int64) {
        self.db = db
        self.now = now
    }

    /// Compiles a segment expression (named segments already in `db` may be referenced).
    static func predicate(_ p: BoolExpression, db: Database, now: Int64, defining name: String? = nil) throws(CohortError) -> BoolPlan {
        var compiler = Compiler(db: db, now: now)
        if let name { compiler.segmentStack.append(name) }
        return try compiler.predicate(p, .user)
    }

    static func value(_ v: ValueExpression, db: Database, now: Int64, defining name: String? = nil) throws(CohortError) -> (ValuePlan, ValueType) {
        var compiler = Compiler(db: db, now: now)
        if let name { compiler.aggregateStack.append(name) }
        return try compiler.value(v, .user)
    }

    // MARK: Predicates

    mutating func predicate(_ p: BoolExpression, _ scope: Scope) throws(CohortError) -> BoolPlan {
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
            guard let attribute = db.schema.attribute(named: name) else { throw .err("unknown attribute '\(name)' at \(at)") }
            guard case .tags(let column) = db.attributes.slots[attribute.id] else {
                throw .err("type error at \(at): 'has' needs a tags attribute, '\(name)' is \(attribute.type.rawValue)")
            }
            return .index(.tag(column: column, tag: tag))
        case .segment(let name, let at):
            // Checked before the lookup: a new segment may name itself before it exists.
            if let start = segmentStack.firstIndex(of: name) {
                throw .err("segment cycle: \((segmentStack[start...] + [name]).joined(separator: " -> "))")
            }
            guard let definition = db.segments[name] else { throw .err("unknown segment '\(name)' at \(at)") }
            segmentStack.append(name)
            defer { segmentStack.removeLast() }
            return .segment(name: name, try predicate(definition.predicate, .user))
        case .truthy(let v):
            let (plan, type) = try value(v, scope)
            guard type == .bool else { throw .err("type error at \(v.position): expected a bool test, got \(type.rawValue)") }
            if case .boolColumn(let column) = plan { return .index(.boolColumn(column, value: true)) }
            return .truthy(plan)
        }
    }

    private mutating func compare(_ l: ValueExpression, _ op: Comparison, _ r: ValueExpression, at: Int, _ scope: Scope) throws(CohortError)
        -> BoolPlan
    {
        var (lp, lt) = try value(l, scope)
        var (rp, rt) = try value(r, scope)
        // A string literal compared with a time is read as ISO-8601.
        if lt == .time, rt == .string { (rp, rt) = (try timeLiteral(rp, at: r.position), .time) }
        if rt == .time, lt == .string { (lp, lt) = (try timeLiteral(lp, at: l.position), .time) }
        switch (lt, rt) {
        case _ where lt.isNumeric && rt.isNumeric, (.time, .time):
            return .compareNumbers(lp, op, rp)
        case (.string, .string):
            if case .event(let event) = scope {
                if case .eventString(let slot) = lp, case .string(let literal) = rp { return eventStringCodes(event, slot, Self.stringTest(op, literal)) }
                if case .eventString(let slot) = rp, case .string(let literal) = lp {
                    return eventStringCodes(event, slot, Self.stringTest(op.mirrored, literal))
                }
            }
            if case .stringColumn(let column) = lp, case .string(let literal) = rp { return .index(.stringColumn(column, test: Self.stringTest(op, literal))) }
            if case .stringColumn(let column) = rp, case .string(let literal) = lp {
                return .index(.stringColumn(column, test: Self.stringTest(op.mirrored, literal)))
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

    /// The dictionary codes of an event's string property that pass `test`.
    private func eventStringCodes(_ event: EventDefinition, _ slot: Int, _ test: (String) -> Bool) -> BoolPlan {
        let dictionary = db.events.tables[event.id].dictionaries[slot]
        return .eventStringCode(slot: slot, accepted: (0..<dictionary.count).map { test(dictionary.string(for: UInt32($0))) })
    }

    private static func stringTest(_ op: Comparison, _ literal: String) -> @Sendable (String) -> Bool {
        switch op {
        case .equal: { $0 == literal }
        case .notEqual: { $0 != literal }
        case .less: { $0 < literal }
        case .lessOrEqual: { $0 <= literal }
        case .greater: { $0 > literal }
        case .greaterOrEqual: { $0 >= literal }
        }
    }

    private func timeLiteral(_ plan: ValuePlan, at: Int) throws(CohortError) -> ValuePlan {
        guard case .string(let text) = plan else { throw .err("type error at \(at): cannot compare string with time") }
        guard let t = TimeFormat.parse(text) else { throw .err("type error at \(at): cannot read '\(text)' as a time (use ISO-8601 such as 2026-06-30)") }
        return .number(Double(t))
    }

    private mutating func inList(_ l: ValueExpression, _ literals: [Literal], at: Int, _ scope: Scope) throws(CohortError) -> BoolPlan {
        let (plan, type) = try value(l, scope)
        func mismatch(_ literal: Literal) -> CohortError {
            let name: String
            switch literal {
            case .number(_, let isInteger): name = isInteger ? "int" : "float"
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
            if case .stringColumn(let column) = plan { return .index(.stringColumn(column, test: { [set] in set.contains($0) })) }
            if case .event(let event) = scope, case .eventString(let slot) = plan { return eventStringCodes(event, slot, set.contains) }
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
        case _ where type.isNumeric:
            var values: [Double] = []
            for literal in literals {
                switch literal {
                case .number(let v, _): values.append(v)
                case .duration(let d): values.append(Double(d))
                default: throw mismatch(literal)
                }
            }
            return .numberIn(plan, values)
        default:
            throw .err("type error at \(at): 'in' cannot test a \(type.rawValue) value")
        }
    }

    private mutating func notNullPlan(_ v: ValueExpression, at: Int, _ scope: Scope) throws(CohortError) -> BoolPlan {
        if case .name(let name, _) = v, !isProperty(name, scope), let attribute = db.schema.attribute(named: name) {
            switch db.attributes.slots[attribute.id] {
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

    mutating func value(_ v: ValueExpression, _ scope: Scope) throws(CohortError) -> (ValuePlan, ValueType) {
        switch v {
        case .number(let x, let isInteger, _): return (.number(x), isInteger ? .int : .float)
        case .string(let s, _): return (.string(s), .string)
        case .duration(let d, _): return (.number(Double(d)), .duration)
        case .bool(let b, _): return (.number(b ? 1 : 0), .bool)
        case .now: return (.number(Double(now)), .time)
        case .name(let name, let at): return try resolve(name, at: at, scope)
        case .aggregate(let call):
            if case .event = scope { throw .err("type error at \(call.position): aggregates cannot be nested inside where") }
            return try aggregate(call)
        case .negate(let inner, let at):
            let (plan, type) = try value(inner, scope)
            guard type.isNumeric else { throw .err("type error at \(at): cannot negate a \(type.rawValue)") }
            if case .number(let x) = plan { return (.number(-x), type) }
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

    private mutating func resolve(_ name: String, at: Int, _ scope: Scope) throws(CohortError) -> (ValuePlan, ValueType) {
        if case .event(let event) = scope, let index = event.propertyIndex(name) {
            let table = db.events.tables[event.id]
            let type = event.properties[index].type
            switch table.properties.slots[index] {
            case .int(let s): return (.eventInt(s), type.valueType)
            case .float(let s): return (.eventFloat(s), type.valueType)
            case .bool(let s): return (.eventBool(s), type.valueType)
            case .string(let s): return (.eventString(s), type.valueType)
            }
        }
        if let attribute = db.schema.attribute(named: name) {
            switch db.attributes.slots[attribute.id] {
            case .int64(let c): return (.int64Column(c), attribute.type == .time ? .time : .int)
            case .double(let c): return (.doubleColumn(c), .float)
            case .bool(let c): return (.boolColumn(c), .bool)
            case .string(let c): return (.stringColumn(c), .string)
            case .tags: throw .err("type error at \(at): tags attribute '\(name)' can only be tested with has or is null")
            }
        }
        if let definition = db.aggregates[name] {
            if let start = aggregateStack.firstIndex(of: name) {
                throw .err("aggregate cycle: \((aggregateStack[start...] + [name]).joined(separator: " -> "))")
            }
            aggregateStack.append(name)
            defer { aggregateStack.removeLast() }
            return try value(definition.expression, .user)
        }
        throw .err("unknown attribute '\(name)' at \(at)")
    }

    private mutating func aggregate(_ call: AggregateCall) throws(CohortError) -> (ValuePlan, ValueType) {
        guard let event = db.schema.event(named: call.event) else { throw .err("unknown event '\(call.event)' at \(call.eventPosition)") }
        var slot: PropertyColumns.Slot?
        var propertyType: PropertyType?
        if let name = call.property {
            guard let index = event.propertyIndex(name) else {
                throw .err("unknown property '\(name)' of event '\(event.name)' at \(call.propertyPosition)")
            }
            slot = db.events.tables[event.id].properties.slots[index]
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
        return (.aggregate(AggregatePlan(function: call.function, table: event.id, property: slot, filter: filter, window: window)), result)
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
