/// The closed form of FEATURES §1.5.3 for the common shape: plans whose aggregates are
/// all `count(e)` or `count(e, last D)` (no property, no filter, D a literal) compared
/// with literals (`count(ride, last 90d) >= 8 and not count(ride, last 14d) >= 1`), with
/// any attribute tests and comparisons of attributes with `now` around them.
///
/// Each count threshold ("atom") is a step function of time whose steps are computed by
/// one sweep over the user's event times: an event at `te` enters the window at `te`
/// and leaves `last D` at `floor(te + D) + 1`. Between two consecutive atom flips, or
/// flips of the `now` comparisons (which have no aggregate, so one affine interval each),
/// nothing the plan reads changes, so `m` is evaluated only at those seconds: O(events
/// × atoms) for the sweep plus one evaluation per candidate, against the general walk's
/// evaluation at every event breakpoint. Without `now` comparisons the plan is decided
/// from the atoms' truths and its other tests (evaluated once) at each flip, with no
/// evaluation at all (`membershipAndNext`): the write path of such a watch.
///
/// Immutable, and a class so that holding or passing it costs one reference, not a
/// retain of each of its arrays (the write path reaches it once per write).
final class CountTimeline: Sendable {
    /// One `count(...) op k` comparison of the plan.
    struct Atom: Sendable {
        let table: Int
        /// The window length D; nil for no window.
        let length: Double?
        let comparison: Comparison
        let threshold: Double
        /// `D + 1` when D is a whole number of seconds (the usual `last 14d`): then the
        /// second an event at `te` leaves the window, `floor(te + D) + 1`, is exactly
        /// `te + D + 1` (te is whole, and both fit a Double's 53 bits), with no floor call.
        private let wholeStay: Int64?

        init(table: Int, length: Double?, comparison: Comparison, threshold: Double) {
            (self.table, self.length, self.comparison, self.threshold) = (table, length, comparison, threshold)
            wholeStay = length.flatMap { d in d == d.rounded(.down) && abs(d) < 0x1p52 ? Int64(d) + 1 : nil }
        }

        func holds(_ count: Int) -> Bool { comparison.holds(Double(count), threshold) }

        /// The second an event at `te` leaves `last D` (D = `length`, not nil).
        @inline(__always) func leaving(_ te: Int64) -> Int64 {
            if let wholeStay { return te + wholeStay }
            return Int64((Double(te) + length!).rounded(.down)) + 1
        }
    }

    /// The plan as boolean structure over its atoms and its other tests ("leaves":
    /// attribute tests and comparisons without an aggregate), which a write or time
    /// does not change between two atom flips.
    indirect enum Node: Sendable {
        case atom(Int)
        case leaf(Int)
        case and([Node])
        case or([Node])
        case not(Node)

        func holds(_ atoms: [Bool], _ leaves: [Bool]) -> Bool {
            switch self {
            case .atom(let i): atoms[i]
            case .leaf(let i): leaves[i]
            case .and(let terms): terms.allSatisfy { $0.holds(atoms, leaves) }
            case .or(let terms): terms.contains { $0.holds(atoms, leaves) }
            case .not(let inner): !inner.holds(atoms, leaves)
            }
        }
    }

    let atoms: [Atom]
    let root: Node
    let leaves: [BoolPlan]
    /// The event tables the atoms count, without duplicates.
    let tables: [Int]
    /// Per atom, the index in `tables` of its table.
    private let slots: [Int]
    /// For a plan of at most 6 atoms and no leaves: bit `m` is the plan's value when atom
    /// `a` holds exactly when bit `a` of `m` is set. Deciding the plan at a flip is then
    /// a shift, not a walk of `root`.
    private let truthTable: UInt64?

    /// The timeline of `plan`, or nil when the plan has another aggregate shape.
    init?(_ plan: BoolPlan) {
        var atoms: [Atom] = []
        var leaves: [BoolPlan] = []
        guard let root = plan.countNode(&atoms, &leaves), !atoms.isEmpty else { return nil }
        (self.atoms, self.root, self.leaves) = (atoms, root, leaves)
        var tables: [Int] = []
        for atom in atoms where !tables.contains(atom.table) { tables.append(atom.table) }
        self.tables = tables
        slots = atoms.map { atom in tables.firstIndex(of: atom.table)! }
        if leaves.isEmpty, atoms.count <= 6 {
            var table: UInt64 = 0
            for mask in 0..<(1 << atoms.count) where root.holds(atoms.indices.map { mask & (1 << $0) != 0 }, []) {
                table |= 1 << UInt64(mask)
            }
            truthTable = table
        } else {
            truthTable = nil
        }
    }

    /// One user's event times per table of `tables` (same order), each ascending.
    typealias Times = [[Int64]]

    /// The seconds after `T` at which some atom's truth changes, ascending, without
    /// duplicates.
    func flips(after T: Int64, _ times: Times) -> [Int64] {
        var out: [Int64] = []
        for atom in atoms.indices { sweep(atom, after: T, times) { t in out.append(t) } }
        out.sort()
        var unique: [Int64] = []
        for t in out where unique.last != t { unique.append(t) }
        return unique
    }

    /// Buffers `membershipAndNext` reuses from call to call, so that deciding one user
    /// allocates nothing once they have grown: the user's event times per table of
    /// `tables`, the atoms' and leaves' truths, the atoms' flips. Scratch, not state:
    /// any timeline may use any scratch.
    struct Scratch: Sendable {
        var times: Times = []
        fileprivate var truths: [Bool] = []
        fileprivate var leafTruths: [Bool] = []
        fileprivate var flips: [(time: Int64, atom: Int)] = []

        /// `times` with one (emptied by the caller) buffer per table of `timeline`.
        mutating func prepare(for timeline: CountTimeline) {
            while times.count < timeline.tables.count { times.append([]) }
        }
    }

    /// Whether the plan is its atoms alone (no attribute test, nothing to instantiate):
    /// its membership and next change follow from the user's event times only.
    var readsTimesOnly: Bool { leaves.isEmpty }

    /// `row`'s event times in each of `tables`' tables, ascending, into `scratch.times`.
    func fillTimes(of row: UInt32, in db: borrowing Database, into scratch: inout Scratch) {
        scratch.prepare(for: self)
        for (k, table) in tables.enumerated() { db.events.tables[table].times(of: row, into: &scratch.times[k]) }
    }

    /// `fillTimes(of:in:into:)` for a caller that owns the tables (the write path), which
    /// reads them in place (`timesInPlace`: `tables` is not changed) instead of copying
    /// each out of the array.
    func fillTimes(of row: UInt32, from tables: inout [EventTable], into scratch: inout Scratch) {
        scratch.prepare(for: self)
        for (k, table) in self.tables.enumerated() { tables[table].timesInPlace(of: row, into: &scratch.times[k]) }
    }

    /// The membership at `T` and its next change after `T` (nil: none up to `horizon`),
    /// for a plan whose leaves do not depend on time (no comparison with `now`): the
    /// atoms' truths at `T` and their flips come from one sweep each over
    /// `scratch.times` (the user's, filled by the caller), and the plan is re-decided
    /// only at those flips, without the evaluator. `leaf(i)` is leaf i's truth for this
    /// user, asked once each.
    func membershipAndNext(
        after T: Int64, horizon: Int64, _ scratch: inout Scratch, leaf: (BoolPlan) -> Bool
    ) -> (member: Bool, next: Int64?) {
        // Moved out while they are filled (the sweep reads `scratch.times`), back at the end.
        var (truths, leafTruths, flips) = (scratch.truths, scratch.leafTruths, scratch.flips)
        (scratch.truths, scratch.leafTruths, scratch.flips) = ([], [], [])
        defer { (scratch.truths, scratch.leafTruths, scratch.flips) = (truths, leafTruths, flips) }
        leafTruths.removeAll(keepingCapacity: true)
        for l in leaves { leafTruths.append(leaf(l)) }
        truths.removeAll(keepingCapacity: true)
        flips.removeAll(keepingCapacity: true)
        for atom in atoms.indices {
            // Each atom's flips come ascending: inserted from the end, in order (a few
            // per user, so this beats a sort and its comparator calls).
            truths.append(sweep(atom, after: T, scratch.times) { t in
                flips.append((t, atom))
                var k = flips.count - 1
                while k > 0, flips[k - 1].time > t {
                    flips.swapAt(k - 1, k)
                    k -= 1
                }
            })
        }
        // The atoms' truths as a mask too, for the truth table when there is one.
        var mask = 0
        for (a, truth) in truths.enumerated() where truth { mask |= 1 << a }
        func decided() -> Bool {
            if let truthTable { return truthTable >> UInt64(mask) & 1 == 1 }
            return root.holds(truths, leafTruths)
        }
        let member = decided()
        var k = 0
        while k < flips.count, flips[k].time <= horizon {
            let t = flips[k].time
            while k < flips.count, flips[k].time == t {
                truths[flips[k].atom].toggle()
                mask ^= 1 << flips[k].atom
                k += 1
            }
            if decided() != member { return (member, t) }
        }
        return (member, nil)
    }

    /// Atom `index`'s truth at `T`; calls `flip` with each later second at which it
    /// changes, ascending. Its count changes by +1 at each event time `te` and by -1 at
    /// `floor(te + D) + 1` (leaving `last D`), both ascending in `te`.
    @discardableResult
    private func sweep(_ index: Int, after T: Int64, _ times: Times, _ flip: (Int64) -> Void) -> Bool {
        let atom = atoms[index]
        let te = times[slots[index]]
        @inline(__always) func leave(_ j: Int) -> Int64 { atom.leaving(te[j]) }
        let leaves = atom.length == nil ? 0 : te.count
        // Events that entered and left the window by T (a prefix: leaving is ascending
        // in te) count nothing from T on: skipped by binary search.
        var gone = 0
        if leaves > 0 {
            var high = te.count
            while gone < high {
                let mid = (gone + high) / 2
                if leave(mid) <= T { gone = mid + 1 } else { high = mid }
            }
        }
        var (i, j, count) = (gone, gone, 0)
        // Every change up to T first: the count, and so the truth, at T.
        while i < te.count, te[i] <= T { count &+= 1; i += 1 }
        while j < leaves, leave(j) <= T { count &-= 1; j += 1 }
        var truth = atom.holds(count)
        let atT = truth
        while i < te.count || j < leaves {
            let t = Swift.min(i < te.count ? te[i] : .max, j < leaves ? leave(j) : .max)
            while i < te.count, te[i] == t { count &+= 1; i += 1 }
            while j < leaves, leave(j) == t { count &-= 1; j += 1 }
            let now = atom.holds(count)
            if now != truth {
                flip(t)
                truth = now
            }
        }
        return atT
    }
}

extension BoolPlan {
    /// The plan as a `CountTimeline.Node`, adding its atoms and leaves; nil when some
    /// aggregate is not a count atom.
    fileprivate func countNode(_ atoms: inout [CountTimeline.Atom], _ leaves: inout [BoolPlan]) -> CountTimeline.Node? {
        func leaf() -> CountTimeline.Node {
            leaves.append(self)
            return .leaf(leaves.count - 1)
        }
        switch self {
        case .constant, .index, .eventString, .eventStringCodes: return leaf()
        case .and(let terms), .or(let terms):
            var nodes: [CountTimeline.Node] = []
            for term in terms {
                guard let node = term.countNode(&atoms, &leaves) else { return nil }
                nodes.append(node)
            }
            if case .and = self { return .and(nodes) }
            return .or(nodes)
        case .not(let inner): return inner.countNode(&atoms, &leaves).map { .not($0) }
        case .segment(_, let inner): return inner.countNode(&atoms, &leaves)
        case .compareNumbers(let l, let op, let r), .compareInts(let l, let op, let r):
            if let atom = CountTimeline.atom(l, op, r) ?? CountTimeline.atom(r, op.mirrored, l) {
                atoms.append(atom)
                return .atom(atoms.count - 1)
            }
            return l.containsAggregate || r.containsAggregate ? nil : leaf()
        case .compareStrings(let l, _, let r): return l.containsAggregate || r.containsAggregate ? nil : leaf()
        case .numberIn(let v, _), .intIn(let v, _), .stringIn(let v, _), .isNull(let v, _), .truthy(let v):
            return v.containsAggregate ? nil : leaf()
        }
    }
}

extension CountTimeline {
    /// `count op literal` as an atom.
    fileprivate static func atom(_ l: ValuePlan, _ op: Comparison, _ r: ValuePlan) -> Atom? {
        guard case .aggregate(let a) = l, a.function == .count, a.property == nil, a.filter == nil else { return nil }
        let threshold: Double
        switch r {
        case .integer(let k): threshold = Double(k)
        case .number(let k) where !k.isNaN: threshold = k
        default: return nil
        }
        switch a.window {
        case .all: return Atom(table: a.table, length: nil, comparison: op, threshold: threshold)
        case .last(.number(let d)) where d.isFinite: return Atom(table: a.table, length: d, comparison: op, threshold: threshold)
        case .last(.integer(let d)): return Atom(table: a.table, length: Double(d), comparison: op, threshold: threshold)
        default: return nil
        }
    }
}
