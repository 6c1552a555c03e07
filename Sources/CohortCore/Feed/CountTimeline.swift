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
/// evaluation at every event breakpoint.
struct CountTimeline: Sendable {
    /// One `count(...) op k` comparison of the plan.
    struct Atom: Sendable {
        let table: Int
        /// The window length D; nil for no window.
        let length: Double?
        let comparison: Comparison
        let threshold: Double

        func holds(_ count: Int) -> Bool { comparison.holds(Double(count), threshold) }
    }

    let atoms: [Atom]

    /// The timeline of `plan`, or nil when the plan has another aggregate shape.
    init?(_ plan: BoolPlan) {
        var atoms: [Atom] = []
        guard plan.collectCountAtoms(&atoms), !atoms.isEmpty else { return nil }
        self.atoms = atoms
    }

    /// The seconds after `T` at which some atom's truth changes, ascending, without
    /// duplicates. `times` reads one user's event times of a table.
    func flips(after T: Int64, times: (Int) -> [Int64]) -> [Int64] {
        var out: [Int64] = []
        var byTable: [Int: [Int64]] = [:]
        for atom in atoms {
            let te = byTable[atom.table] ?? { let t = times(atom.table).sorted(); byTable[atom.table] = t; return t }()
            // Count changes: +1 at each te, -1 at each leaving time; both lists ascending.
            let leaves = atom.length.map { d in te.map { Int64((Double($0) + d).rounded(.down)) + 1 } } ?? []
            var (i, j, count) = (0, 0, 0)
            var truth: Bool?
            while i < te.count || j < leaves.count {
                let t = Swift.min(i < te.count ? te[i] : .max, j < leaves.count ? leaves[j] : .max)
                while i < te.count, te[i] == t { count += 1; i += 1 }
                while j < leaves.count, leaves[j] == t { count -= 1; j += 1 }
                if t <= T { continue }
                let now = atom.holds(count)
                // The truth at T, from the count of every change up to T.
                if truth == nil { truth = atom.holds(countAt(T, te, leaves)) }
                if now != truth { out.append(t); truth = now }
            }
        }
        out.sort()
        var unique: [Int64] = []
        for t in out where unique.last != t { unique.append(t) }
        return unique
    }

    private func countAt(_ T: Int64, _ te: [Int64], _ leaves: [Int64]) -> Int {
        func upTo(_ a: [Int64]) -> Int {
            var (low, high) = (0, a.count)
            while low < high {
                let mid = (low + high) / 2
                if a[mid] <= T { low = mid + 1 } else { high = mid }
            }
            return low
        }
        return upTo(te) - upTo(leaves)
    }
}

extension BoolPlan {
    /// Adds the count atoms; false when some aggregate is not a count atom.
    fileprivate func collectCountAtoms(_ atoms: inout [CountTimeline.Atom]) -> Bool {
        switch self {
        case .constant, .index, .eventString, .eventStringCodes: return true
        case .and(let terms), .or(let terms): return terms.allSatisfy { $0.collectCountAtoms(&atoms) }
        case .not(let inner), .segment(_, let inner): return inner.collectCountAtoms(&atoms)
        case .compareNumbers(let l, let op, let r), .compareInts(let l, let op, let r):
            if let atom = CountTimeline.atom(l, op, r) ?? CountTimeline.atom(r, op.mirrored, l) {
                atoms.append(atom)
                return true
            }
            return !l.containsAggregate && !r.containsAggregate
        case .compareStrings(let l, _, let r): return !l.containsAggregate && !r.containsAggregate
        case .numberIn(let v, _), .intIn(let v, _), .stringIn(let v, _), .isNull(let v, _), .truthy(let v):
            return !v.containsAggregate
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
