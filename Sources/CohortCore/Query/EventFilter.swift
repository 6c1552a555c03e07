import CIntrinsics

/// A `where` filter compiled against one event table: the predicate as a flat tree of
/// typed column tests that answer for up to 64 consecutive base events at once, as a
/// bit mask (bit `i` for event `start + i`).
///
/// Leaves are what filters are made of: a numeric property against a constant (typed,
/// the null sentinel tested once per value), `in` lists, `is null`, a bool property, and
/// string tests as a lookup over dictionary codes (equality, `in` and orderings alike:
/// which codes pass is decided once, at compile time, not per event). `and`/`or`/`not`
/// combine masks; `not` is the complement within the events asked about (DESIGN §3). A
/// leaf of any other shape (a property against an attribute, arithmetic over
/// properties, ...) becomes a `fallback`: the interpreter's `Evaluator.test` per event,
/// so every filter compiles and the compiled form never changes an answer.
///
/// Delta events (positions at or past the table's base count) are not in the base
/// columns: `holds` answers them with the interpreter. The merged path of a user with
/// delta events is the rare one.
///
/// Cost: compiling is O(nodes), plus O(dictionary) for an ordering on a string property
/// (above `maxOrderedDictionary` entries it stays a fallback). Evaluating is one pass of
/// a tight loop per leaf over the events asked about, with no allocation and no
/// reference counting.
///
/// Memory safety: nodes hold raw pointers into the table's base columns. They stay valid
/// because `columns` holds those arrays, and this copy is never mutated: a writer that
/// mutates the table's columns copies them first (copy-on-write) and never moves ours.
/// An `EventFilter` is immutable once compiled, so parallel chunks may share one. A
/// class, so that handing it down the per-user loop copies one reference, not its arrays.
final class EventFilter: @unchecked Sendable {
    let table: Int
    let baseCount: Int
    private var root = 0
    // The program, built by `compile` and then frozen into the buffers below, which
    // evaluation reads (raw buffers: reading them costs no reference counting).
    private var nodes = ContiguousArray<Node>()
    /// Per-code pass tables of string leaves (1 = passes), one after the other.
    private var codes = ContiguousArray<UInt8>()
    /// Literal lists of `in` leaves.
    private var doubles = ContiguousArray<Double>()
    private var ints = ContiguousArray<Int64>()
    private var children = ContiguousArray<Int>()
    private var program = Program()
    private var fallbacks: [BoolPlan] = []
    /// The plan compiled: what delta events are tested with.
    private let plan: BoolPlan
    /// Keeps the arrays the nodes point into alive.
    private let columns: PropertyColumns

    /// Dictionaries larger than this keep string orderings interpreted.
    static let maxOrderedDictionary = 1 << 16

    private enum Kind: UInt8 {
        case constant, and, or, not
        /// float property `op` constant (`literal` is its bit pattern).
        case float
        /// int property `op` int constant, exactly.
        case int
        /// int property `op` constant as Doubles (a float literal against an int property).
        case intAsDouble
        /// bool property (0, 1, sentinel 2) `op` constant as Doubles.
        case boolAsDouble
        /// string property: `codes[first ..< first + count]` says which codes pass (its
        /// last entry is 0, for every code past the table); `literal` is the one passing
        /// code plus one when there is exactly one, else 0.
        case code
        /// float / int property in `doubles[first ..< first + count]` / `ints[...]`.
        case floatIn, intIn
        /// the property is null (`op` unused).
        case floatNull, intNull, boolNull, codeNull
        /// `fallbacks[first]`, interpreted per event.
        case fallback
    }

    /// One node. Trivial, so walking the tree costs no reference counting. The children
    /// of `and`/`or` are the node indices `children[first ..< first + count]`; the child
    /// of `not` is node `first`.
    private struct Node {
        var kind: Kind
        var op: Comparison = .equal
        var column: UnsafeRawPointer? = nil
        var literal: UInt64 = 0
        var first = 0
        var count = 0
    }

    /// Which copy of a table's base events a filter's positions name.
    enum Source {
        /// The base itself (what fallback leaves and delta positions assume).
        case base
        /// The recent copy (`RecentBase`).
        case recent
        /// The time-ordered copy (`EventTimeline`).
        case timeline
    }

    /// `plan` (instantiated) compiled for events of table `table`; constants (literals,
    /// `now`) are evaluated by `evaluator` now. A `source` other than `.base` compiles it
    /// against a copy of the base (its recent copy, its timeline): positions below
    /// `baseCount` are then the copy's, and fallback leaves, which read the base, would
    /// be wrong, so a caller uses such a filter only when `hasFallback` is false.
    init(_ plan: BoolPlan, table: Int, evaluator: Evaluator, source: Source = .base) {
        let events = evaluator.db.events.tables[table]
        self.table = table
        switch source {
        case .base: (columns, baseCount) = (events.properties, events.baseCount)
        case .recent: (columns, baseCount) = (events.recent!.properties, events.recent!.times.count)
        case .timeline: (columns, baseCount) = (events.timeline!.properties, events.timeline!.times.count)
        }
        self.plan = plan
        root = compile(plan, events, evaluator)
        program = Program(nodes: .copy(nodes), children: .copy(children), codes: .copy(codes), doubles: .copy(doubles), ints: .copy(ints))
    }

    deinit { program.deallocate() }

    /// The frozen program: copies of the builder's arrays in raw buffers, owned here.
    private struct Program {
        var nodes = UnsafeMutableBufferPointer<Node>(start: nil, count: 0)
        var children = UnsafeMutableBufferPointer<Int>(start: nil, count: 0)
        var codes = UnsafeMutableBufferPointer<UInt8>(start: nil, count: 0)
        var doubles = UnsafeMutableBufferPointer<Double>(start: nil, count: 0)
        var ints = UnsafeMutableBufferPointer<Int64>(start: nil, count: 0)

        func deallocate() {
            nodes.deallocate()
            children.deallocate()
            codes.deallocate()
            doubles.deallocate()
            ints.deallocate()
        }
    }

    // MARK: Evaluation

    /// Bit `i` set when base event `start + i` passes, for `i < n` (`n <= 64`, every
    /// position below `baseCount`); `row` is the user the events belong to.
    @inline(__always)
    func mask(_ start: Int, _ n: Int, row: UInt32, _ evaluator: Evaluator) -> UInt64 {
        mask(root, Positions(start: start), n, row, evaluator)
    }

    /// Calls `body` with each run of up to 64 base positions of `window` (its start) and
    /// the mask of those that pass, in order.
    @inline(__always)
    func forEachMask(_ window: Range<Int>, row: UInt32, _ evaluator: Evaluator, _ body: (Int, UInt64) -> Void) {
        var start = window.lowerBound
        while start < window.upperBound {
            let n = Swift.min(64, window.upperBound - start)
            body(start, mask(start, n, row: row, evaluator))
            start += n
        }
    }

    /// Prefetches the cache lines the leaves read for base position `position` (a hint,
    /// for a caller that knows which events it will ask about next).
    func prefetch(_ position: Int) { prefetch(position..<(position + 1)) }

    /// Prefetches every cache line the leaves read for the base positions `positions`.
    func prefetch(_ positions: Range<Int>) {
        guard !positions.isEmpty else { return }
        for node in program.nodes {
            guard let column = node.column else { continue }
            let width: Int
            switch node.kind {
            case .float, .int, .intAsDouble, .floatIn, .intIn, .floatNull, .intNull: width = 8
            case .code, .codeNull: width = 4
            case .boolAsDouble, .boolNull: width = 1
            case .constant, .and, .or, .not, .fallback: continue
            }
            // Line by line from the first element's line to the last's.
            let first = (UInt(bitPattern: column) + UInt(positions.lowerBound * width)) & ~63
            let last = UInt(bitPattern: column) + UInt((positions.upperBound - 1) * width)
            for line in stride(from: first, through: last, by: 64) { cohort_prefetch(UnsafeRawPointer(bitPattern: line)) }
        }
    }

    /// True when some leaf is interpreted per event (it may read the user's attributes,
    /// so a mask is only valid for one row's events).
    var hasFallback: Bool { !fallbacks.isEmpty }

    /// Fills `words` (zeroed) with the verdicts of every position of `windows`, one
    /// window after the other: bit `i % 64` of word `i / 64` for the `i`th position
    /// counted over all of them (the layout `SelectedEvents` reads with `listedBefore`).
    /// The batch kernel's one pass over a batch's scattered windows, instead of a call
    /// per row; each window is a contiguous run, so its leaves read it without a list
    /// of positions. Only for filters without fallback leaves: the windows belong to
    /// many rows.
    ///
    /// The windows are scattered over the base, so the columns are fetched
    /// `prefetchDistance` windows ahead: the misses of several rows overlap instead of
    /// each stalling the pass.
    func fill(_ words: UnsafeMutableBufferPointer<UInt64>, windows: UnsafeBufferPointer<Range<Int>>, _ evaluator: Evaluator) {
        precondition(!hasFallback)
        let ahead = Self.prefetchDistance
        for i in 0..<Swift.min(ahead, windows.count) { prefetch(windows[i]) }
        var bit = 0
        for i in windows.indices {
            if i + ahead < windows.count { prefetch(windows[i + ahead]) }
            var start = windows[i].lowerBound
            let end = windows[i].upperBound
            while start < end {
                let n = Swift.min(64, end - start)
                let m = mask(root, Positions(start: start), n, 0, evaluator)
                // Append the n bits at `bit`: the rest of one word, maybe the next.
                let (w, offset) = (bit >> 6, bit & 63)
                words[w] |= m &<< UInt64(offset)
                if offset + n > 64 { words[w + 1] |= m &>> UInt64(64 - offset) }
                bit += n
                start += n
            }
        }
    }

    /// How many windows ahead `fill(_:windows:_:)` prefetches.
    static let prefetchDistance = 8

    /// Fills `words` with the masks of base positions `start ..< start + count`, 64 per
    /// word (bit `i % 64` of word `i / 64` for `start + i`; the last word partial).
    func fill(_ words: UnsafeMutableBufferPointer<UInt64>, from start: Int, count: Int, _ evaluator: Evaluator) {
        fill(words, Positions(start: start), count: count, evaluator)
    }

    private func fill(_ words: UnsafeMutableBufferPointer<UInt64>, _ at: Positions, count: Int, _ evaluator: Evaluator) {
        precondition(!hasFallback && words.count >= (count + 63) / 64)
        var k = 0
        while 64 * k < count {
            words[k] = mask(root, at.advanced(by: 64 * k), Swift.min(64, count - 64 * k), 0, evaluator)
            k += 1
        }
    }

    /// Whether the event at `position` (base or delta) passes.
    func holds(_ position: Int, row: UInt32, _ evaluator: Evaluator) -> Bool {
        if position < baseCount { return mask(position, 1, row: row, evaluator) & 1 != 0 }
        return evaluator.test(plan, row, EventRef(table: table, position: position))
    }

    /// The mask of node `index` over the `n <= 64` events `at(0) ..< at(n)`.
    private func mask(_ index: Int, _ at: Positions, _ n: Int, _ row: UInt32, _ evaluator: Evaluator) -> UInt64 {
        let node = program.nodes[index]
        if n == 64, let m = Self.wideMask(node, at.start) { return m }
        let all: UInt64 = n == 64 ? ~0 : (1 &<< UInt64(n)) &- 1
        switch node.kind {
        case .constant: return node.literal != 0 ? all : 0
        case .and:
            var m = all
            for k in node.first..<(node.first + node.count) where m != 0 { m &= mask(program.children[k], at, n, row, evaluator) }
            return m
        case .or:
            var m: UInt64 = 0
            for k in node.first..<(node.first + node.count) where m != all { m |= mask(program.children[k], at, n, row, evaluator) }
            return m
        case .not: return ~mask(node.first, at, n, row, evaluator) & all
        case .float:
            return Self.bits(node.column!.assumingMemoryBound(to: Double.self), at, n, node.op, Double(bitPattern: node.literal)) { $0 }
        case .int:
            let x = Int64(bitPattern: node.literal)
            let column = node.column!.assumingMemoryBound(to: Int64.self)
            var m: UInt64 = 0
            switch node.op {
            case .equal: for i in 0..<n { m |= UInt64(column[at(i)] == x && column[at(i)] != NullSentinel.int ? 1 : 0) &<< UInt64(i) }
            case .notEqual: for i in 0..<n { m |= UInt64(column[at(i)] != x && column[at(i)] != NullSentinel.int ? 1 : 0) &<< UInt64(i) }
            case .less: for i in 0..<n { m |= UInt64(column[at(i)] < x && column[at(i)] != NullSentinel.int ? 1 : 0) &<< UInt64(i) }
            case .lessOrEqual: for i in 0..<n { m |= UInt64(column[at(i)] <= x && column[at(i)] != NullSentinel.int ? 1 : 0) &<< UInt64(i) }
            case .greater: for i in 0..<n { m |= UInt64(column[at(i)] > x && column[at(i)] != NullSentinel.int ? 1 : 0) &<< UInt64(i) }
            case .greaterOrEqual: for i in 0..<n { m |= UInt64(column[at(i)] >= x && column[at(i)] != NullSentinel.int ? 1 : 0) &<< UInt64(i) }
            }
            return m
        case .intAsDouble:
            return Self.bits(node.column!.assumingMemoryBound(to: Int64.self), at, n, node.op, Double(bitPattern: node.literal)) { Double(int: $0) }
        case .boolAsDouble:
            return Self.bits(node.column!.assumingMemoryBound(to: UInt8.self), at, n, node.op, Double(bitPattern: node.literal)) { Double(bool: $0) }
        case .code:
            let column = node.column!.assumingMemoryBound(to: UInt32.self)
            let passes = program.codes.baseAddress! + node.first
            // Every table ends with a 0 entry that codes past it (the null code among
            // them) are clamped to: no branch per event.
            let last = UInt32(node.count - 1)
            var m: UInt64 = 0
            for i in 0..<n { m |= UInt64(passes[Int(Swift.min(column[at(i)], last))]) &<< UInt64(i) }
            return m
        case .floatIn:
            let column = node.column!.assumingMemoryBound(to: Double.self)
            let values = UnsafeBufferPointer(rebasing: program.doubles[node.first..<(node.first + node.count)])
            var m: UInt64 = 0
            for i in 0..<n where values.contains(column[at(i)]) { m |= 1 &<< UInt64(i) }
            return m
        case .intIn:
            let column = node.column!.assumingMemoryBound(to: Int64.self)
            let values = UnsafeBufferPointer(rebasing: program.ints[node.first..<(node.first + node.count)])
            var m: UInt64 = 0
            for i in 0..<n where column[at(i)] != NullSentinel.int && values.contains(column[at(i)]) { m |= 1 &<< UInt64(i) }
            return m
        case .floatNull: return Self.nulls(node.column!.assumingMemoryBound(to: Double.self), at, n) { $0.isNaN }
        case .intNull: return Self.nulls(node.column!.assumingMemoryBound(to: Int64.self), at, n) { $0 == NullSentinel.int }
        case .boolNull: return Self.nulls(node.column!.assumingMemoryBound(to: UInt8.self), at, n) { $0 == NullSentinel.bool }
        case .codeNull: return Self.nulls(node.column!.assumingMemoryBound(to: UInt32.self), at, n) { $0 == NullSentinel.stringCode }
        case .fallback:
            let plan = fallbacks[node.first]
            var m: UInt64 = 0
            for i in 0..<n where evaluator.test(plan, row, EventRef(table: table, position: at(i))) { m |= 1 &<< UInt64(i) }
            return m
        }
    }

    // MARK: Wide leaves

    /// The mask of a leaf over 64 consecutive positions from `start`, 8 lanes at a time
    /// (SIMD compares, each lane's verdict weighted by its bit and summed): the span pass
    /// of the batch kernel. The same verdicts as the scalar loops below, null rules
    /// included; nil for the leaf kinds it does not cover.
    private static func wideMask(_ node: Node, _ start: Int) -> UInt64? {
        switch node.kind {
        case .float:
            let x = SIMD8<Double>(repeating: Double(bitPattern: node.literal))
            let base = UnsafeRawPointer(node.column!) + 8 * start
            switch node.op {
            case .equal: return lanes(base, Double.self) { $0 .== x }
            case .notEqual: return lanes(base, Double.self) { ($0 .!= x) .& ($0 .== $0) }
            case .less: return lanes(base, Double.self) { $0 .< x }
            case .lessOrEqual: return lanes(base, Double.self) { $0 .<= x }
            case .greater: return lanes(base, Double.self) { $0 .> x }
            case .greaterOrEqual: return lanes(base, Double.self) { $0 .>= x }
            }
        case .int:
            let x = SIMD8<Int64>(repeating: Int64(bitPattern: node.literal))
            let null = SIMD8<Int64>(repeating: NullSentinel.int)
            let base = UnsafeRawPointer(node.column!) + 8 * start
            switch node.op {
            case .equal: return lanes(base, Int64.self) { ($0 .== x) .& ($0 .!= null) }
            case .notEqual: return lanes(base, Int64.self) { ($0 .!= x) .& ($0 .!= null) }
            case .less: return lanes(base, Int64.self) { ($0 .< x) .& ($0 .!= null) }
            case .lessOrEqual: return lanes(base, Int64.self) { ($0 .<= x) .& ($0 .!= null) }
            case .greater: return lanes(base, Int64.self) { ($0 .> x) .& ($0 .!= null) }
            case .greaterOrEqual: return lanes(base, Int64.self) { ($0 .>= x) .& ($0 .!= null) }
            }
        case .floatNull:
            return lanes(UnsafeRawPointer(node.column!) + 8 * start, Double.self) { $0 .!= $0 }
        case .intNull:
            let null = SIMD8<Int64>(repeating: NullSentinel.int)
            return lanes(UnsafeRawPointer(node.column!) + 8 * start, Int64.self) { $0 .== null }
        case .codeNull:
            let null = SIMD8<UInt32>(repeating: NullSentinel.stringCode)
            return codeLanes(UnsafeRawPointer(node.column!) + 4 * start) { $0 .== null }
        case .code where node.literal != 0:
            let code = SIMD8<UInt32>(repeating: UInt32(node.literal - 1))
            return codeLanes(UnsafeRawPointer(node.column!) + 4 * start) { $0 .== code }
        default:
            return nil
        }
    }

    /// Lane `j` of eight is bit `j`: the verdicts of 8 lanes as a byte.
    /// (Computed, not stored: a `static let` is a lazy global whose once-check every
    /// 64-event mask paid; a computed literal folds to a constant.)
    private static var weights64: SIMD8<Int64> { SIMD8(1, 2, 4, 8, 16, 32, 64, 128) }
    private static var weights32: SIMD8<Int32> { SIMD8(1, 2, 4, 8, 16, 32, 64, 128) }

    /// The mask of `test` over 64 values of 8 bytes from `base`.
    @inline(__always)
    private static func lanes<T: SIMDScalar>(_ base: UnsafeRawPointer, _: T.Type, _ test: (SIMD8<T>) -> SIMDMask<SIMD8<Int64>>) -> UInt64 {
        var m: UInt64 = 0
        for j in 0..<8 {
            let verdicts = SIMD8<Int64>(repeating: 0).replacing(with: weights64, where: test(base.loadUnaligned(fromByteOffset: 64 * j, as: SIMD8<T>.self)))
            m |= UInt64(bitPattern: verdicts.wrappedSum()) &<< UInt64(8 * j)
        }
        return m
    }

    /// The mask of `test` over 64 dictionary codes from `base`.
    @inline(__always)
    private static func codeLanes(_ base: UnsafeRawPointer, _ test: (SIMD8<UInt32>) -> SIMDMask<SIMD8<Int32>>) -> UInt64 {
        var m: UInt64 = 0
        for j in 0..<8 {
            let verdicts = SIMD8<Int32>(repeating: 0).replacing(with: weights32, where: test(base.loadUnaligned(fromByteOffset: 32 * j, as: SIMD8<UInt32>.self)))
            m |= UInt64(UInt32(bitPattern: verdicts.wrappedSum())) &<< UInt64(8 * j)
        }
        return m
    }

    /// The mask of `value(column[at(i)]) op x` for `i < n`, where `value` gives NaN for
    /// null and null compares false under every operator (as `Evaluator.test`). One
    /// loop per operator, each simple enough to vectorise.
    @inline(__always)
    private static func bits<T>(
        _ column: UnsafePointer<T>, _ at: Positions, _ n: Int, _ op: Comparison, _ x: Double, _ value: (T) -> Double
    ) -> UInt64 {
        var m: UInt64 = 0
        switch op {
        case .equal: for i in 0..<n { m |= UInt64(value(column[at(i)]) == x ? 1 : 0) &<< UInt64(i) }
        case .notEqual:
            for i in 0..<n {
                let v = value(column[at(i)])
                m |= UInt64(!v.isNaN && v != x ? 1 : 0) &<< UInt64(i)
            }
        case .less: for i in 0..<n { m |= UInt64(value(column[at(i)]) < x ? 1 : 0) &<< UInt64(i) }
        case .lessOrEqual: for i in 0..<n { m |= UInt64(value(column[at(i)]) <= x ? 1 : 0) &<< UInt64(i) }
        case .greater: for i in 0..<n { m |= UInt64(value(column[at(i)]) > x ? 1 : 0) &<< UInt64(i) }
        case .greaterOrEqual: for i in 0..<n { m |= UInt64(value(column[at(i)]) >= x ? 1 : 0) &<< UInt64(i) }
        }
        return m
    }

    /// The mask of `isNull(column[at(i)])` for `i < n`.
    @inline(__always)
    private static func nulls<T>(_ column: UnsafePointer<T>, _ at: Positions, _ n: Int, _ isNull: (T) -> Bool) -> UInt64 {
        var m: UInt64 = 0
        for i in 0..<n { m |= UInt64(isNull(column[at(i)]) ? 1 : 0) &<< UInt64(i) }
        return m
    }

    // MARK: Compiling

    /// Appends the nodes of `plan` and returns the index of its root.
    private func compile(_ plan: BoolPlan, _ events: EventTable, _ evaluator: Evaluator) -> Int {
        switch plan {
        case .constant(let b): return add(Node(kind: .constant, literal: b ? 1 : 0))
        case .and(let terms), .or(let terms):
            let indices = terms.map { compile($0, events, evaluator) }
            let first = children.count
            children.append(contentsOf: indices)
            if case .and = plan { return add(Node(kind: .and, first: first, count: indices.count)) }
            return add(Node(kind: .or, first: first, count: indices.count))
        case .not(let inner):
            let child = compile(inner, events, evaluator)
            return add(Node(kind: .not, first: child))
        case .compareNumbers(let l, let op, let r):
            if r.isConstant, let leaf = numberLeaf(l, op, evaluator.number(r, 0, nil)) { return add(leaf) }
            if l.isConstant, let leaf = numberLeaf(r, op.mirrored, evaluator.number(l, 0, nil)) { return add(leaf) }
        case .compareInts(let l, let op, let r):
            if r.isConstant, case .eventInt(let s) = l { return add(intLeaf(s, op, evaluator.integer(r, 0, nil))) }
            if l.isConstant, case .eventInt(let s) = r { return add(intLeaf(s, op.mirrored, evaluator.integer(l, 0, nil))) }
        case .numberIn(.eventFloat(let s), let values):
            let first = doubles.count
            doubles.append(contentsOf: values.filter { !$0.isNaN })
            return add(Node(kind: .floatIn, column: pointer(columns.floats[s]), first: first, count: doubles.count - first))
        case .intIn(.eventInt(let s), let values):
            let first = ints.count
            ints.append(contentsOf: values.sorted())
            return add(Node(kind: .intIn, column: pointer(columns.ints[s]), first: first, count: ints.count - first))
        case .isNull(.eventFloat(let s), _): return add(Node(kind: .floatNull, column: pointer(columns.floats[s])))
        case .isNull(.eventInt(let s), _): return add(Node(kind: .intNull, column: pointer(columns.ints[s])))
        case .isNull(.eventBool(let s), _): return add(Node(kind: .boolNull, column: pointer(columns.bools[s])))
        case .isNull(.eventString(let s), _): return add(Node(kind: .codeNull, column: pointer(columns.strings[s])))
        case .truthy(.eventBool(let s)):
            return add(Node(kind: .boolAsDouble, op: .equal, column: pointer(columns.bools[s]), literal: (1.0).bitPattern))
        case .eventStringCodes(let s, let codes):
            var passes = ContiguousArray<UInt8>(repeating: 0, count: Int(codes.max().map { $0 + 1 } ?? 0))
            for code in codes { passes[Int(code)] = 1 }
            return add(codeLeaf(s, passes))
        case .eventString(_, let s, let test) where events.dictionaries[s].count <= Self.maxOrderedDictionary:
            let dictionary = events.dictionaries[s]
            let passes = ContiguousArray<UInt8>((0..<dictionary.count).map { test.holds(dictionary.string(for: UInt32($0))) ? 1 : 0 })
            return add(codeLeaf(s, passes))
        default: break
        }
        fallbacks.append(plan)
        return add(Node(kind: .fallback, first: fallbacks.count - 1))
    }

    private func add(_ node: Node) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    /// `property op x` for a numeric or bool property, nil for any other value.
    private func numberLeaf(_ value: ValuePlan, _ op: Comparison, _ x: Double) -> Node? {
        let kind: Kind
        let column: UnsafeRawPointer?
        switch value {
        case .eventFloat(let s): (kind, column) = (.float, pointer(columns.floats[s]))
        case .eventInt(let s): (kind, column) = (.intAsDouble, pointer(columns.ints[s]))
        case .eventBool(let s): (kind, column) = (.boolAsDouble, pointer(columns.bools[s]))
        default: return nil
        }
        // A null constant: the comparison is false for every event.
        if x.isNaN { return Node(kind: .constant, literal: 0) }
        return Node(kind: kind, op: op, column: column, literal: x.bitPattern)
    }

    /// `property op x` over an int property; a null constant passes nothing.
    private func intLeaf(_ slot: Int, _ op: Comparison, _ x: Int64) -> Node {
        if x == NullSentinel.int { return Node(kind: .constant, literal: 0) }
        return Node(kind: .int, op: op, column: pointer(columns.ints[slot]), literal: UInt64(bitPattern: x))
    }

    private func codeLeaf(_ slot: Int, _ passes: ContiguousArray<UInt8>) -> Node {
        let first = codes.count
        codes.append(contentsOf: passes)
        codes.append(0)  // where larger codes and the null code land
        // One passing code (an equality): `literal` is it plus one, for the wide compare.
        let passing = passes.indices.filter { passes[$0] != 0 }
        let single = passing.count == 1 ? UInt64(passing[0]) + 1 : 0
        return Node(kind: .code, column: pointer(columns.strings[slot]), literal: single, first: first, count: passes.count + 1)
    }

    /// The address of a base column's first element (see the type's memory-safety note).
    private func pointer<T>(_ column: ContiguousArray<T>) -> UnsafeRawPointer? {
        column.withUnsafeBufferPointer { $0.baseAddress.map(UnsafeRawPointer.init) }
    }
}

extension UnsafeMutableBufferPointer {
    /// A new buffer holding a copy of `array`'s elements (trivial types only).
    fileprivate static func copy(_ array: ContiguousArray<Element>) -> UnsafeMutableBufferPointer<Element> {
        let buffer = UnsafeMutableBufferPointer<Element>.allocate(capacity: Swift.max(1, array.count))
        _ = buffer.initialize(from: array)
        return buffer
    }
}

extension ValuePlan {
    /// True for a property of the filtered event.
    var isEventProperty: Bool {
        switch self {
        case .eventInt, .eventFloat, .eventBool, .eventString: true
        default: false
        }
    }
}

extension EventFilter {
    /// The run of consecutive base positions a mask asks about: the `i`th is `start + i`.
    struct Positions {
        let start: Int
        @inline(__always) func callAsFunction(_ i: Int) -> Int { start + i }
        @inline(__always) func advanced(by k: Int) -> Self { Self(start: start + k) }
    }
}

/// A filter's verdicts for one row's window, read from the bits `EventFilter.fill` wrote
/// over a span of positions or over a list in which the window's positions are
/// consecutive: bit `p - start` is position `p`'s verdict. What the batch kernel computes once per batch
/// instead of once per row. Valid while the buffer it was filled into is.
struct SelectedEvents {
    /// The verdict bits; one word of padding past the last, so a run crossing a word
    /// boundary reads two words.
    let words: UnsafePointer<UInt64>
    let start: Int

    /// The number of selected positions in `window`.
    @inline(__always)
    func count(in window: Range<Int>) -> Int {
        var n = 0
        forEachMask(window) { _, m in n += m.nonzeroBitCount }
        return n
    }

    /// As `EventFilter.forEachMask`, for `window`.
    @inline(__always)
    func forEachMask(_ window: Range<Int>, _ body: (Int, UInt64) -> Void) {
        var p = window.lowerBound
        while p < window.upperBound {
            let n = Swift.min(64, window.upperBound - p)
            let bit = p - start
            let (w, offset) = (bit >> 6, UInt64(bit & 63))
            var m = words[w] &>> offset
            if offset != 0 { m |= words[w + 1] &<< (64 - offset) }
            body(p, n == 64 ? m : m & ((1 &<< UInt64(n)) &- 1))
            p += n
        }
    }
}
