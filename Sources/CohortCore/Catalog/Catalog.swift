/// The definitions of one Cohort instance: the schema, named segments and named
/// aggregates, each definition held with its source, its syntax tree and its bound plan.
///
/// Invariants: every stored plan was bound against the current schema and the current
/// plans of the definitions it names (a change rebinds every definition, dependency
/// first, and is refused whole if one of them no longer binds); there is no reference
/// cycle; `version` changes with every change and only then. Versions come from one
/// process-wide counter, so two catalogs with the same version are the same catalog (a
/// copy), which is what lets a plan cache key plans by version alone.
///
/// Only DEFINE/DROP commands (and snapshot restore) change a catalog; data writes
/// never do, so plans bound here survive them. Cost of a change: O(size of all
/// definitions), done once per DEFINE.
public struct Catalog: Sendable {
    public internal(set) var schema = Schema()
    public private(set) var segments: [String: SegmentDefinition] = [:]
    public private(set) var aggregates: [String: AggregateDefinition] = [:]
    public private(set) var version = Catalog.nextVersion()

    public init() {}

    private static let counter = VersionCounter()
    static func nextVersion() -> UInt64 { counter.next() }

    /// Marks a schema change (the caller changed `schema`) and rebinds every definition
    /// against it: a new property can shadow an attribute inside `where`.
    mutating func schemaChanged(layout: Database) throws(CohortError) {
        try rebind(layout: layout, first: nil)
    }

    /// `SEGMENT.DEFINE`: parses and binds `source`, replacing any definition of `name`.
    /// A new name binds only itself (no other definition can name it yet); a replaced one
    /// rebinds everything, since others may use it.
    mutating func defineSegment(_ name: String, source: String, layout: Database, limits: Limits = Limits()) throws(CohortError) {
        try Schema.checkName(name, what: "segment")
        let isNew = segments[name] == nil
        if isNew { try Limits.check(segments.count + 1, limits.segments, "segments", option: "--max-segments") }
        let predicate = try Parser.predicate(source, limits: limits)
        var next = self
        next.segments[name] = SegmentDefinition(name: name, source: source, predicate: predicate, plan: .constant(false))
        try next.rebind(layout: layout, first: name, limits: limits, onlyFirst: isNew)
        self = next
    }

    /// `AGG.DEFINE`: parses and binds `source`, replacing any definition of `name`.
    mutating func defineAggregate(_ name: String, source: String, layout: Database, limits: Limits = Limits()) throws(CohortError) {
        try Schema.checkName(name, what: "aggregate")
        guard schema.attribute(named: name) == nil else { throw .err("'\(name)' is an attribute; an aggregate needs another name") }
        let isNew = aggregates[name] == nil
        if isNew { try Limits.check(aggregates.count + 1, limits.aggregates, "aggregates", option: "--max-aggregates") }
        let expression = try Parser.value(source, limits: limits)
        var next = self
        next.aggregates[name] = AggregateDefinition(name: name, source: source, expression: expression, type: .int, plan: .number(0))
        try next.rebind(layout: layout, first: name, limits: limits, onlyFirst: isNew)
        guard next.aggregates[name]!.type != .tags else { throw .err("an aggregate cannot be a tags value") }
        self = next
    }

    /// The shape of the plan `predicate` binds to here (`PlanShape`): its own tree plus
    /// the stored shape of each definition it names, at each use.
    func shape(of predicate: BoolExpression) -> PlanShape { predicate.shape(storedShape) }

    /// The shape of the plan `value` binds to here.
    func shape(of value: ValueExpression) -> PlanShape { value.shape(storedShape) }

    private func storedShape(_ reference: DefinitionReference) -> PlanShape? {
        switch reference {
        case .segment(let name): segments[name]?.shape
        case .aggregate(let name): aggregates[name]?.shape
        }
    }

    /// `SEGMENT.DROP`: false when unknown; an error while another definition uses it.
    mutating func dropSegment(_ name: String) throws(CohortError) -> Bool {
        guard segments[name] != nil else { return false }
        for other in segments.values.sorted(by: { $0.name < $1.name }) where other.name != name && other.predicate.references(segment: name) {
            throw .err("segment '\(name)' is used by segment '\(other.name)'; drop or redefine that first")
        }
        for aggregate in aggregates.values.sorted(by: { $0.name < $1.name }) where aggregate.expression.references(segment: name) {
            throw .err("segment '\(name)' is used by aggregate '\(aggregate.name)'; redefine that first")
        }
        segments[name] = nil
        version = Self.nextVersion()
        return true
    }

    /// Installs definitions read from a snapshot and binds them.
    /// Definitions were accepted once, so counts are not checked again; nesting is (it
    /// bounds the stack), with `limits`.
    mutating func restore(
        segments: [(String, String)], aggregates: [(String, String)], layout: Database, limits: Limits = Limits()
    ) throws(CohortError) {
        var next = self
        for (name, source) in segments {
            do {
                next.segments[name] = SegmentDefinition(
                    name: name, source: source, predicate: try Parser.predicate(source, limits: limits), plan: .constant(false))
            } catch { throw .err("segment '\(name)': \(error.message)") }
        }
        for (name, source) in aggregates {
            do {
                next.aggregates[name] = AggregateDefinition(
                    name: name, source: source, expression: try Parser.value(source, limits: limits), type: .int, plan: .number(0))
            } catch { throw .err("aggregate '\(name)': \(error.message)") }
        }
        try next.rebind(layout: layout, first: nil, limits: limits)
        self = next
    }

    /// Binds every definition again, `first` (the one being defined) before the others
    /// so that a cycle is reported from it; all or nothing. `onlyFirst`: `first` is a new
    /// name, which nothing else can use, so the others keep their plans and only it is
    /// bound (O(its size), not O(all definitions)).
    private mutating func rebind(layout: Database, first: String?, limits: Limits = Limits(), onlyFirst: Bool = false) throws(CohortError) {
        let binding = DefinitionBinding(layout: layout, catalog: self, limits: limits, reusingAllBut: onlyFirst ? first : nil)
        if let first {
            if segments[first] != nil { _ = try binding.segment(first, at: 1) } else { _ = try binding.aggregate(first) }
        }
        if !onlyFirst {
            // A definition that no longer binds is named: it is not the one the user typed.
            for name in segments.keys.sorted() {
                do { _ = try binding.segment(name, at: 1) } catch { throw .err("segment '\(name)' would break: \(error.message)") }
            }
            for name in aggregates.keys.sorted() {
                do { _ = try binding.aggregate(name) } catch { throw .err("aggregate '\(name)' would break: \(error.message)") }
            }
        }
        for (name, (plan, shape)) in binding.boundSegments {
            segments[name]!.plan = plan
            segments[name]!.shape = shape
        }
        for (name, (plan, type, shape)) in binding.boundAggregates {
            aggregates[name]!.plan = plan
            aggregates[name]!.type = type
            aggregates[name]!.shape = shape
        }
        version = Self.nextVersion()
    }
}

/// A named segment: its source text as defined, its syntax tree and its bound plan.
/// Equal when name and source are (the rest follows from them and the catalog).
public struct SegmentDefinition: Equatable, Sendable {
    public let name: String
    public let source: String
    public let predicate: BoolExpression
    var plan: BoolPlan
    /// The plan's shape, the definitions it uses included (set when bound).
    var shape = PlanShape.leaf

    public static func == (a: Self, b: Self) -> Bool { a.name == b.name && a.source == b.source }
}

/// A named aggregate ("computed trait"): source, syntax tree, static type and bound plan.
public struct AggregateDefinition: Equatable, Sendable {
    public let name: String
    public let source: String
    public let expression: ValueExpression
    public internal(set) var type: ValueType
    var plan: ValuePlan
    /// The plan's shape, the definitions it uses included (set when bound).
    var shape = PlanShape.leaf

    public static func == (a: Self, b: Self) -> Bool { a.name == b.name && a.source == b.source && a.type == b.type }
}

/// How the binder finds the plans of named definitions.
protocol DefinitionResolver {
    /// The bound plan of segment `name`; an error when unknown or cyclic.
    func segment(_ name: String, at position: Int) throws(CohortError) -> BoolPlan
    /// The bound plan and type of aggregate `name`; nil when there is none.
    func aggregate(_ name: String) throws(CohortError) -> (ValuePlan, ValueType)?
}

/// The plans a catalog holds: what an evaluation's binder resolves names with.
struct StoredDefinitions: DefinitionResolver {
    let catalog: Catalog

    func segment(_ name: String, at position: Int) throws(CohortError) -> BoolPlan {
        guard let definition = catalog.segments[name] else { throw .err("unknown segment '\(name)' at \(position)") }
        return .segment(name: name, definition.plan)
    }

    func aggregate(_ name: String) throws(CohortError) -> (ValuePlan, ValueType)? {
        catalog.aggregates[name].map { ($0.plan, $0.type) }
    }
}

/// Binds a catalog's definitions from their syntax trees, each once, dependencies first
/// (depth-first from whichever is asked for); a name met again while it is being bound
/// closes a cycle. Each bound plan's shape is checked against `limits`. With
/// `reusingAllBut`, every other definition keeps its stored plan and shape. `layout`
/// has the catalog's schema. Used only by `Catalog.rebind`, on one thread.
final class DefinitionBinding: DefinitionResolver {
    let layout: Database
    let catalog: Catalog
    let limits: Limits
    let reused: String?
    private(set) var boundSegments: [String: (BoolPlan, PlanShape)] = [:]
    private(set) var boundAggregates: [String: (ValuePlan, ValueType, PlanShape)] = [:]
    private var inProgress: [String] = []

    init(layout: Database, catalog: Catalog, limits: Limits, reusingAllBut reused: String?) {
        self.layout = layout
        self.catalog = catalog
        self.limits = limits
        self.reused = reused
    }

    func segment(_ name: String, at position: Int) throws(CohortError) -> BoolPlan {
        if let start = inProgress.firstIndex(of: name) {
            throw .err("segment cycle: \((inProgress[start...] + [name]).joined(separator: " -> "))")
        }
        if let (plan, _) = boundSegments[name] { return .segment(name: name, plan) }
        guard let definition = catalog.segments[name] else { throw .err("unknown segment '\(name)' at \(position)") }
        if let reused, reused != name { return .segment(name: name, definition.plan) }
        inProgress.append(name)
        defer { inProgress.removeLast() }
        let plan = try Binder(layout: layout, definitions: self).predicate(definition.predicate)
        let shape = definition.predicate.shape(shapeOfDefinition)
        try shape.check(limits, "segment '\(name)'")
        boundSegments[name] = (plan, shape)
        return .segment(name: name, plan)
    }

    func aggregate(_ name: String) throws(CohortError) -> (ValuePlan, ValueType)? {
        if let start = inProgress.firstIndex(of: name) {
            throw .err("aggregate cycle: \((inProgress[start...] + [name]).joined(separator: " -> "))")
        }
        if let (plan, type, _) = boundAggregates[name] { return (plan, type) }
        guard let definition = catalog.aggregates[name] else { return nil }
        if let reused, reused != name { return (definition.plan, definition.type) }
        inProgress.append(name)
        defer { inProgress.removeLast() }
        let (plan, type) = try Binder(layout: layout, definitions: self).value(definition.expression)
        let shape = definition.expression.shape(shapeOfDefinition)
        try shape.check(limits, "aggregate '\(name)'")
        boundAggregates[name] = (plan, type, shape)
        return (plan, type)
    }

    /// A named definition's shape: bound here (its dependencies are bound before it), or stored.
    private func shapeOfDefinition(_ reference: DefinitionReference) -> PlanShape? {
        switch reference {
        case .segment(let name): boundSegments[name]?.1 ?? catalog.segments[name]?.shape
        case .aggregate(let name): boundAggregates[name]?.2 ?? catalog.aggregates[name]?.shape
        }
    }
}

/// A process-wide source of catalog versions.
private final class VersionCounter: @unchecked Sendable {
    private let lock = Lock()
    private var last: UInt64 = 0
    func next() -> UInt64 { lock.withLock { last += 1; return last } }
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
