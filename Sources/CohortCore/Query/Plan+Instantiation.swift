/// Instantiation: a bound plan made concrete for one evaluation against one database
/// state, without changing the bound plan (which stays cached and shared).
///
/// Only `eventString` equality and `in` leaves depend on data: their literals become the
/// dictionary codes they have now, by hash lookup (a literal not in the dictionary yet
/// matches no event, and matches once a write adds it: the next evaluation looks again).
/// `now` is read by the evaluator itself. Cost: O(plan nodes) to walk, and only the
/// paths that lead to such leaves are rebuilt; a plan without them is returned as is.
extension BoolPlan {
    func instantiated(in db: Database) -> BoolPlan { instantiate(db) ?? self }

    /// The instantiated plan, or nil when the plan does not depend on data (then it is
    /// its own instantiation, for every database).
    func instantiatedIfNeeded(in db: Database) -> BoolPlan? { instantiate(db) }

    /// The instantiated plan, or nil when nothing in it depends on data.
    fileprivate func instantiate(_ db: Database) -> BoolPlan? {
        switch self {
        case .constant, .index, .eventStringCodes: return nil
        case .and(let terms): return Self.instantiate(terms, db).map(BoolPlan.and)
        case .or(let terms): return Self.instantiate(terms, db).map(BoolPlan.or)
        case .not(let inner): return inner.instantiate(db).map(BoolPlan.not)
        case .segment(let name, let inner): return inner.instantiate(db).map { .segment(name: name, $0) }
        case .compareNumbers(let l, let op, let r):
            let (a, b) = (l.instantiate(db), r.instantiate(db))
            return a == nil && b == nil ? nil : .compareNumbers(a ?? l, op, b ?? r)
        case .compareInts(let l, let op, let r):
            let (a, b) = (l.instantiate(db), r.instantiate(db))
            return a == nil && b == nil ? nil : .compareInts(a ?? l, op, b ?? r)
        case .compareStrings(let l, let op, let r):
            let (a, b) = (l.instantiate(db), r.instantiate(db))
            return a == nil && b == nil ? nil : .compareStrings(a ?? l, op, b ?? r)
        case .numberIn(let v, let values): return v.instantiate(db).map { .numberIn($0, values) }
        case .intIn(let v, let values): return v.instantiate(db).map { .intIn($0, values) }
        case .stringIn(let v, let values): return v.instantiate(db).map { .stringIn($0, values) }
        case .isNull(let v, let isString): return v.instantiate(db).map { .isNull($0, isString: isString) }
        case .truthy(let v): return v.instantiate(db).map(BoolPlan.truthy)
        case .eventString(let table, let slot, let test):
            guard case .oneOf(let literals) = test else { return nil }
            let dictionary = db.events.tables[table].dictionaries[slot]
            return .eventStringCodes(slot: slot, codes: literals.compactMap { dictionary.code(of: $0) }.sorted())
        }
    }

    private static func instantiate(_ terms: [BoolPlan], _ db: Database) -> [BoolPlan]? {
        var result: [BoolPlan]?
        for (i, term) in terms.enumerated() {
            guard let concrete = term.instantiate(db) else { continue }
            if result == nil { result = terms }
            result![i] = concrete
        }
        return result
    }
}

extension ValuePlan {
    func instantiated(in db: Database) -> ValuePlan { instantiate(db) ?? self }

    fileprivate func instantiate(_ db: Database) -> ValuePlan? {
        switch self {
        case .aggregate(let a):
            guard let concrete = a.filter?.instantiate(db) else { return nil }
            return .aggregate(AggregatePlan(function: a.function, table: a.table, property: a.property, filter: concrete, window: a.window, type: a.type))
        case .binary(let op, let l, let r, let type):
            let (a, b) = (l.instantiate(db), r.instantiate(db))
            return a == nil && b == nil ? nil : .binary(op, a ?? l, b ?? r, resultType: type)
        case .negate(let v): return v.instantiate(db).map(ValuePlan.negate)
        default: return nil
        }
    }
}
