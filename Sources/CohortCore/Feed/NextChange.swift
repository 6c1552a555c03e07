/// A watched segment's next-change finder (FEATURES §1.5.3, Appendix B.1):
/// `next(s, u, T) = min { t > T : m(s, u, t) ≠ M }`, exactly, for a time-analyzable plan.
///
/// The walk: from `c = T`, the next **event breakpoint** `nb` is the least second after
/// `c` at which some aggregate of the plan can change for this user (an event becoming
/// visible at `te`, leaving a `last D` window at `floor(te + D) + 1`, crossing a bound
/// `now + a` at `floor(te − a) + 1`), with the window lengths and bounds evaluated at
/// `c` (nested aggregates are constant until their own breakpoints, which are among the
/// candidates too). Inside `(c, nb)` every aggregate is constant, so each comparison
/// with `now` on a side is affine in `now` and its sign changes at most twice: its
/// first change is solved from two evaluations and checked exactly with the evaluator
/// (a binary search over the interval if the estimate was off), and an equality also
/// yields the second after. `m` is evaluated at those candidates in order, then at
/// `nb`; the first that differs from `M` is the answer. Between candidates `m` is
/// constant, so nothing is skipped.
///
/// Cost per user: O(breakpoints visited × (aggregates × user's events + evaluation)).
/// It stops at the first change, and a user with no event breakpoint and no comparison
/// with `now` costs one pass over its events.
///
/// Immutable, and a class so that holding it costs one reference: the write path reads
/// it from its watch once per write, where a struct's copy retained each of its arrays.
final class NextChange: Sendable {
    /// The latest second the feed schedules (9999-12-31T23:59:59Z); later is "never".
    static let horizon: Int64 = 253_402_300_799

    let plan: BoolPlan
    private let aggregates: [AggregatePlan]
    private let tests: [FlipTest]
    /// The closed form, when every aggregate is a count threshold.
    private let timeline: CountTimeline?

    /// `plan` instantiated against the database the evaluator reads.
    init(_ plan: BoolPlan) {
        self.plan = plan
        var aggregates: [AggregatePlan] = []
        var tests: [FlipTest] = []
        plan.collect(aggregates: &aggregates, tests: &tests)
        self.aggregates = aggregates
        self.tests = tests
        self.timeline = CountTimeline(plan)
    }

    /// For a plan decided by event times alone (count thresholds and nothing else,
    /// `dormant_riders`), `row`'s membership at `T` and next change from the closed form,
    /// with no evaluator, reading the tables in place (the write path,
    /// `Database.feedAfterWrite`, which owns them); nil for another plan. A method, so
    /// that the write path borrows the timeline where it is stored instead of copying it
    /// out (a retain and a release of each of its arrays, per write).
    func timesOnlyMembershipAndNext(
        of row: UInt32, after T: Int64, from tables: inout [EventTable], _ scratch: inout CountTimeline.Scratch
    ) -> (member: Bool, next: Int64?)? {
        guard tests.isEmpty, let timeline, timeline.readsTimesOnly else { return nil }
        timeline.fillTimes(of: row, from: &tables, into: &scratch)
        return timeline.membershipAndNext(after: T, horizon: Self.horizon, &scratch) { _ in
            preconditionFailure("a plan of count thresholds alone has no other test")
        }
    }

    /// The closed form when it decides both the membership and the next change without
    /// the evaluator (`CountTimeline.membershipAndNext`): a count-threshold plan with no
    /// comparison with `now`; nil for other plans.
    var closedForm: CountTimeline? { tests.isEmpty ? timeline : nil }

    /// Whether time alone can ever change anything (some aggregate or `now` comparison).
    var dependsOnTime: Bool { !aggregates.isEmpty || !tests.isEmpty }

    /// The next change of `row` after `T`, given its membership `member` at `T`; nil for
    /// none before the horizon. Moves `evaluator.now`.
    /// `scratch` is any buffers (reused by the caller across users).
    func after(_ T: Int64, row: UInt32, member: Bool, _ evaluator: inout Evaluator, _ scratch: inout CountTimeline.Scratch) -> Int64? {
        guard dependsOnTime else { return nil }
        evaluator.now = T
        if let closedForm {
            // The times first: `evaluator.db` borrowed while a closure captures the
            // evaluator would be copied (a retain per column, per user).
            closedForm.fillTimes(of: row, in: evaluator.db, into: &scratch)
            return closedForm.membershipAndNext(after: T, horizon: Self.horizon, &scratch) { evaluator.test($0, row, nil) }.next
        }
        if let timeline { return after(T, row: row, member: member, timeline, &evaluator, &scratch) }
        var c = T
        while c < Self.horizon {
            evaluator.now = c
            let nb = Swift.min(nextBreakpoint(after: c, row, evaluator), Self.horizon + 1)
            if nb > c + 1, !tests.isEmpty {
                var candidates: [Int64] = []
                for test in tests { flips(test, c, nb, row, &evaluator, into: &candidates) }
                candidates.sort()
                for f in candidates {
                    evaluator.now = f
                    if evaluator.test(plan, row, nil) != member { return f }
                }
            }
            if nb > Self.horizon { return nil }
            evaluator.now = nb
            if evaluator.test(plan, row, nil) != member { return nb }
            c = nb
        }
        return nil
    }

    /// `after` by the closed form: `m` evaluated at the atoms' flips and the `now`
    /// comparisons' flips only (no aggregate in those, so one interval up to the horizon).
    private func after(
        _ T: Int64, row: UInt32, member: Bool, _ timeline: CountTimeline, _ evaluator: inout Evaluator, _ scratch: inout CountTimeline.Scratch
    ) -> Int64? {
        timeline.fillTimes(of: row, in: evaluator.db, into: &scratch)
        var candidates = timeline.flips(after: T, scratch.times)
        if !tests.isEmpty {
            for test in tests { flips(test, T, Self.horizon + 1, row, &evaluator, into: &candidates) }
            candidates.sort()
        }
        for f in candidates where f <= Self.horizon {
            evaluator.now = f
            if evaluator.test(plan, row, nil) != member { return f }
        }
        return nil
    }

    /// The least event breakpoint after `c`, with lengths and bounds as at `c`
    /// (`evaluator.now == c`); `Int64.max` when there is none.
    private func nextBreakpoint(after c: Int64, _ row: UInt32, _ evaluator: Evaluator) -> Int64 {
        var best = Int64.max
        @inline(__always) func consider(_ t: Int64) { if t > c, t < best { best = t } }
        func crossing(_ x: Double) -> Int64? { x.isFinite && abs(x) < 1e17 ? Int64(x.rounded(.down)) + 1 : nil }
        for a in aggregates {
            var shifts: [Double] = []
            switch a.window {
            case .all: break
            case .last(let length):
                // Leaves `now - D <= t` at floor(te + D) + 1.
                let d = evaluator.number(length, row, nil)
                if !d.isNaN { shifts.append(d) }
            case .range(let lower, let upper):
                // `now + a <= te` stops at floor(te - a) + 1; `te < now + b` starts there.
                for bound in [lower, upper] where bound.containsNow {
                    let x = evaluator.number(bound, row, nil)
                    if !x.isNaN { shifts.append(-(x - Double(c))) }
                }
            }
            evaluator.db.events.tables[a.table].forEachTime(of: row) { time in
                let te = Int64(time)
                consider(te)
                for s in shifts { if let t = crossing(Double(te) + s) { consider(t) } }
            }
        }
        return best
    }

    /// Adds the seconds in `(c, nb)` where `test`'s sign changes.
    private func flips(_ test: FlipTest, _ c: Int64, _ nb: Int64, _ row: UInt32, _ evaluator: inout Evaluator, into out: inout [Int64]) {
        switch test {
        case .numbers(let l, let r):
            signChanges(c, nb, &evaluator, into: &out) { e in
                let (x, y) = (e.number(l, row, nil), e.number(r, row, nil))
                return x.isNaN || y.isNaN ? nil : x - y
            }
        case .ints(let l, let r):
            signChanges(c, nb, &evaluator, into: &out) { e in
                let (x, y) = (e.integer(l, row, nil), e.integer(r, row, nil))
                if x.isNull || y.isNull { return nil }
                let (d, overflow) = x.subtractingReportingOverflow(y)
                return overflow ? (x < y ? -Double.infinity : .infinity) : Double(d)
            }
        case .numberIn(let v, let values):
            for value in values {
                signChanges(c, nb, &evaluator, into: &out) { e in
                    let x = e.number(v, row, nil)
                    return x.isNaN ? nil : x - value
                }
            }
        case .intIn(let v, let values):
            for value in values {
                signChanges(c, nb, &evaluator, into: &out) { e in
                    let x = e.integer(v, row, nil)
                    return x.isNull ? nil : Double(x) - Double(value)
                }
            }
        }
    }

    /// `difference(t)` is affine in `t` on `[c, nb)` (nil: null, constant there). Adds the
    /// first `t` in `(c, nb)` whose sign differs from the sign at `c`, and the second after
    /// it when the difference is zero there (an equality holds for that one second).
    private func signChanges(
        _ c: Int64, _ nb: Int64, _ evaluator: inout Evaluator, into out: inout [Int64], _ difference: (Evaluator) -> Double?
    ) {
        func sign(_ t: Int64) -> Int? {
            evaluator.now = t
            guard let d = difference(evaluator) else { return nil }
            return d > 0 ? 1 : d < 0 ? -1 : 0
        }
        func value(_ t: Int64) -> Double? {
            evaluator.now = t
            return difference(evaluator)
        }
        guard let g0 = value(c), let g1 = value(c + 1), let s0 = sign(c) else { return }
        let slope = g1 - g0
        guard slope != 0 else { return }
        func differs(_ t: Int64) -> Bool { sign(t) != s0 }
        var first: Int64?
        if s0 == 0 {
            first = c + 1
        } else {
            // The root of the affine difference, checked (and corrected) exactly.
            let root = Double(c) - g0 / slope
            if root < Double(nb) {
                let estimate = Swift.max(c + 1, Swift.min(nb - 1, Int64(root.rounded(.up))))
                if differs(estimate), estimate == c + 1 || !differs(estimate - 1) {
                    first = estimate
                } else if estimate + 1 < nb, differs(estimate + 1), !differs(estimate) {
                    first = estimate + 1
                } else if differs(nb - 1) {
                    var (low, high) = (c + 1, nb - 1)
                    while low < high {
                        let mid = low + (high - low) / 2
                        if differs(mid) { high = mid } else { low = mid + 1 }
                    }
                    first = low
                }
            }
        }
        guard let first, first < nb else { return }
        out.append(first)
        if sign(first) == 0, first + 1 < nb { out.append(first + 1) }
    }
}

/// A comparison whose sides contain `now` outside aggregates.
private enum FlipTest: Sendable {
    case numbers(ValuePlan, ValuePlan)
    case ints(ValuePlan, ValuePlan)
    case numberIn(ValuePlan, [Double])
    case intIn(ValuePlan, [Int64])
}

extension BoolPlan {
    /// Every aggregate anywhere in the plan (windows, filters and named parts included),
    /// and the comparisons with `now` on a side, outside aggregates.
    fileprivate func collect(aggregates: inout [AggregatePlan], tests: inout [FlipTest]) {
        switch self {
        case .constant, .index, .eventString, .eventStringCodes: return
        case .and(let terms), .or(let terms): for term in terms { term.collect(aggregates: &aggregates, tests: &tests) }
        case .not(let inner), .segment(_, let inner): inner.collect(aggregates: &aggregates, tests: &tests)
        case .compareNumbers(let l, _, let r):
            if l.containsNow || r.containsNow { tests.append(.numbers(l, r)) }
            l.collect(&aggregates)
            r.collect(&aggregates)
        case .compareInts(let l, _, let r):
            if l.containsNow || r.containsNow { tests.append(.ints(l, r)) }
            l.collect(&aggregates)
            r.collect(&aggregates)
        case .compareStrings(let l, _, let r):
            l.collect(&aggregates)
            r.collect(&aggregates)
        case .numberIn(let v, let values):
            if v.containsNow { tests.append(.numberIn(v, values)) }
            v.collect(&aggregates)
        case .intIn(let v, let values):
            if v.containsNow { tests.append(.intIn(v, values.sorted())) }
            v.collect(&aggregates)
        case .stringIn(let v, _), .isNull(let v, _), .truthy(let v): v.collect(&aggregates)
        }
    }
}

extension ValuePlan {
    /// Whether `leaf` holds for the value or one it is computed from by arithmetic
    /// (not looking inside an aggregate's window or filter).
    func contains(_ leaf: (ValuePlan) -> Bool) -> Bool {
        if leaf(self) { return true }
        switch self {
        case .binary(_, let l, let r, _): return l.contains(leaf) || r.contains(leaf)
        case .negate(let v): return v.contains(leaf)
        default: return false
        }
    }

    /// Whether `now` occurs in the value itself (not inside an aggregate's window or
    /// filter, whose effect on time is an event breakpoint).
    var containsNow: Bool { contains { if case .now = $0 { true } else { false } } }

    /// Whether the value is or uses an aggregate.
    var containsAggregate: Bool { contains { if case .aggregate = $0 { true } else { false } } }

    fileprivate func collect(_ aggregates: inout [AggregatePlan]) {
        switch self {
        case .aggregate(let a):
            aggregates.append(a)
            var ignored: [FlipTest] = []
            a.filter?.collect(aggregates: &aggregates, tests: &ignored)
            switch a.window {
            case .all: break
            case .last(let d): d.collect(&aggregates)
            case .range(let l, let u):
                l.collect(&aggregates)
                u.collect(&aggregates)
            }
        case .binary(_, let l, let r, _):
            l.collect(&aggregates)
            r.collect(&aggregates)
        case .negate(let v): v.collect(&aggregates)
        default: return
        }
    }
}
