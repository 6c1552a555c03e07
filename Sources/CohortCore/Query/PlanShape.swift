/// The size of the plan an expression binds to, with every named definition it uses
/// counted in full at each use (a bound plan holds its definitions' plans inline):
/// `depth` is the tree's height, `nodes` the nodes a walk of it visits.
///
/// Why: the parser bounds one text, but definitions compose. A chain of segments each
/// naming the previous one nests as deep as the chain, and a segment naming another
/// twice doubles what instantiation and per-row evaluation walk, so thirty definitions
/// could ask for 2^30 steps. Catalogs keep each definition's shape, so the shape of a
/// new text costs a walk of its own tree only.
struct PlanShape: Equatable, Sendable {
    var depth: Int
    var nodes: Int

    static let leaf = PlanShape(depth: 1, nodes: 1)

    /// A node over `children`: one deeper than the deepest, and all of their nodes.
    static func node(_ children: [PlanShape]) -> PlanShape {
        // Saturating: a sum of shapes that are each within limits cannot overflow, but
        // one unchecked shape must not trap.
        var result = PlanShape(depth: 1, nodes: 1)
        for child in children {
            result.depth = max(result.depth, child.depth + 1)
            result.nodes = result.nodes &+ child.nodes
            if result.nodes < 0 { result.nodes = .max }
        }
        return result
    }

    /// Throws when the shape is past what `limits` allow; `what` names the text
    /// ("segment 'x'", "the expression").
    func check(_ limits: Limits, _ what: String) throws(CohortError) {
        // The parser's levels count constructs, the plan's every node (an `and` under a
        // comparison under a `not`...): a text at the parser's limit stays within four times it.
        let maxDepth = limits.nesting.multipliedReportingOverflow(by: 4)
        if !maxDepth.overflow, depth > maxDepth.partialValue {
            throw .err("\(what) nests deeper than \(maxDepth.partialValue) plan levels with the definitions it uses (--max-nesting is \(limits.nesting))")
        }
        guard nodes <= limits.planNodes else {
            throw .err("\(what) expands to \(nodes) plan nodes with the definitions it uses; the limit is \(limits.planNodes) (--max-plan-nodes)")
        }
    }
}

/// A name an expression uses whose definition's plan is inlined where it is used.
enum DefinitionReference {
    case segment(String)
    case aggregate(String)
}

extension BoolExpression {
    /// The shape of this predicate's plan; `shapeOf` gives a named definition's shape
    /// (nil: not a definition, as an attribute).
    func shape(_ shapeOf: (DefinitionReference) -> PlanShape?) -> PlanShape {
        switch self {
        case .or(let terms), .and(let terms): .node(terms.map { $0.shape(shapeOf) })
        case .not(let inner, _): .node([inner.shape(shapeOf)])
        case .compare(let l, _, let r, _): .node([l.shape(shapeOf), r.shape(shapeOf)])
        case .inList(let v, let literals, _): .node([v.shape(shapeOf), PlanShape(depth: 1, nodes: literals.count)])
        case .isNull(let v, _, _), .truthy(let v): .node([v.shape(shapeOf)])
        case .has: .leaf
        case .segment(let name, _): .node([shapeOf(.segment(name)) ?? .leaf])
        }
    }
}

extension ValueExpression {
    /// The shape of this value's plan (see `BoolExpression.shape`).
    func shape(_ shapeOf: (DefinitionReference) -> PlanShape?) -> PlanShape {
        switch self {
        case .integer, .number, .string, .duration, .bool, .now: return .leaf
        case .name(let name, _): return shapeOf(.aggregate(name)) ?? .leaf
        case .binary(_, let l, let r, _): return .node([l.shape(shapeOf), r.shape(shapeOf)])
        case .negate(let v, _): return .node([v.shape(shapeOf)])
        case .aggregate(let call):
            var parts: [PlanShape] = []
            if let filter = call.filter { parts.append(filter.shape(shapeOf)) }
            switch call.window {
            case .last(let d): parts.append(d.shape(shapeOf))
            case .range(let a, let b): parts += [a.shape(shapeOf), b.shape(shapeOf)]
            case nil: break
            }
            return .node(parts)
        }
    }
}
