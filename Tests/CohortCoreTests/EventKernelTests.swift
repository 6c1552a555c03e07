@testable import CohortCore
import CohortTestSupport
import Testing

/// The batch kernels' building blocks against their one-row definitions.
struct EventKernelTests {
    /// `EventWindow.slices` (one pass over a dense span, with or without the latest time
    /// known, or per-row searches over a sparse one) gives every row exactly
    /// `EventWindow.slice` of its events.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func windowSlicesEqualOneSearchPerRow(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        // 400 users, 0 to 40 events each (sorted times, ties included), some past coverage.
        var offsets: [UInt32] = [0]
        var times: [UInt32] = []
        for _ in 0..<400 {
            let n = Int(rng.next() % 5 == 0 ? rng.next() % 41 : rng.next() % 6)
            times += (0..<n).map { _ in UInt32(rng.next() % 100) }.sorted()
            offsets.append(UInt32(times.count))
        }
        for _ in 0..<200 {
            let lo = UInt32(rng.next() % 110)
            let bounds = lo...(lo + UInt32(rng.next() % 60))
            // Dense (every row, past the covered ones too) or sparse (every ~30th row).
            let stride = rng.next() % 2 == 0 ? 1 : 30
            let first = UInt32(rng.next() % 50)
            let rows = Array(stride_from(first, 420, stride))
            var windows = [Range<Int>](repeating: 0..<0, count: rows.count)
            // Half the time with the latest time known (windows past it skip the end count).
            let latest = rng.next() % 2 == 0 ? times.max()! : .max
            offsets.withUnsafeBufferPointer { o in
                times.withUnsafeBufferPointer { t in
                    rows.withUnsafeBufferPointer { r in
                        windows.withUnsafeMutableBufferPointer { EventWindow.slices(r, o, t, bounds, latest: latest, into: $0) }
                    }
                }
            }
            for (i, row) in rows.enumerated() {
                let expected: Range<Int> = Int(row) + 1 < offsets.count
                    ? times.withUnsafeBufferPointer { EventWindow.slice($0, Int(offsets[Int(row)]), Int(offsets[Int(row) + 1]), bounds) } : 0..<0
                #expect(windows[i] == expected || (windows[i].isEmpty && expected.isEmpty), "row \(row) bounds \(bounds) stride \(stride)")
            }
        }
    }

    /// A random base of 300 rows over 90 days (sorted times per row, ties included).
    private func randomBase(_ rng: inout SplitMix) -> (ContiguousArray<UInt32>, ContiguousArray<UInt32>) {
        var offsets: ContiguousArray<UInt32> = [0]
        var times = ContiguousArray<UInt32>()
        let start: UInt32 = 1_780_000_000
        for _ in 0..<300 {
            let n = Int(rng.next() % 12)
            times += (0..<n).map { _ in start + UInt32(rng.next() % (90 * 86_400)) }.sorted()
            offsets.append(UInt32(times.count))
        }
        return (offsets, times)
    }

    /// Random property columns for `count` events: a string code column (codes 0..<4,
    /// or up to `wideCode` for one event), an int column and a float column, a fifth of
    /// each null.
    private func randomColumns(_ rng: inout SplitMix, count: Int, strings: Int = 1, wideCode: UInt32? = nil) -> PropertyColumns {
        var columns = PropertyColumns()
        for _ in 0..<strings { columns.addProperty(.string) }
        columns.addProperty(.int)
        columns.addProperty(.float)
        for s in 0..<strings {
            columns.strings[s] = ContiguousArray((0..<count).map { i in
                if i == count / 2, s == 0, let wideCode { return wideCode }
                return rng.next() % 5 == 0 ? NullSentinel.stringCode : UInt32(rng.next() % 4)
            })
        }
        columns.ints[0] = ContiguousArray((0..<count).map { _ in rng.next() % 5 == 0 ? NullSentinel.int : Int64(rng.next() % 40) - 5 })
        columns.floats[0] = ContiguousArray((0..<count).map { _ in rng.next() % 5 == 0 ? .nan : Double(rng.next() % 1000) / 8 })
        return columns
    }

    /// Checks an activity index against the events it describes (row `rows[i]` at
    /// `times[i]` with values `columns[...][i]`): every day bitmap, and every key of every
    /// split, by the key's definition (`ActivityIndex.Split`), for days `days`.
    private func expectExact(
        _ index: ActivityIndex, rows: [UInt32], times: [UInt32], _ columns: PropertyColumns, days: ClosedRange<UInt32>, _ label: String
    ) {
        for d in days {
            let bounds = (d * 86_400)...(d * 86_400 + 86_399)
            let today = rows.indices.filter { times[$0] / 86_400 == d }
            #expect(index.rows(in: bounds) == Bitmap(today.map { rows[$0] }), "\(label) day \(d)")
            for (slot, split) in index.splits {
                for key in 0..<split.keyCount {
                    let expected = today.filter { i in
                        switch slot {
                        case .string(let s): return columns.strings[s][i] == UInt32(key)
                        case .int, .float:
                            let x: Double
                            if case .int(let s) = slot { x = columns.ints[s][i] == NullSentinel.int ? .nan : Double(columns.ints[s][i]) } else if case .float(let s) = slot { x = columns.floats[s][i] } else { x = .nan }
                            let edge = split.edges![key]
                            return !x.isNaN && (key < split.below ? x < edge : x >= edge)
                        case .bool: return false
                        }
                    }
                    let k = Int(d) - index.firstDay
                    let actual = split.days[key].indices.contains(k) ? split.days[key][k] : Bitmap()
                    #expect(actual == Bitmap(expected.map { rows[$0] }), "\(label) day \(d) \(slot) key \(key)")
                }
            }
        }
    }

    /// The recent copy holds exactly each row's events at or after its horizon, in order,
    /// with their property values; the activity index exactly the rows active each day,
    /// and per split key (a code; a tail threshold of a number), the rows with such an
    /// event that day.
    @Test(arguments: [4, 5] as [UInt64])
    func recentCopyAndActivityMatchTheBase(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let (offsets, times) = randomBase(&rng)
        let columns = randomColumns(&rng, count: times.count)
        let recent = try #require(RecentBase(offsets: offsets, times: times, properties: columns))
        #expect(recent.horizon % 86_400 == 0 && recent.horizon <= times.max()! && times.max()! - recent.horizon >= RecentBase.reach - 86_400)
        for u in 0..<(offsets.count - 1) {
            let slice = Int(offsets[u])..<Int(offsets[u + 1])
            let expected = slice.filter { times[$0] >= recent.horizon }
            let copy = u + 1 < recent.offsets.count ? Int(recent.offsets[u])..<Int(recent.offsets[u + 1]) : 0..<0
            #expect(copy.map { recent.times[$0] } == expected.map { times[$0] }, "row \(u)")
            #expect(copy.map { recent.properties.ints[0][$0] } == expected.map { columns.ints[0][$0] }, "row \(u)")
        }
        let activity = ActivityIndex(offsets: offsets, times: times, properties: columns)
        #expect(Set(activity.splits.keys) == [.string(0), .int(0), .float(0)])
        // Thresholds: lower ones ascending below the upper ones, each group without repeats.
        for split in activity.splits.values where split.edges != nil {
            let (lower, upper) = (split.edges![..<split.below], split.edges![split.below...])
            #expect(!lower.isEmpty && !upper.isEmpty && lower.last! < upper.first!)
            #expect(zip(lower, lower.dropFirst()).allSatisfy(<) && zip(upper, upper.dropFirst()).allSatisfy(<))
        }
        var rows = [UInt32]()
        for u in 0..<(offsets.count - 1) { rows += Array(repeating: UInt32(u), count: Int(offsets[u + 1] - offsets[u])) }
        expectExact(activity, rows: rows, times: Array(times), columns, days: (times.min()! / 86_400)...(times.max()! / 86_400), "base")
    }

    /// The timeline holds exactly the base events at or after its horizon (a day-aligned
    /// point `reach` before the latest event), each once with its row and property
    /// values, in time order; a window's positions are the events inside it.
    @Test func timelineHoldsTheRecentEventsInTimeOrder() throws {
        var rng = SplitMix(seed: 9)
        var offsets: ContiguousArray<UInt32> = [0]
        var times = ContiguousArray<UInt32>()
        let start: UInt32 = 1_780_000_000
        for _ in 0..<400 {
            times += (0..<Int(rng.next() % 15)).map { _ in start + UInt32(rng.next() % (200 * 86_400)) }.sorted()
            offsets.append(UInt32(times.count))
        }
        let columns = randomColumns(&rng, count: times.count)
        let timeline = try #require(EventTimeline(offsets: offsets, times: times, properties: columns))
        let latest = times.max()!
        #expect(timeline.horizon % 86_400 == 0 && latest - timeline.horizon >= EventTimeline.reach && latest - timeline.horizon < EventTimeline.reach + 86_400)
        // (time, row, int, code) of every base event in the copy's reach, against the copy's.
        struct Event: Hashable { let time: UInt32, row: UInt32, int: Int64, code: UInt32 }
        var expected: [Event] = []
        for u in 0..<(offsets.count - 1) {
            for p in Int(offsets[u])..<Int(offsets[u + 1]) where times[p] >= timeline.horizon {
                expected.append(Event(time: times[p], row: UInt32(u), int: columns.ints[0][p], code: columns.strings[0][p]))
            }
        }
        let actual = timeline.times.indices.map {
            Event(time: timeline.times[$0], row: timeline.rows[$0], int: timeline.properties.ints[0][$0], code: timeline.properties.strings[0][$0])
        }
        #expect(expected.count > 500 && expected.count < times.count)
        #expect(zip(timeline.times, timeline.times.dropFirst()).allSatisfy(<=))
        #expect(Dictionary(grouping: actual) { $0 }.mapValues(\.count) == Dictionary(grouping: expected) { $0 }.mapValues(\.count))
        for _ in 0..<50 {
            let lo = timeline.horizon + UInt32(rng.next() % (100 * 86_400))
            let bounds = lo...(lo + UInt32(rng.next() % (30 * 86_400)))
            let inside = timeline.positions(in: bounds)
            #expect(inside.count == expected.filter { bounds.contains($0.time) }.count)
            #expect(inside.allSatisfy { bounds.contains(timeline.times[$0]) })
        }
    }

    /// A merge extends the timeline with the delta (`EventTimeline.merging`) instead of
    /// re-sorting the window: the result must be exactly the copy built from the merged
    /// base, whatever the delta holds (events before the horizon, ties with base events
    /// and with each other, later times that move the horizon, deleted users' events in
    /// the base and in the delta, new users).
    @Test func aMergedTimelineEqualsOneBuiltFromTheMergedBase() throws {
        var rng = SplitMix(seed: 21)
        var db = Database()
        try db.defineEvent("ride", properties: [.init(name: "n", type: .int), .init(name: "car", type: .string)])
        let start: Int64 = 1_780_000_000
        func add(_ users: UInt64, _ count: Int, spread: Int64, from: Int64) throws {
            for _ in 0..<count {
                // Times on a 600 s grid, so equal times are common.
                let time = from + Int64(rng.next() % UInt64(spread / 600)) * 600
                try db.addEvent(
                    user: "u\(rng.next() % users)", event: "ride", time: time,
                    properties: [("n", "\(rng.next() % 50)"[...]), ("car", ["zoe", "i3", "tesla"][Int(rng.next() % 3)][...])])
            }
        }
        try add(300, 6_000, spread: 200 * 86_400, from: start)
        db.compact()
        for round in 0..<4 {
            try add(round == 2 ? 330 : 300, 700, spread: 120 * 86_400, from: start + 80 * 86_400 + Int64(round) * 5 * 86_400)
            for _ in 0..<3 { _ = db.deleteUser("u\(rng.next() % 300)") }
            try add(300, 200, spread: 30 * 86_400, from: start + 190 * 86_400)
            let before = try #require(db.events.tables[0].timeline)
            db.compact()
            let table = db.events.tables[0]
            let merged = try #require(table.timeline)
            let built = try #require(EventTimeline(offsets: table.offsets, times: table.times, properties: table.properties))
            #expect(merged.horizon == built.horizon && merged.horizon >= before.horizon, "round \(round)")
            #expect(merged.rows == built.rows && merged.times == built.times, "round \(round)")
            #expect(merged.properties.ints == built.properties.ints && merged.properties.strings == built.properties.strings, "round \(round)")
            #expect(built.times.count > 1_000, "round \(round): \(built.times.count) events in the copy")
        }
    }

    /// `rows(in:requiring:limit:)` lists every row with an event in the window meeting
    /// the requirements (a superset: the most selective key group), or nil when no key
    /// can tell (a range in the middle of the values, an unsplit property) or the
    /// estimate reaches the limit.
    @Test func requirementsGiveASupersetOfTheRowsThatMeetThem() throws {
        var rng = SplitMix(seed: 11)
        let (offsets, times) = randomBase(&rng)
        let columns = randomColumns(&rng, count: times.count)
        let activity = ActivityIndex(offsets: offsets, times: times, properties: columns)
        let ints = try #require(activity.splits[.int(0)]?.edges)
        let (lo, hi) = (ints.first!, ints.last!)
        let start = times.min()! / 86_400 * 86_400
        var used = 0
        for _ in 0..<200 {
            let a = start + UInt32(rng.next() % (80 * 86_400)), b = a + UInt32(rng.next() % (20 * 86_400))
            let range: ClosedRange<Double> = switch rng.next() % 4 {
            case 0: Double(hi + Double(rng.next() % 4))...Double.infinity
            case 1: -Double.infinity...Double(lo - Double(rng.next() % 3))
            case 2: Double(Int(hi) + Int(rng.next() % 3))...Double(Int(hi) + 3)
            default: (lo + 1)...(hi - 1)  // the middle: no threshold tells
            }
            let code = UInt32(rng.next() % 4)
            let requirements: [ActivityIndex.Requirement] = rng.next() % 2 == 0 ? [.values(.int(0), range)] : [.values(.int(0), range), .codes(slot: 0, [code])]
            let meets = { (p: Int) -> Bool in
                let v = columns.ints[0][p]
                return v != NullSentinel.int && range.contains(Double(v)) && (requirements.count == 1 || columns.strings[0][p] == code)
            }
            var expected = Bitmap()
            for u in 0..<(offsets.count - 1) where (Int(offsets[u])..<Int(offsets[u + 1])).contains(where: { (a...b).contains(times[$0]) && meets($0) }) {
                expected.insert(UInt32(u))
            }
            guard let rows = activity.rows(in: a...b, requiring: requirements, limit: .max) else {
                #expect(range == (lo + 1)...(hi - 1) && requirements.count == 1, "\(range)")
                continue
            }
            used += 1
            #expect(expected.subtracting(rows).isEmpty, "\(range) \(requirements)")
            #expect(activity.rows(in: a...b, requiring: requirements, limit: 0) == nil)
        }
        #expect(used > 100)
        #expect(activity.rows(in: start...(start + 86_400), requiring: [.values(.bool(0), 0...1)], limit: .max) == nil)
    }

    /// A merge's incremental activity index (the old base's plus the delta) is exact for
    /// the merged base: per row, day and split key; with delta days before and after the
    /// base's, a slot the base did not have (split as the delta's values are), and a
    /// delta code past the index's limit (the slot is then not split, as in the full
    /// build); numeric thresholds are the base's, kept.
    @Test(arguments: [6, 7, 8] as [UInt64])
    func activityPlusADeltaEqualsTheMergedBase(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let (offsets, times) = randomBase(&rng)
        let baseColumns = randomColumns(&rng, count: times.count)
        let wideCode = seed == 8
        var rows = ChunkedArray<UInt32>(), deltaTimes = ChunkedArray<UInt32>()
        for _ in 0..<200 {
            rows.append(UInt32(rng.next() % 320))  // rows past the base's too
            deltaTimes.append(1_780_000_000 - 5 * 86_400 + UInt32(rng.next() % (100 * 86_400)))
        }
        // The delta has a second string slot; the base's columns are its first.
        var delta = randomColumns(&rng, count: rows.count, strings: 2, wideCode: wideCode ? 70 : nil)
        delta.floats[0] = ContiguousArray(delta.floats[0].map { $0 * 3 })  // values past the base's thresholds
        let base = ActivityIndex(offsets: offsets, times: times, properties: baseColumns)
        let added = base.adding(rows: rows, times: deltaTimes, properties: delta)
        #expect((added.splits[.string(0)] == nil) == wideCode && added.unsplit.contains(.string(0)) == wideCode)
        #expect(added.splits[.string(1)] != nil)
        #expect(added.splits[.int(0)]?.edges == base.splits[.int(0)]?.edges && added.splits[.float(0)]?.edges == base.splits[.float(0)]?.edges)
        // The merged events, base first (order does not matter to the index).
        var mergedRows = [UInt32](), mergedTimes = [UInt32]()
        var merged = PropertyColumns()
        for _ in 0..<2 { merged.addProperty(.string) }
        merged.addProperty(.int)
        merged.addProperty(.float)
        for u in 0..<(offsets.count - 1) {
            for p in Int(offsets[u])..<Int(offsets[u + 1]) {
                mergedRows.append(UInt32(u))
                mergedTimes.append(times[p])
                merged.strings[0].append(baseColumns.strings[0][p])
                merged.strings[1].append(NullSentinel.stringCode)
                merged.ints[0].append(baseColumns.ints[0][p])
                merged.floats[0].append(baseColumns.floats[0][p])
            }
        }
        for i in 0..<rows.count {
            mergedRows.append(rows[i])
            mergedTimes.append(deltaTimes[i])
            for s in 0..<2 { merged.strings[s].append(delta.strings[s][i]) }
            merged.ints[0].append(delta.ints[0][i])
            merged.floats[0].append(delta.floats[0][i])
        }
        let (first, last) = (mergedTimes.min()! / 86_400, mergedTimes.max()! / 86_400)
        expectExact(added, rows: mergedRows, times: mergedTimes, merged, days: (first - 1)...(last + 1), "added")
    }

    private func stride_from(_ first: UInt32, _ end: UInt32, _ step: Int) -> StrideTo<UInt32> { stride(from: first, to: end, by: step) }

    /// `DistinctKey.count` is the number of distinct keys, whatever their order.
    /// Filtered aggregates over windows scattered across the base (narrow windows over
    /// long histories, so a batch's windows fill little of their span and the filter is
    /// filled window by window, `EventFilter.fill(_:windows:_:)`; some windows longer
    /// than 64 events, many crossing a word of the verdict bits) agree, summed over every
    /// user (`AGG.STATS`, the batch kernel), with each user's own value (`AGG.GET`).
    @Test func scatteredWindowsAgreeWithEachUsersOwnValue() throws {
        let now: Int64 = 1_782_864_000, day: Int64 = 86_400
        let engine = Engine(fixedNow: now, clock: { now })
        engine.mergeThreshold = .max
        _ = engine.execute(["EVENT.DEFINE", "ride", "cost:float", "car:string", "n:int"])
        var rng = SplitMix(seed: 21)
        let users = (0..<2_000).map { "u\($0)" }
        for (u, user) in users.enumerated() {
            // Most users a few events over 180 days; every 40th a burst of 70-150 in the last 10.
            let burst = u % 40 == 0
            for _ in 0..<(burst ? 70 + rng.next() % 80 : rng.next() % 24) {
                let age = burst ? Int64(rng.next() % UInt64(10 * day)) : Int64(rng.next() % UInt64(180 * day))
                var add = ["EVENT.ADD", user, "ride", String(now - age)]
                if rng.next() % 5 != 0 { add += ["cost", String(Double(rng.next() % 400) / 8)] }
                if rng.next() % 5 != 0 { add += ["car", ["a", "b", "c", "d"][Int(rng.next() % 4)]] }
                if rng.next() % 5 != 0 { add += ["n", String(rng.next() % 10)] }
                #expect(engine.execute(add) == .ok)
            }
        }
        // Everything into the base (the write that crosses the threshold starts the merge).
        engine.mergeThreshold = 1
        #expect(engine.execute(["EVENT.ADD", "u1", "ride", String(now - 200 * day)]) == .ok)
        engine.waitForMerges()
        #expect(engine.read { $0.events.tables[0].deltaCount } <= 1)
        var checked = 0
        for filter in [#"car = "b""#, "n > 6", #"car is not null and n >= 3"#, #"not car = "a""#, "cost < 10 or n = 0", "n is null"] {
            for window in ["last 14d", "last 45d", #"from now - 20d to now - 5d"#] {
                for function in ["count(ride where \(filter), \(window))", "sum(ride.cost where \(filter), \(window))"] {
                    var expected = 0.0
                    for user in users {
                        guard case .array(let values) = engine.execute(["AGG.GET", user, function]) else { continue }
                        switch values[0] {
                        case .integer(let v): expected += Double(v)
                        case .double(let v): expected += v
                        default: break
                        }
                    }
                    guard case .array(let stats) = engine.execute(["AGG.STATS", function]) else {
                        Issue.record("AGG.STATS failed for \(function)")
                        continue
                    }
                    let total: Double = switch stats[2] {
                    case .integer(let v): Double(v)
                    case .double(let v): v
                    default: .nan
                    }
                    #expect(abs(total - expected) <= 1e-9 * max(1, expected), "\(function): \(total) vs \(expected)")
                    if expected > 0 { checked += 1 }
                }
            }
        }
        #expect(checked >= 30)
    }

    /// Unfiltered counts of users with delta events: when the window holds every delta
    /// event, the kernel adds each row's list length without reading its events. Checked
    /// against each user's own value while the delta is recent only, after a deletion,
    /// and once an old event (outside the window) is in the delta too.
    @Test func deltaCountsFromListLengthsAgreeWithEachUsersOwnValue() throws {
        let now: Int64 = 1_782_864_000, day: Int64 = 86_400
        let engine = Engine(fixedNow: now, clock: { now })
        engine.mergeThreshold = .max
        _ = engine.execute(["EVENT.DEFINE", "ride", "cost:float"])
        var rng = SplitMix(seed: 31)
        let users = (0..<3_000).map { "u\($0)" }
        func add(_ user: String, age: Int64) { #expect(engine.execute(["EVENT.ADD", user, "ride", String(now - age)]) == .ok) }
        for user in users {
            for _ in 0..<(rng.next() % 12) { add(user, age: Int64(rng.next() % UInt64(120 * day))) }
        }
        engine.mergeThreshold = 1
        add("u0", age: 100 * day)
        engine.waitForMerges()
        engine.mergeThreshold = .max
        // The delta: recent events only, for a third of the users.
        for user in users where rng.next() % 3 == 0 {
            for _ in 0..<(1 + rng.next() % 3) { add(user, age: Int64(rng.next() % UInt64(20 * day))) }
        }
        func expectAgreement(_ label: String) {
            for window in ["last 30d", "last 25d", "last 10d"] {
                let expression = "count(ride, \(window))"
                var expected: Int64 = 0
                for user in users {
                    if case .array(let values) = engine.execute(["AGG.GET", user, expression]), case .integer(let v) = values[0] { expected += v }
                }
                guard case .array(let stats) = engine.execute(["AGG.STATS", expression]), case .integer(let total) = stats[2] else {
                    Issue.record("AGG.STATS failed for \(expression)")
                    continue
                }
                #expect(total == expected, "\(label) \(expression)")
                #expect(expected > 0)
            }
        }
        #expect(engine.read { $0.events.tables[0].deltaCount } > 500)
        expectAgreement("recent delta")
        #expect(engine.execute(["USER.DEL", "u3"]) == .integer(1))
        expectAgreement("after a deletion")
        add("u4", age: 90 * day)
        expectAgreement("an old delta event")
    }

    /// Filtered counts compared with a constant are answered from a scan of the table's
    /// timeline (`Evaluator.timelineRows`): checked against each user's own value for
    /// every operator, windows inside and outside the timeline, a user with more events
    /// than a counter holds (255), users with delta events and a deleted user.
    @Test func timelineCountsAgreeWithEachUsersOwnValue() throws {
        let now: Int64 = 1_782_864_000, day: Int64 = 86_400
        let engine = Engine(fixedNow: now, clock: { now })
        engine.mergeThreshold = .max
        _ = engine.execute(["EVENT.DEFINE", "ride", "car:string", "n:int"])
        var rng = SplitMix(seed: 41)
        let users = (0..<3_000).map { "u\($0)" }
        func add(_ user: String, age: Int64) {
            var add = ["EVENT.ADD", user, "ride", String(now - age)]
            if rng.next() % 5 != 0 { add += ["car", ["a", "b", "c"][Int(rng.next() % 3)]] }
            if rng.next() % 5 != 0 { add += ["n", String(rng.next() % 10)] }
            #expect(engine.execute(add) == .ok)
        }
        for (u, user) in users.enumerated() {
            // u0 has 400 events in the last 10 days: past what a counter holds.
            for _ in 0..<(u == 0 ? 400 : rng.next() % 14) { add(user, age: Int64(rng.next() % UInt64((u == 0 ? 10 : 130) * day))) }
        }
        engine.mergeThreshold = 1
        add("u1", age: 200 * day)
        engine.waitForMerges()
        engine.mergeThreshold = .max
        #expect(engine.read { $0.events.tables[0].timeline?.horizon ?? .max } <= UInt32(now - 90 * day))
        for user in users where rng.next() % 4 == 0 { add(user, age: Int64(rng.next() % UInt64(100 * day))) }
        #expect(engine.execute(["USER.DEL", "u7"]) == .integer(1))
        #expect(engine.read { $0.events.tables[0].deltaCount } > 500)
        var checked = 0
        for filter in [#"car = "b""#, "n > 6", #"car is not null and n >= 3"#, #"not car = "a""#] {
            for window in ["last 14d", "last 60d", "from now - 80d to now - 10d", "last 120d"] {
                let count = "count(ride where \(filter), \(window))"
                var values: [Int64] = []
                for user in users {
                    if case .array(let v) = engine.execute(["AGG.GET", user, count]), case .integer(let x) = v[0] { values.append(x) }
                }
                for (op, c) in [(">=", 2), (">", 0), ("<", 2), ("=", 1), ("!=", 1), ("=", 0), (">=", 200), ("<=", 253)] as [(String, Int64)] {
                    let holds: (Int64) -> Bool = switch op {
                    case ">=": { $0 >= c }
                    case ">": { $0 > c }
                    case "<": { $0 < c }
                    case "<=": { $0 <= c }
                    case "=": { $0 == c }
                    default: { $0 != c }
                    }
                    let expected = values.filter(holds).count
                    #expect(engine.execute(["SEGMENT.COUNT", "\(count) \(op) \(c)"]) == .integer(Int64(expected)), "\(count) \(op) \(c)")
                    if expected > 0 && expected < values.count { checked += 1 }
                }
            }
        }
        #expect(checked >= 60)
    }

    @Test func distinctKeysCount() {
        var rng = SplitMix(seed: 9)
        for n in 0..<70 {
            var keys = (0..<n).map { _ in rng.next() % 12 }
            let expected = Set(keys).count
            keys.withUnsafeMutableBufferPointer { #expect(DistinctKey.count($0) == expected) }
        }
    }
}
