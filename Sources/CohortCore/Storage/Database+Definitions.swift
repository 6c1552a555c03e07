/// A named segment: its source text as defined and its syntax tree.
public struct SegmentDefinition: Equatable, Sendable {
    public let name: String
    public let source: String
    public let predicate: BoolExpression
}

/// A named aggregate ("computed trait"): source, syntax tree and static type.
public struct AggregateDefinition: Equatable, Sendable {
    public let name: String
    public let source: String
    public let expression: ValueExpression
    public let type: ValueType
}

extension Database {
    /// `SEGMENT.DEFINE`: parses and type-checks `source` (references included) and
    /// replaces any definition of `name`. A reference cycle is an error. Keeps the
    /// segment's last refreshed membership, so the next refresh reports the change.
    public mutating func defineSegment(_ name: String, source: String) throws(CohortError) {
        try Schema.checkName(name, what: "segment")
        let predicate = try Parser.predicate(source)
        _ = try Compiler.predicate(predicate, db: self, now: 0, defining: name)
        segments[name] = SegmentDefinition(name: name, source: source, predicate: predicate)
    }

    /// `SEGMENT.DROP`: false when unknown; an error while another definition uses it.
    public mutating func dropSegment(_ name: String) throws(CohortError) -> Bool {
        guard segments[name] != nil else { return false }
        for other in segments.values.sorted(by: { $0.name < $1.name }) where other.name != name && other.predicate.references(segment: name) {
            throw .err("segment '\(name)' is used by segment '\(other.name)'; drop or redefine that first")
        }
        for aggregate in aggregates.values.sorted(by: { $0.name < $1.name }) where aggregate.expression.references(segment: name) {
            throw .err("segment '\(name)' is used by aggregate '\(aggregate.name)'; redefine that first")
        }
        segments[name] = nil
        memberships[name] = nil
        return true
    }

    /// `AGG.DEFINE`: parses and type-checks `source`; replaces any definition of `name`.
    public mutating func defineAggregate(_ name: String, source: String) throws(CohortError) {
        try Schema.checkName(name, what: "aggregate")
        guard schema.attribute(named: name) == nil else {
            throw .err("'\(name)' is an attribute; an aggregate needs another name")
        }
        let expression = try Parser.value(source)
        let (_, type) = try Compiler.value(expression, db: self, now: 0, defining: name)
        guard type != .tags else { throw .err("an aggregate cannot be a tags value") }
        aggregates[name] = AggregateDefinition(name: name, source: source, expression: expression, type: type)
    }

    /// Stores the membership computed by `SEGMENT.REFRESH`.
    mutating func setMembership(_ name: String, _ members: Bitmap) { memberships[name] = members }
}

extension BoolExpression {
    /// True when the expression mentions `segment(name)` anywhere, `where` filters included.
    func references(segment name: String) -> Bool {
        switch self {
        case .or(let ps), .and(let ps): ps.contains { $0.references(segment: name) }
        case .not(let p, _): p.references(segment: name)
        case .compare(let l, _, let r, _): l.references(segment: name) || r.references(segment: name)
        case .inList(let v, _, _), .isNull(let v, _, _), .truthy(let v): v.references(segment: name)
        case .has: false
        case .segment(let s, _): s == name
        }
    }
}

extension ValueExpression {
    func references(segment name: String) -> Bool {
        switch self {
        case .aggregate(let call):
            if call.filter?.references(segment: name) == true { return true }
            switch call.window {
            case .last(let d): return d.references(segment: name)
            case .range(let a, let b): return a.references(segment: name) || b.references(segment: name)
            case nil: return false
            }
        case .binary(_, let l, let r, _): return l.references(segment: name) || r.references(segment: name)
        case .negate(let v, _): return v.references(segment: name)
        default: return false
        }
    }
}
