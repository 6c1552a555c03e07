/// What a bound plan reads of one user's data: the event tables its aggregates scan and
/// whether it reads any attribute (a column, an index leaf, a window bound or filter
/// over attributes). A write that touches nothing a plan reads cannot change the plan's
/// value for that user at any time: the change feed skips re-evaluating it
/// (`Database.feedAfterWrite`). Computed once per plan, O(plan nodes).
struct PlanReads: Sendable, Equatable {
    /// Event table ids (`EventDefinition.id`) read by some aggregate, ascending, without
    /// duplicates: a handful, so a scan of an array (asked once per watch per write)
    /// beats hashing.
    var tables: [Int] = []
    var attributes = false

    init(_ plan: BoolPlan) { plan.addReads(to: &self) }

    /// Whether a write of `scope` can change what the plan reads.
    func touched(by scope: WriteScope) -> Bool {
        switch scope {
        case .newUser: true
        case .event(let table): tables.contains(table)
        case .attributes: attributes
        }
    }
}

/// The part of one user's data a write changed (`FeedEffect.user`).
public enum WriteScope: Sendable, Equatable {
    /// The write created the user: every plan may hold for it now.
    case newUser
    /// An event of this table was added.
    case event(table: Int)
    /// Attributes were set or unset.
    case attributes
}

extension BoolPlan {
    fileprivate func addReads(to reads: inout PlanReads) {
        switch self {
        case .constant: return
        case .index: reads.attributes = true
        // Event-property leaves occur only inside an aggregate's filter, whose table
        // the aggregate records.
        case .eventString, .eventStringCodes: return
        case .and(let terms), .or(let terms): for term in terms { term.addReads(to: &reads) }
        case .not(let inner), .segment(_, let inner): inner.addReads(to: &reads)
        case .compareNumbers(let l, _, let r), .compareInts(let l, _, let r), .compareStrings(let l, _, let r):
            l.addReads(to: &reads)
            r.addReads(to: &reads)
        case .numberIn(let v, _), .intIn(let v, _), .stringIn(let v, _), .isNull(let v, _), .truthy(let v):
            v.addReads(to: &reads)
        }
    }
}

extension ValuePlan {
    fileprivate func addReads(to reads: inout PlanReads) {
        switch self {
        case .number, .integer, .now, .bucketStart, .bucketEnd, .assignedAt, .string, .eventInt, .eventFloat, .eventBool, .eventString: return
        case .int64Column, .doubleColumn, .boolColumn, .stringColumn: reads.attributes = true
        case .aggregate(let a):
            if !reads.tables.contains(a.table) {
                reads.tables.append(a.table)
                reads.tables.sort()
            }
            a.filter?.addReads(to: &reads)
            switch a.window {
            case .all: break
            case .last(let d): d.addReads(to: &reads)
            case .range(let l, let u):
                l.addReads(to: &reads)
                u.addReads(to: &reads)
            }
        case .binary(_, let l, let r, _):
            l.addReads(to: &reads)
            r.addReads(to: &reads)
        case .negate(let v): v.addReads(to: &reads)
        }
    }
}
