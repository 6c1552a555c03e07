/// What `SEGMENT.WATCH` accepts (FEATURES §1.5.4): after inlining named segments and
/// aggregates, `now` occurs linearly, and a `from A to B` bound either has no `now` or is
/// `now + c` / `now - c` with `c` free of `now`.
///
/// One rule of Cohort's own, where FEATURES is silent: a `where` filter may not contain
/// `now` (the breakpoints of Appendix B.1 assume a filter that does not move with time;
/// a `last D` length is a literal by the grammar). Errors name the position in the text
/// of the definition where the construct is (a named part's own text).
enum TimeAnalysis {
    static func check(segment name: String, in catalog: Catalog) throws(CohortError) {
        guard let definition = catalog.segments[name] else { throw .err("unknown segment '\(name)'") }
        var visiting: Set<String> = []
        do throws(Refusal) {
            try check(definition.predicate, catalog, &visiting)
        } catch {
            throw .err("segment '\(name)' cannot be watched: \(error.message) (time-driven changes need now to appear linearly)")
        }
    }

    struct Refusal: Error {
        let message: String
    }

    private static func check(_ e: BoolExpression, _ catalog: Catalog, _ visiting: inout Set<String>, inFilter: Bool = false) throws(Refusal) {
        switch e {
        case .or(let terms), .and(let terms): for t in terms { try check(t, catalog, &visiting, inFilter: inFilter) }
        case .not(let inner, _): try check(inner, catalog, &visiting, inFilter: inFilter)
        case .compare(let l, _, let r, _):
            try check(l, catalog, &visiting, inFilter: inFilter)
            try check(r, catalog, &visiting, inFilter: inFilter)
        case .inList(let v, _, _), .isNull(let v, _, _), .truthy(let v): try check(v, catalog, &visiting, inFilter: inFilter)
        case .has: return
        case .segment(let name, _):
            guard let definition = catalog.segments[name], visiting.insert("s:" + name).inserted else { return }
            try check(definition.predicate, catalog, &visiting, inFilter: inFilter)
            visiting.remove("s:" + name)
        }
    }

    private static func check(_ e: ValueExpression, _ catalog: Catalog, _ visiting: inout Set<String>, inFilter: Bool) throws(Refusal) {
        switch e {
        case .integer, .number, .string, .duration, .bool: return
        case .now(let at):
            if inFilter { throw Refusal(message: "'now' inside a where filter at \(at)") }
        case .name(let name, _):
            // A named aggregate is inlined; attributes and properties hold no `now`.
            guard catalog.schema.attribute(named: name) == nil, let definition = catalog.aggregates[name],
                visiting.insert("a:" + name).inserted
            else { return }
            try check(definition.expression, catalog, &visiting, inFilter: inFilter)
            visiting.remove("a:" + name)
        case .aggregate(let call):
            if let filter = call.filter { try check(filter, catalog, &visiting, inFilter: true) }
            switch call.window {
            case nil: break
            case .last(let length): try check(length, catalog, &visiting, inFilter: inFilter)
            case .range(let lower, let upper):
                for bound in [lower, upper] {
                    try checkBound(bound, catalog, &visiting)
                    try check(bound, catalog, &visiting, inFilter: inFilter)
                }
            }
        case .binary(let op, let l, let r, let at):
            let (ln, rn) = (nowPosition(l, catalog) != nil, nowPosition(r, catalog) != nil)
            if op == .multiply, ln, rn { throw Refusal(message: "'now' is multiplied at \(at)") }
            if op == .divide, rn { throw Refusal(message: "'now' divides at \(at)") }
            if op == .multiply || op == .divide, ln || rn, inFilter { throw Refusal(message: "'now' inside a where filter at \(at)") }
            try check(l, catalog, &visiting, inFilter: inFilter)
            try check(r, catalog, &visiting, inFilter: inFilter)
        case .negate(let v, _): try check(v, catalog, &visiting, inFilter: inFilter)
        }
    }

    /// A window bound: no `now`, or `now + c`, `now - c`, `c + now` with `c` free of `now`.
    private static func checkBound(_ bound: ValueExpression, _ catalog: Catalog, _ visiting: inout Set<String>) throws(Refusal) {
        guard let at = nowPosition(bound, catalog) else { return }
        switch bound {
        case .now: return
        case .binary(.add, .now, let c, _), .binary(.add, let c, .now, _), .binary(.subtract, .now, let c, _):
            if nowPosition(c, catalog) == nil { return }
        default: break
        }
        throw Refusal(message: "a window bound with 'now' must be now + c or now - c, at \(at)")
    }

    /// The position of the first `now` in the value itself (named aggregates inlined,
    /// aggregate windows and filters excluded), or nil.
    private static func nowPosition(_ e: ValueExpression, _ catalog: Catalog, depth: Int = 0) -> Int? {
        guard depth < 64 else { return nil }
        switch e {
        case .now(let at): return at
        case .binary(_, let l, let r, _): return nowPosition(l, catalog, depth: depth + 1) ?? nowPosition(r, catalog, depth: depth + 1)
        case .negate(let v, _): return nowPosition(v, catalog, depth: depth + 1)
        case .name(let name, let at):
            guard catalog.schema.attribute(named: name) == nil, let definition = catalog.aggregates[name] else { return nil }
            return nowPosition(definition.expression, catalog, depth: depth + 1) == nil ? nil : at
        default: return nil
        }
    }
}
