/// `SERIES.COUNT` of a count-threshold segment in one pass over the users for every
/// bucket, instead of one scan per bucket: the series' shared per-user pass.
///
/// The shape is `CountTimeline`'s (every aggregate a `count(e)` or `count(e, last D)`
/// compared with a literal, any attribute tests around them), with leaves that read
/// neither the clock nor the bucket (`now`, `bucket_start`, `bucket_end`). Then a
/// user's membership at each `now_b` is the plan's boolean structure over its count
/// atoms' truths at `now_b` and its leaves' truths, which do not change with the bucket.
///
/// - Rows with no event of an atom's type anywhere the series' windows reach (by the
///   activity index and the delta users) have the same membership in every bucket: one
///   ordinary evaluation at the first bucket's `now_b` counts them for all.
/// - Every other row is read once: per atom, two cursors over its time-sorted events
///   slide with the buckets' windows (both bounds ascend), giving the count at each
///   `now_b`; the truths of up to 64 buckets are one word, and the plan is evaluated over
///   words (a flat postfix program), so a row costs O(its events in the span + atoms ×
///   buckets / 64) after its slice is found.
///
/// Every answer equals the per-bucket evaluation's (the windows come from
/// `EventWindow.bounds`, the one place window arithmetic happens).
struct CountSeries: Sendable {
    let plan: BoolPlan
    let timeline: CountTimeline

    /// One instruction of the plan over bucket words, postfix.
    private enum Op: Sendable {
        case atom(Int)
        case leaf(Int)
        case and(Int)
        case or(Int)
        case not
    }
    private let program: [Op]

    /// The shared pass for `plan`, or nil when the plan has another shape.
    init?(_ plan: BoolPlan) {
        guard let timeline = CountTimeline(plan), !timeline.leaves.contains(where: \.readsClock) else { return nil }
        (self.plan, self.timeline) = (plan, timeline)
        var program: [Op] = []
        func emit(_ node: CountTimeline.Node) {
            switch node {
            case .atom(let i): program.append(.atom(i))
            case .leaf(let i): program.append(.leaf(i))
            case .and(let terms):
                terms.forEach(emit)
                program.append(.and(terms.count))
            case .or(let terms):
                terms.forEach(emit)
                program.append(.or(terms.count))
            case .not(let inner):
                emit(inner)
                program.append(.not)
            }
        }
        emit(timeline.root)
        self.program = program
    }

    /// The number of live users in the segment at each of `nows` (ascending);
    /// `evaluator` is the first bucket's (at `nows[0]`), for the rows that are the same
    /// in every bucket.
    func counts(_ nows: [Int64], _ db: Database, evaluator: Evaluator) -> [Int] {
        guard let firstNow = nows.first, let lastNow = nows.last else { return [] }
        let live = db.users.live
        let atoms = timeline.atoms
        // Per atom and bucket, the window at now_b as inclusive seconds (nil: empty).
        let windows: [[ClosedRange<UInt32>?]] = atoms.map { atom in
            let window: WindowPlan = atom.length.map { .last(.number($0)) } ?? .all
            return nows.map { now in EventWindow.bounds(window, now: now) { if case .number(let x) = $0 { x } else { .nan } } }
        }
        // The rows whose counts may differ between buckets: events of an atom's type
        // inside a window (windowed atoms) or between the first and last now_b.
        var active = Bitmap()
        for (a, atom) in atoms.enumerated() {
            let table = db.events.tables[atom.table]
            let lower: Int64 = atom.length == nil ? firstNow + 1 : Int64(windows[a].compactMap(\.?.lowerBound).first ?? UInt32.max)
            active.formUnion(table.rowsWithEvents(from: lower, through: lastNow))
        }
        active.formIntersection(live)
        let steady = evaluator.rows(plan, within: live.subtracting(active)).count
        let leaves = timeline.leaves.map { evaluator.rows($0, within: live) }
        let rows = active.toArray()
        // Flat, for the per-row loop: atom a's window at bucket b is `flat[a * buckets + b]`,
        // an empty one (1, 0).
        let flat = ContiguousArray(windows.joined().map { $0.map { ($0.lowerBound, $0.upperBound) } ?? (1, 0) })
        let parts = parallelChunks(rows, chunk: 4096) { chunk in
            flat.withUnsafeBufferPointer { count(chunk, nows.count, $0, leaves, db) }
        }
        var total = [Int](repeating: steady, count: nows.count)
        for part in parts { for b in total.indices { total[b] += part[b] } }
        return total
    }

    /// The counts per bucket over `rows`.
    private func count(
        _ rows: ArraySlice<UInt32>, _ buckets: Int, _ windows: UnsafeBufferPointer<(UInt32, UInt32)>, _ leaves: [Bitmap], _ db: Database
    ) -> [Int] {
        let atoms = timeline.atoms
        let words = (buckets + 63) / 64
        let thresholds = atoms.map { CountRange($0.comparison, $0.threshold) }
        // Each atom's table, its base times and offsets as buffers (the tables, held
        // until the end, keep them alive: the per-row loop then costs no reference
        // counting, which threads reading the same buffers would contend on), and its
        // delta when it has one.
        let tables = atoms.map { db.events.tables[$0.table] }
        let times = tables.map { $0.times.withUnsafeBufferPointer { $0 } }
        let offsets = tables.map { $0.offsets.withUnsafeBufferPointer { $0 } }
        let deltas = tables.map { $0.deltaUsers.isEmpty ? nil : DeltaReader($0, nil) }
        var counts = [Int](repeating: 0, count: buckets)
        var truths = [UInt64](repeating: 0, count: atoms.count * words)
        var leafTruths = [Bool](repeating: false, count: leaves.count)
        var stack: [UInt64] = []
        var merged = ContiguousArray<UInt32>()
        /// Counts the buckets of word `w` whose bit is set in `member`.
        func tally(_ member: UInt64, _ w: Int) {
            var member = member
            if w == words - 1, buckets % 64 != 0 { member &= (1 << UInt64(buckets % 64)) &- 1 }
            while member != 0 {
                counts[64 * w + member.trailingZeroBitCount] += 1
                member &= member &- 1
            }
        }
        for row in rows {
            for a in atoms.indices {
                // The row's times: its base slice, merged with its delta events if any.
                let r = Int(row)
                let slice = r + 1 < offsets[a].count ? Int(offsets[a][r])..<Int(offsets[a][r + 1]) : 0..<0
                if let delta = deltas[a], let list = delta.list(of: row) {
                    merged.removeAll(keepingCapacity: true)
                    merged.append(contentsOf: times[a][slice])
                    var d = list.first
                    while d != EventTable.DeltaList.end {
                        merged.append(delta.times[Int(d)])
                        d = delta.next[Int(d)]
                    }
                    merged.sort()
                    merged.withUnsafeBufferPointer { sweep(a, $0, 0..<$0.count, UnsafeBufferPointer(rebasing: windows[(a * buckets)..<((a + 1) * buckets)]), thresholds[a], into: &truths, words) }
                } else {
                    sweep(a, times[a], slice, UnsafeBufferPointer(rebasing: windows[(a * buckets)..<((a + 1) * buckets)]), thresholds[a], into: &truths, words)
                }
            }
            if case .atom(let i) = program[0], program.count == 1 {
                // The plan is one count threshold: its truths are the memberships.
                for w in 0..<words { tally(truths[i * words + w], w) }
                continue
            }
            for i in leaves.indices { leafTruths[i] = leaves[i].contains(row) }
            for w in 0..<words {
                stack.removeAll(keepingCapacity: true)
                for op in program {
                    switch op {
                    case .atom(let i): stack.append(truths[i * words + w])
                    case .leaf(let i): stack.append(leafTruths[i] ? ~0 : 0)
                    case .and(let n):
                        var x: UInt64 = ~0
                        for _ in 0..<n { x &= stack.removeLast() }
                        stack.append(x)
                    case .or(let n):
                        var x: UInt64 = 0
                        for _ in 0..<n { x |= stack.removeLast() }
                        stack.append(x)
                    case .not: stack.append(~stack.removeLast())
                    }
                }
                tally(stack[0], w)
            }
        }
        withExtendedLifetime(tables) {}
        return counts
    }

    /// Atom `a`'s truth at each bucket into its words of `truths`: two cursors over the
    /// row's ascending `times[slice]`, one past the events before the window's start, one
    /// past those up to its end, both moving forward only (the windows ascend).
    @inline(__always)
    private func sweep(
        _ a: Int, _ times: UnsafeBufferPointer<UInt32>, _ slice: Range<Int>, _ windows: UnsafeBufferPointer<(UInt32, UInt32)>,
        _ threshold: CountRange, into truths: inout [UInt64], _ words: Int
    ) {
        let end = slice.upperBound
        var (lo, hi) = (slice.lowerBound, slice.lowerBound)
        var searched = false
        for w in 0..<words { truths[a * words + w] = 0 }
        for b in windows.indices {
            let (lower, upper) = windows[b]
            var count = 0
            if lower <= upper {
                if !searched {
                    // The first window by binary search (a long history), the rest by
                    // stepping (consecutive windows move by a bucket).
                    lo = EventWindow.firstIndex(times, lo, end) { $0 >= lower }
                    hi = EventWindow.firstIndex(times, lo, end) { $0 > upper }
                    searched = true
                }
                while lo < end, times[lo] < lower { lo += 1 }
                if hi < lo { hi = lo }
                while hi < end, times[hi] <= upper { hi += 1 }
                count = hi - lo
            }
            truths[a * words + b / 64] |= UInt64(threshold.holds(count) ? 1 : 0) << UInt64(b % 64)
        }
    }
}

/// `count op k` as an interval test on the integer count: `holds(c)` is `lower <= c <=
/// upper`, complemented for `!=`, exactly `op.holds(Double(c), k)` for every count
/// (what lets the per-bucket loop compare without a switch or a conversion).
struct CountRange: Sendable {
    let lower: Int
    let upper: Int
    let complement: Bool

    init(_ op: Comparison, _ k: Double) {
        func int(_ x: Double) -> Int { x >= 9e18 ? .max : x <= -9e18 ? .min : Int(x) }
        let integral = k.rounded() == k
        switch op {
        case .greaterOrEqual: (lower, upper, complement) = (int(k.rounded(.up)), .max, false)
        case .greater: (lower, upper, complement) = (int(k.rounded(.down)) &+ 1, .max, false)
        case .lessOrEqual: (lower, upper, complement) = (.min, int(k.rounded(.down)), false)
        case .less: (lower, upper, complement) = (.min, int(k.rounded(.up)) &- 1, false)
        case .equal: (lower, upper, complement) = integral ? (int(k), int(k), false) : (1, 0, false)
        case .notEqual: (lower, upper, complement) = integral ? (int(k), int(k), true) : (1, 0, true)
        }
    }

    @inline(__always) func holds(_ count: Int) -> Bool { (lower <= count && count <= upper) != complement }
}

extension BoolPlan {
    /// Whether the plan reads the clock or the bucket outside aggregates (`now`,
    /// `bucket_start`, `bucket_end` in a comparison): its truth may change with time
    /// even when no event enters or leaves a window.
    var readsClock: Bool {
        func clock(_ v: ValuePlan) -> Bool {
            v.contains {
                switch $0 {
                case .now, .bucketStart, .bucketEnd: true
                default: false
                }
            }
        }
        switch self {
        case .constant, .index, .eventString, .eventStringCodes: return false
        case .and(let terms), .or(let terms): return terms.contains { $0.readsClock }
        case .not(let inner), .segment(_, let inner): return inner.readsClock
        case .compareNumbers(let l, _, let r), .compareInts(let l, _, let r), .compareStrings(let l, _, let r): return clock(l) || clock(r)
        case .numberIn(let v, _), .intIn(let v, _), .stringIn(let v, _), .isNull(let v, _), .truthy(let v): return clock(v)
        }
    }
}
