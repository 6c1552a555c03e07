#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An event being looked at inside a `where` filter.
struct EventRef {
    let table: Int
    let position: Int
}

/// Evaluates instantiated plans (`BoolPlan.instantiated(in:)`) against one database at
/// one "now".
///
/// Two modes. `rows(_:within:)` answers for a set of users at once: index leaves are
/// bitmap lookups, `and` narrows the candidate set for its later terms, `not` is the
/// complement within the candidates, and leaves that need per-user values are tested
/// on the candidates only, in parallel chunks (Dispatch) whose results are merged in
/// row order, so the answer never depends on the core count. `test(_:_:_:)` answers
/// for one user (and, inside `where`, one event) without touching anyone else.
///
/// Concurrency: the database is an immutable copy-on-write value here, read from
/// many threads; the segment memo is touched only by the calling thread.
struct Evaluator: Sendable {
    let db: Database
    /// The evaluation time. The change feed moves it between one-user tests
    /// (`NextChange`); the segment memo of `rows` is only valid for one `now`, so a
    /// scan never runs on an evaluator whose `now` was moved.
    var now: Int64
    /// The bucket a `SERIES.*` command evaluates (`bucket_start`, `bucket_end`); null
    /// elsewhere. Like `now`, fixed for the scans of one evaluator.
    var bucket: (start: Int64, end: Int64) = (NullSentinel.time, NullSentinel.time)
    /// The split whose assignment times `assigned_at` reads (`SPLIT.REPORT`); nil elsewhere.
    var assignments: Split?
    private let memo = SegmentMemo()

    init(db: Database, now: Int64) {
        self.db = db
        self.now = now
    }

    // MARK: Sets of users

    /// The members of `candidates` for which `plan` holds.
    func rows(_ plan: BoolPlan, within candidates: Bitmap) -> Bitmap {
        if candidates.isEmpty { return candidates }
        switch plan {
        case .constant(let b): return b ? candidates : Bitmap()
        case .and(let terms):
            var current = candidates
            // Cheap index lookups first, so per-user terms see fewer candidates.
            for term in terms.sorted(by: { $0.cost < $1.cost }) {
                current = rows(term, within: current)
                if current.isEmpty { break }
            }
            return current
        case .or(let terms):
            var result = Bitmap()
            for term in terms.sorted(by: { $0.cost < $1.cost }) {
                let rest = result.isEmpty ? candidates : candidates.subtracting(result)
                if rest.isEmpty { break }
                result.formUnion(rows(term, within: rest))
            }
            return result
        case .not(let inner):
            return candidates.subtracting(rows(inner, within: candidates))
        case .index(let leaf):
            return indexRows(leaf).intersection(candidates)
        case .segment(let name, let inner):
            if let cached = memo.get(name) { return cached.intersection(candidates) }
            let all = rows(inner, within: db.users.live)
            memo.set(name, all)
            return all.intersection(candidates)
        case .compareNumbers(let l, let op, let r):
            return compareRows(l, op, r, candidates, as: Double.self)
        case .compareInts(let l, let op, let r):
            return compareRows(l, op, r, candidates, as: Int64.self)
        case .compareStrings(.aggregate(let a), let op, .string(let s)) where a.stringSlot != nil:
            return stringEdgeRows(a, candidates) { op.holds($0, s) }
        case .compareStrings(.string(let s), let op, .aggregate(let a)) where a.stringSlot != nil:
            return stringEdgeRows(a, candidates) { op.holds(s, $0) }
        case .stringIn(.aggregate(let a), let set) where a.stringSlot != nil:
            return stringEdgeRows(a, candidates) { set.contains($0) }
        default:
            return filter(candidates) { test(plan, $0, nil) }
        }
    }

    /// The candidates for which `l op r` holds, both sides computed in batches as `Number`.
    ///
    /// When one side is an aggregate over a constant window and the other a constant,
    /// and few candidates can have events in the window (those its `ActivityIndex` lists
    /// on the window's days, or the rows of the table's recent copy for a window inside
    /// it when they are fewer, plus the rows with delta events), only those are computed: every
    /// other candidate's aggregate is the value over no events (0 for
    /// `count`/`sum`/`distinct`, null otherwise), so one comparison decides them all.
    /// A filtered count over a window of the table's timeline is first tried as a scan
    /// of that window (`timelineRows`).
    private func compareRows<Number: EvaluationNumber>(
        _ l: ValuePlan, _ op: Comparison, _ r: ValuePlan, _ candidates: Bitmap, as: Number.Type
    ) -> Bitmap {
        if let rows = timelineRows(l, op, r, candidates, as: Number.self) { return rows }
        if let (active, emptyPasses) = activeRows(l, op, r, candidates, as: Number.self) {
            let result = compareEach(l, op, r, active, as: Number.self)
            return emptyPasses ? result.union(candidates.subtracting(active)) : result
        }
        return compareEach(l, op, r, candidates, as: Number.self)
    }

    /// `compareRows` over every candidate.
    func compareEach<Number: EvaluationNumber>(
        _ l: ValuePlan, _ op: Comparison, _ r: ValuePlan, _ candidates: Bitmap, as: Number.Type
    ) -> Bitmap {
        filterBatches(candidates) { rows, keep in
            withUnsafeTemporaryAllocation(of: Number.self, capacity: rows.count * 2) { values in
                let left = UnsafeMutableBufferPointer(rebasing: values[0..<rows.count])
                let right = UnsafeMutableBufferPointer(rebasing: values[rows.count...])
                numbers(l, rows, into: left)
                numbers(r, rows, into: right)
                withUnsafeTemporaryAllocation(of: UInt32.self, capacity: rows.count) { passing in
                    // One loop per operator, its test a constant the loop inlines.
                    let n: Int = switch op {
                    case .equal: Self.compact(rows, left, right, into: passing) { Comparison.equal.holds($0, $1) }
                    case .notEqual: Self.compact(rows, left, right, into: passing) { Comparison.notEqual.holds($0, $1) }
                    case .less: Self.compact(rows, left, right, into: passing) { Comparison.less.holds($0, $1) }
                    case .lessOrEqual: Self.compact(rows, left, right, into: passing) { Comparison.lessOrEqual.holds($0, $1) }
                    case .greater: Self.compact(rows, left, right, into: passing) { Comparison.greater.holds($0, $1) }
                    case .greaterOrEqual: Self.compact(rows, left, right, into: passing) { Comparison.greaterOrEqual.holds($0, $1) }
                    }
                    keep.append(contentsOf: UnsafeBufferPointer(rebasing: passing[0..<n]))
                }
            }
        }
    }

    /// Writes the rows whose values pass `test` to the front of `passing` and returns how
    /// many; null compares false under every operator (DESIGN's rule). Branch-free: each
    /// row is written and the count advanced by its verdict, so a threshold that splits
    /// the users unpredictably costs no mispredicted branch per row.
    @inline(__always)
    private static func compact<Number: EvaluationNumber>(
        _ rows: UnsafeBufferPointer<UInt32>, _ left: UnsafeMutableBufferPointer<Number>, _ right: UnsafeMutableBufferPointer<Number>,
        into passing: UnsafeMutableBufferPointer<UInt32>, _ test: (Number, Number) -> Bool
    ) -> Int {
        var n = 0
        for i in rows.indices {
            let (x, y) = (left[i], right[i])
            passing[n] = rows[i]
            n &+= (x.isNull ? 0 : 1) & (y.isNull ? 0 : 1) & (test(x, y) ? 1 : 0)
        }
        return n
    }

    /// The candidates whose string `first`/`last` `a` passes `test`: the aggregate in
    /// batches as dictionary codes (what the batch kernel computes for a string
    /// property), each code's verdict decided once over the property's dictionary, so no
    /// string is built per user.
    private func stringEdgeRows(_ a: AggregatePlan, _ candidates: Bitmap, _ test: (String) -> Bool) -> Bitmap {
        let dictionary = db.events.tables[a.table].dictionaries[a.stringSlot!]
        let passes = ContiguousArray<Bool>((0..<dictionary.count).map { test(dictionary.string(for: UInt32($0))) })
        return filterBatches(candidates) { rows, keep in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: rows.count) { codes in
                numbers(.aggregate(a), rows, into: codes)
                // NaN is null: no value, the test is false (DESIGN §3).
                for i in rows.indices where !codes[i].isNaN && passes[Int(codes[i])] { keep.append(rows[i]) }
            }
        }
    }

    /// The candidates kept by `batch`, which sees them in chunks and appends the rows
    /// to keep, in order. Chunks run in parallel and are merged in row order.
    func filterBatches(
        _ candidates: Bitmap, _ batch: @escaping @Sendable (UnsafeBufferPointer<UInt32>, inout ContiguousArray<UInt32>) -> Void
    ) -> Bitmap {
        let rows = candidates.toArray()
        let chunkSize = 8192
        let chunks = (rows.count + chunkSize - 1) / chunkSize
        let kept: [ContiguousArray<UInt32>] = rows.withUnsafeBufferPointer { all in
            nonisolated(unsafe) let all = all
            let run: @Sendable (Int) -> ContiguousArray<UInt32> = { k in
                var kept = ContiguousArray<UInt32>()
                batch(UnsafeBufferPointer(rebasing: all[(k * chunkSize)..<Swift.min(all.count, (k + 1) * chunkSize)]), &kept)
                return kept
            }
            // One chunk runs here: no thread hand-off for small candidate sets.
            return chunks <= 1 ? (0..<chunks).map(run) : parallelMap(chunks, run)
        }
        var result = Bitmap()
        for part in kept { part.withUnsafeBufferPointer { result.add(contentsOf: $0) } }
        return result
    }

    /// Rows of an index leaf, over all users.
    func indexRows(_ leaf: IndexLeaf) -> Bitmap {
        switch leaf {
        case .stringColumn(let c, let test):
            let column = db.attributes.strings[c]
            var result = Bitmap()
            switch test {
            case .oneOf(let literals):
                for literal in literals { if let code = column.dictionary.code(of: literal) { result.formUnion(column.postings[Int(code)]) } }
            case .ordered:
                for code in 0..<column.dictionary.count where test.holds(column.dictionary.string(for: UInt32(code))) {
                    result.formUnion(column.postings[code])
                }
            }
            return result
        case .boolColumn(let c, let value): return value ? db.attributes.bools[c].trues : db.attributes.bools[c].falses
        case .tag(let c, let tag): return db.attributes.tags[c].rows(having: tag)
        case .stringNotNull(let c):
            var result = Bitmap()
            for posting in db.attributes.strings[c].postings { result.formUnion(posting) }
            return result
        case .boolNotNull(let c): return db.attributes.bools[c].trues.union(db.attributes.bools[c].falses)
        case .tagsNotNull(let c): return db.attributes.tags[c].rowsWithAnyTag()
        }
    }

    /// The candidates for which `keep` is true, tested in parallel chunks.
    func filter(_ candidates: Bitmap, _ keep: @escaping @Sendable (UInt32) -> Bool) -> Bitmap {
        filterBatches(candidates) { chunk, kept in
            for row in chunk where keep(row) { kept.append(row) }
        }
    }

    // MARK: One user (and one event)

    func test(_ plan: BoolPlan, _ row: UInt32, _ event: EventRef?) -> Bool {
        switch plan {
        case .constant(let b): return b
        case .and(let terms): return terms.allSatisfy { test($0, row, event) }
        case .or(let terms): return terms.contains { test($0, row, event) }
        case .not(let inner): return !test(inner, row, event)
        case .index(let leaf): return indexTest(leaf, row)
        case .compareNumbers(let l, let op, let r):
            let x = number(l, row, event)
            let y = number(r, row, event)
            if x.isNaN || y.isNaN { return false }
            return op.holds(x, y)
        case .compareInts(let l, let op, let r):
            let x = integer(l, row, event)
            let y = integer(r, row, event)
            if x.isNull || y.isNull { return false }
            return op.holds(x, y)
        case .compareStrings(let l, let op, let r):
            guard let x = string(l, row, event), let y = string(r, row, event) else { return false }
            return op.holds(x, y)
        case .numberIn(let v, let values):
            let x = number(v, row, event)
            return !x.isNaN && values.contains(x)
        case .intIn(let v, let values):
            let x = integer(v, row, event)
            return !x.isNull && values.contains(x)
        case .stringIn(let v, let values):
            return string(v, row, event).map(values.contains) ?? false
        case .isNull(let v, let isString):
            return isString ? string(v, row, event) == nil : number(v, row, event).isNaN
        case .truthy(let v):
            return number(v, row, event) == 1
        case .segment(_, let inner):
            return test(inner, row, nil)
        case .eventStringCodes(let slot, let codes):
            guard let e = event else { return false }
            return codes.contains(db.events.tables[e.table].stringCode(slot, e.position))
        case .eventString(_, let slot, let test):
            // An ordering (equality was instantiated into codes): compare the string.
            guard let e = event else { return false }
            let table = db.events.tables[e.table]
            let code = table.stringCode(slot, e.position)
            return code != NullSentinel.stringCode && test.holds(table.dictionaries[slot].string(for: code))
        }
    }

    func indexTest(_ leaf: IndexLeaf, _ row: UInt32) -> Bool {
        switch leaf {
        case .stringColumn(let c, let test): return db.attributes.strings[c].value(row).map(test.holds) ?? false
        case .boolColumn(let c, let value): return db.attributes.bools[c].value(row) == value
        case .tag(let c, let tag): return db.attributes.tags[c].rows(having: tag).contains(row)
        case .stringNotNull(let c): return db.attributes.strings[c].code(row) != nil
        case .boolNotNull(let c): return db.attributes.bools[c].value(row) != nil
        case .tagsNotNull(let c): return db.attributes.tags[c].postings.contains { $0.contains(row) }
        }
    }

    /// A numeric, time, duration or bool value as a Double; NaN is null.
    func number(_ plan: ValuePlan, _ row: UInt32, _ event: EventRef?) -> Double { evaluate(plan, row, event) }

    /// An `int`-typed value, exactly; `NullSentinel.int` is null.
    func integer(_ plan: ValuePlan, _ row: UInt32, _ event: EventRef?) -> Int64 { evaluate(plan, row, event) }

    /// A numeric, time, duration or bool value in the representation `Number`
    /// (`EvaluationNumber`). Int-typed arithmetic and aggregates are computed in Int64
    /// whatever `Number` is, then converted, so an int expression has one value.
    func evaluate<Number: EvaluationNumber>(_ plan: ValuePlan, _ row: UInt32, _ event: EventRef?) -> Number {
        switch plan {
        case .number(let x): return Number(double: x)
        case .integer(let x): return Number(int: x)
        case .now: return Number(int: now)
        case .bucketStart: return Number(int: bucket.start)
        case .bucketEnd: return Number(int: bucket.end)
        case .assignedAt: return Number(int: assignments?.assignment(of: row) ?? NullSentinel.time)
        case .string, .stringColumn, .eventString: return .null
        case .int64Column(let c): return Number(int: db.attributes.int64s[c].value(row) ?? NullSentinel.int)
        case .doubleColumn(let c): return Number(double: db.attributes.doubles[c].value(row) ?? .nan)
        case .boolColumn(let c): return Number(bool: db.attributes.bools[c].value(row).map { $0 ? 1 : 0 } ?? NullSentinel.bool)
        case .aggregate(let a):
            return a.isInteger ? Number(int: aggregate(a, row) as Int64) : Number(double: aggregate(a, row) as Double)
        case .binary(let op, let l, let r, let type):
            if type == .int, Number.self != Int64.self { return Number(int: integer(plan, row, event)) }
            return Number.apply(op, evaluate(l, row, event), evaluate(r, row, event))
        case .negate(let v): return (evaluate(v, row, event) as Number).negated
        case .eventInt(let s):
            guard let e = event else { return .null }
            return Number(int: db.events.tables[e.table].intValue(s, e.position))
        case .eventFloat(let s):
            guard let e = event else { return .null }
            return Number(double: db.events.tables[e.table].floatValue(s, e.position))
        case .eventBool(let s):
            guard let e = event else { return .null }
            return Number(bool: db.events.tables[e.table].boolValue(s, e.position))
        }
    }

    func string(_ plan: ValuePlan, _ row: UInt32, _ event: EventRef?) -> String? {
        switch plan {
        case .string(let s): return s
        case .stringColumn(let c): return db.attributes.strings[c].value(row)
        case .eventString(let s):
            guard let e = event else { return nil }
            let table = db.events.tables[e.table]
            let code = table.stringCode(s, e.position)
            return code == NullSentinel.stringCode ? nil : table.dictionaries[s].string(for: code)
        case .aggregate(let a): return aggregateString(a, row)
        default: return nil
        }
    }
}

/// Segment results computed during one evaluation, so a segment used several times
/// is evaluated once. Used only from the thread that drives `rows(_:within:)`.
final class SegmentMemo: @unchecked Sendable {
    private var results: [String: Bitmap] = [:]
    func get(_ name: String) -> Bitmap? { results[name] }
    func set(_ name: String, _ rows: Bitmap) { results[name] = rows }
}

extension BoolPlan {
    /// Evaluation order within `and`/`or`: index lookups, then segments, then per-user work.
    var cost: Int {
        switch self {
        case .constant, .index: 0
        case .not(let p): p.cost
        case .and(let ps), .or(let ps): ps.map(\.cost).max() ?? 0
        case .segment: 1
        default: 2
        }
    }
}

extension Comparison {
    @inline(__always)
    func holds<T: Comparable>(_ x: T, _ y: T) -> Bool {
        switch self {
        case .equal: x == y
        case .notEqual: x != y
        case .less: x < y
        case .lessOrEqual: x <= y
        case .greater: x > y
        case .greaterOrEqual: x >= y
        }
    }
}
