import CohortTestSupport
import Dispatch
import Foundation
import Testing

@testable import CohortCore

/// The live event store (issue 13): base + delta + background merges must answer
/// exactly as a fully compacted table built from the same writes, whatever the
/// interleaving of writes, deletes, reads and merges.
struct LiveEngineTests {
    static let now: Int64 = 1_782_820_800
    static let day: Int64 = 86_400

    static let schema: [[String]] = [
        ["ATTR.DEFINE", "plan", "string"], ["ATTR.DEFINE", "age", "int"],
        ["EVENT.DEFINE", "ride", "cost:float", "car:string", "n:int", "ok:bool"], ["EVENT.DEFINE", "open"],
    ]

    /// Every aggregate function × property × window × where the binder accepts (the
    /// cross product, filtered by binding each on the schema).
    static let expressions: [String] = {
        let engine = compactedEngine([])
        return candidateExpressions.filter {
            if case .array = engine.execute(["AGG.GET", "nobody", $0]) { true } else { false }
        }
    }()

    static let candidateExpressions: [String] = {
        let functions = ["count", "sum", "avg", "min", "max", "first", "last", "distinct", "avg_gap"]
        let targets = ["ride", "ride.cost", "ride.car", "ride.n", "ride.ok", "open"]
        let wheres = ["", " where cost > 10", #" where car = "b""#, " where not n >= 3", #" where car != "zz""#]
        let windows = ["", ", last 5d", ", from \"2026-06-20\" to \"2026-06-30T12:00:00Z\""]
        var result: [String] = []
        for f in functions {
            for t in targets {
                for w in wheres where t.hasPrefix("ride") || w.isEmpty {
                    for window in windows { result.append("\(f)(\(t)\(w)\(window))") }
                }
            }
        }
        return result
    }()

    /// Segment targets over the same aggregates, for the batch kernel (COUNT, MEMBERS).
    static let predicates = [
        "count(ride, last 5d) >= 2", "sum(ride.cost where car = \"b\") > 20", "first(ride.car) = \"a\"", "distinct(ride.car) >= 2",
        "max(ride.n) = 4 or min(ride.cost, last 5d) < 8", "last(ride) > now - 3d and count(open) = 0", "avg_gap(ride) < 2d",
        "sum(ride.n where ok = true) >= 5", "not count(ride where cost > 10) >= 1",
    ]

    /// A random write, over a small id space so users collide, are deleted and come back.
    static func randomWrite(_ rng: inout SplitMix) -> [String] {
        func pick<T>(_ options: [T]) -> T { options[Int(rng.next() % UInt64(options.count))] }
        let user = "u\(rng.next() % 24)"
        switch rng.next() % 100 {
        case 0..<70:
            // Times on a coarse grid around now, so ties are common; some in the future.
            let time = now - Int64(rng.next() % 12) * day / 2 + (rng.next() % 8 == 0 ? 2 * day : 0)
            var words = ["EVENT.ADD", user, "ride", String(time)]
            if rng.next() % 4 != 0 { words += ["cost", String(Double(rng.next() % 40) / 2)] }
            if rng.next() % 3 != 0 { words += ["car", pick(["a", "b", "c", "d\(rng.next() % 50)"])] }
            if rng.next() % 3 != 0 { words += ["n", String(rng.next() % 6)] }
            if rng.next() % 3 != 0 { words += ["ok", pick(["true", "false"])] }
            return words
        case 70..<82: return ["EVENT.ADD", user, "open", String(now - Int64(rng.next() % 10) * day)]
        case 82..<92: return ["USER.SET", user, "plan", pick(["free", "pro"]), "age", String(rng.next() % 80)]
        case 92..<96: return ["USER.UNSET", user, "plan"]
        default: return ["USER.DEL", user]
        }
    }

    /// The same writes applied to a fresh engine and compacted: the answer to match.
    static func compactedEngine(_ writes: [[String]]) -> Engine {
        let engine = Engine(fixedNow: now, clock: { now })
        for words in schema + writes { _ = engine.execute(words) }
        engine.withExclusiveAccess { $0.compact() }
        return engine
    }

    static func users(_ engine: Engine) -> [String] {
        engine.snapshotView().users.live.map { engine.snapshotView().users.id(of: $0) }
    }

    /// Compares every expression for every user, and every predicate, between the two.
    static func expectSameAnswers(_ live: Engine, _ compacted: Engine, _ context: String) {
        let ids = users(compacted)
        #expect(Set(users(live)) == Set(ids), "\(context): users")
        for user in ids + ["nobody"] {
            let a = live.execute(["AGG.GET", user] + expressions)
            let b = compacted.execute(["AGG.GET", user] + expressions)
            guard case .array(let x) = a, case .array(let y) = b, x.count == y.count else {
                Issue.record("\(context): AGG.GET failed: \(a) / \(b)")
                return
            }
            for i in x.indices where x[i] != y[i] { Issue.record("\(context): \(expressions[i]) for \(user): live \(x[i]), compacted \(y[i])") }
        }
        for p in predicates {
            #expect(live.execute(["SEGMENT.MEMBERS", p, "COUNT", "1000"]) == compacted.execute(["SEGMENT.MEMBERS", p, "COUNT", "1000"]), "\(context): \(p)")
            #expect(live.execute(["SEGMENT.COUNT", p]) == compacted.execute(["SEGMENT.COUNT", p]), "\(context): \(p)")
            for user in ids.prefix(6) {
                #expect(live.execute(["SEGMENT.CHECK", p, user]) == compacted.execute(["SEGMENT.CHECK", p, user]), "\(context): CHECK \(p) \(user)")
            }
        }
    }

    /// The filtered cross product still has every function, property, where and window.
    @Test func theExpressionListCoversEveryFunctionPropertyWhereAndWindow() {
        for part in ["count(", "sum(", "avg(", "min(", "max(", "first(", "last(", "distinct(", "avg_gap(", "ride.cost", "ride.car", "ride.n", "ride.ok",
            "open", "where cost", "where car", "where not", "last 5d", "from"]
        {
            #expect(Self.expressions.contains { $0.contains(part) }, "\(part)")
        }
        #expect(Self.expressions.count > 300)
    }

    /// Random interleavings of writes, deletes, reads and background merges (a merge
    /// threshold of a few events, so merges run all the time, concurrently with the
    /// writes and a reader thread), checked against a fully compacted engine at
    /// checkpoints, some while merges are in flight.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func liveEngineAnswersLikeAFullyCompactedOne(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let live = Engine(fixedNow: Self.now, clock: { Self.now })
        live.mergeThreshold = 2 + Int(seed % 3) * 3
        for words in Self.schema { #expect(live.execute(words) == .ok) }
        // A concurrent reader, so merges and writes race with reads (TSan checks the locking).
        let stop = ManagedAtomicFlag()
        let reader = DispatchGroup()
        DispatchQueue.global().async(group: reader) {
            var i = 0
            while !stop.isSet, i < 100_000 {
                _ = live.execute(["AGG.GET", "u\(i % 24)", "sum(ride.cost, last 5d)", "first(ride.car)", "count(ride where car = \"b\")"])
                _ = live.execute(["SEGMENT.COUNT", "count(ride) >= 2"])
                i += 1
            }
        }
        var writes: [[String]] = []
        for step in 1...360 {
            let words = Self.randomWrite(&rng)
            if case .error(let e) = live.execute(words) { Issue.record("\(words): \(e.message)") }
            writes.append(words)
            if step % 60 == 0 {
                if step % 120 == 0 { live.waitForMerges() }
                Self.expectSameAnswers(live, Self.compactedEngine(writes), "seed \(seed) step \(step)")
            }
        }
        stop.set()
        reader.wait()
        live.waitForMerges()
        try live.snapshotView().checkInvariants()
        #expect(live.mergeStatistics.merges > 0)
        Self.expectSameAnswers(live, Self.compactedEngine(writes), "seed \(seed) at the end")
    }

    /// A database with one event type, `ride(cost:float)`, filled by `add`.
    struct RideLog {
        var db = Database()
        var rng: SplitMix
        let users: UInt64

        init(seed: UInt64, users: UInt64) throws {
            rng = SplitMix(seed: seed)
            self.users = users
            try db.defineEvent("ride", properties: [.init(name: "cost", type: .float)])
        }

        /// `count` random rides, times on a grid of six seconds so ties are common.
        mutating func add(_ count: Int) throws {
            for _ in 0..<count {
                let user = "u\(rng.next() % users)"
                try db.addEvent(user: user, event: "ride", time: Int64(rng.next() % 6), properties: [("cost", "\(rng.next() % 1000)"[...])])
            }
        }
    }

    /// `db`'s rides, once compacted, are exactly `reference`'s (compacted).
    static func expectSameRides(_ db: Database, _ reference: Database) {
        var (db, reference) = (db, reference)
        db.compact()
        reference.compact()
        let (a, b) = (db.events.tables[0], reference.events.tables[0])
        #expect(a.times == b.times)
        #expect(a.offsets == b.offsets)
        #expect(a.properties.floats[0].map(\.bitPattern) == b.properties.floats[0].map(\.bitPattern))
    }

    /// The delta's per-user lists keep storage order (time, then arrival) for events in
    /// and out of order and on ties, and a merge taken before later writes and deletes
    /// installs without losing or resurrecting any of them.
    @Test func aMergeInstalledAfterLaterWritesAndDeletesKeepsExactlyTheLiveEvents() throws {
        var log = try RideLog(seed: 5, users: 9)
        try log.add(200)
        try log.db.checkInvariants()
        log.db.compact()
        try log.add(150)
        try log.db.checkInvariants()
        let merge = log.db.events.tables[0].merged(live: log.db.users.live, rowCount: log.db.users.rowCount)
        // Written and deleted after the merge was taken.
        try log.add(80)
        _ = log.db.deleteUser("u3")
        try log.add(40)
        let reference = log.db
        let users = log.db.users
        let installed = log.db.events.tables[0].install(merge, users: users)
        #expect(installed)
        try log.db.checkInvariants()
        #expect(log.db.events.tables[0].liveCount == reference.events.tables[0].liveCount)
        Self.expectSameRides(log.db, reference)
    }

    /// The two-step install: the table around the new base prepared from a copy, then
    /// adopted with the writes and deletes made after that copy caught up.
    @Test func aPreparedInstallCatchesUpWritesAndDeletesMadeAfterItsCopy() throws {
        var log = try RideLog(seed: 8, users: 11)
        try log.add(300)
        log.db.compact()
        try log.add(120)
        let merge = log.db.events.tables[0].merged(live: log.db.users.live, rowCount: log.db.users.rowCount)
        try log.add(60)
        _ = log.db.deleteUser("u2")
        let copy = log.db.events.tables[0]
        let prepared = try #require(copy.installing(merge, live: log.db.users.live))
        // After the copy: more events, a deletion, and a user created.
        try log.add(50)
        _ = log.db.deleteUser("u7")
        try log.db.addEvent(user: "newcomer", event: "ride", time: 3, properties: [])
        let reference = log.db
        let live = log.db.users.live
        let adopted = log.db.events.tables[0].adopt(prepared, builtFrom: (copy.deltaCount, copy.deletedRows.count), live: live)
        #expect(adopted)
        try log.db.checkInvariants()
        #expect(log.db.events.tables[0].liveCount == reference.events.tables[0].liveCount)
        Self.expectSameRides(log.db, reference)
    }

    /// A merge taken before a property was added is refused, not installed with the
    /// wrong columns.
    @Test func aMergeTakenBeforeASchemaChangeIsDiscarded() throws {
        var db = Database()
        try db.defineEvent("ride", properties: [.init(name: "cost", type: .float)])
        try db.addEvent(user: "a", event: "ride", time: 5, properties: [])
        let merge = db.events.tables[0].merged(live: db.users.live, rowCount: db.users.rowCount)
        try db.defineEvent("ride", properties: [.init(name: "car", type: .string)])
        let users = db.users
        let installed = db.events.tables[0].install(merge, users: users)
        #expect(!installed)
        try db.checkInvariants()
        #expect(db.events.tables[0].deltaCount == 1)
    }

    /// USER.DEL hides a user's events at once, in the base and the delta, on every path.
    @Test func deletingAUserHidesItsBaseAndDeltaEventsAtOnce() {
        let engine = Engine(fixedNow: Self.now, clock: { Self.now })
        engine.mergeThreshold = 1_000_000
        for words in Self.schema { _ = engine.execute(words) }
        _ = engine.execute(["EVENT.ADD", "a", "ride", String(Self.now - 10), "cost", "5"])
        engine.withExclusiveAccess { $0.compact() }
        _ = engine.execute(["EVENT.ADD", "a", "ride", String(Self.now - 5), "cost", "7"])
        #expect(engine.execute(["AGG.GET", "a", "sum(ride.cost)"]) == .array([.double(12)]))
        #expect(engine.execute(["USER.DEL", "a"]) == .integer(1))
        #expect(engine.execute(["SEGMENT.COUNT", "count(ride) >= 1"]) == .integer(0))
        // The same id later is a new user with none of the old events.
        _ = engine.execute(["EVENT.ADD", "a", "ride", String(Self.now - 1), "cost", "1"])
        #expect(engine.execute(["AGG.GET", "a", "sum(ride.cost)", "count(ride)"]) == .array([.double(1), .integer(1)]))
        #expect(engine.execute(["SEGMENT.COUNT", "count(ride) >= 1"]) == .integer(1))
    }
}

/// While a reader or a snapshot holds a copy of the database, a write duplicates one
/// chunk of what it changes, never a whole column or delta (issue 13: no O(users) or
/// O(delta) work per write). Checked by buffer identity, not by time.
struct CopyOnWriteTests {
    @Test func aWriteAfterACopyDuplicatesOneChunkOfTheColumnOrDelta() throws {
        var db = Database()
        try db.defineAttribute("age", type: .int)
        try db.defineAttribute("plan", type: .string)
        try db.defineEvent("ride", properties: [.init(name: "cost", type: .float)])
        for u in 0..<20_000 {
            try db.setAttributes(user: "u\(u)", [("age", "\(u % 90)"[...]), ("plan", "free"[...])])
            try db.addEvent(user: "u\(u)", event: "ride", time: Int64(u), properties: [("cost", "1.5"[...])])
        }
        let view = db  // what a scan or a snapshot holds
        try db.setAttributes(user: "u12345", [("age", "7"), ("plan", "pro")])
        try db.addEvent(user: "u777", event: "ride", time: 5, properties: [("cost", "2")])
        let ages = (db.attributes.int64s[0].values, view.attributes.int64s[0].values)
        #expect(ages.0.chunkCount == 5 && ages.0.sharedChunks(with: ages.1) == 4)
        let plans = (db.attributes.strings[0].codes, view.attributes.strings[0].codes)
        #expect(plans.0.sharedChunks(with: plans.1) == plans.0.chunkCount - 1)
        let (live, old) = (db.events.tables[0], view.events.tables[0])
        // The append went to the last chunk; linking it touched at most one more.
        #expect(live.deltaTimes.sharedChunks(with: old.deltaTimes) == old.deltaTimes.chunkCount - 1)
        #expect(live.deltaNext.sharedChunks(with: old.deltaNext) >= old.deltaNext.chunkCount - 2)
        #expect(live.delta.floats[0].sharedChunks(with: old.delta.floats[0]) == old.delta.floats[0].chunkCount - 1)
        // The view still answers as before the writes.
        let row = try #require(view.users.row(of: "u12345"))
        #expect(view.attributes.int64s[0].value(row) == Int64(15))
        #expect(db.attributes.int64s[0].value(row) == Int64(7))
        #expect(view.events.tables[0].deltaCount == 20_000 && db.events.tables[0].deltaCount == 20_001)
    }

    /// A write that creates a user (an event or attributes for a new id) while a reader
    /// holds a copy duplicates at most one chunk of each part of the id table, not the
    /// table; the copy still does not know the user.
    @Test func creatingAUserAfterACopyDuplicatesOneChunkOfTheIdTable() throws {
        var db = Database()
        try db.defineEvent("ride", properties: [])
        for u in 0..<30_000 { try db.addEvent(user: "user-\(u)", event: "ride", time: Int64(u), properties: []) }
        for k in 0..<2 {
            let view = db
            if k == 0 { try db.addEvent(user: "new-a", event: "ride", time: 1, properties: []) } else { _ = try db.setAttributes(user: "new-b", []) }
            for (part, chunks) in db.users.ids.chunks(sharedWith: view.users.ids).enumerated() {
                #expect(chunks.count > 4 && chunks.shared >= chunks.count - 2, "write \(k) part \(part): \(chunks)")
            }
            #expect(view.users.row(of: k == 0 ? "new-a" : "new-b") == nil && db.users.row(of: k == 0 ? "new-a" : "new-b") == UInt32(30_000 + k))
            #expect(db.users.row(of: "user-29999") == 29_999 && db.users.id(of: 12_345) == "user-12345")
        }
    }

    /// A snapshot's copy is compacted to exactly the layout a full compaction gives, but
    /// without the indexes nobody reads (the file holds the base layout only).
    @Test func aCopyCompactedForASnapshotHasTheBaseLayoutAndNoIndexes() throws {
        var db = Database()
        try db.defineEvent("ride", properties: [.init(name: "cost", type: .float)])
        for u in 0..<2_000 { try db.addEvent(user: "u\(u % 300)", event: "ride", time: LiveEngineTests.now - Int64(u) * 3_600, properties: [("cost", "\(u)"[...])]) }
        db.compact()
        for u in 0..<500 { try db.addEvent(user: "u\(u % 350)", event: "ride", time: LiveEngineTests.now - Int64(u) * 7_200, properties: [("cost", "1.5")]) }
        _ = db.deleteUser("u7")
        var (full, encoded) = (db, db)
        full.compact()
        encoded.compactForEncoding(workers: 2)
        let (a, b) = (full.events.tables[0], encoded.events.tables[0])
        #expect(b.deltaCount == 0 && b.offsets == a.offsets && b.times == a.times && b.properties.floats == a.properties.floats)
        #expect(a.timeline != nil && a.recent != nil && b.timeline == nil && b.recent == nil)
    }

    /// Snapshot writing runs on a thread of its own at a raised nice value (request
    /// threads keep their priority), and its result or error reaches the caller.
    @Test func backgroundWorkRunsNicedOnItsOwnThreadAndReturnsItsOutcome() throws {
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        let callerNice = getpriority(which, 0)
        let caller = pthread_self()
        let (nice, elsewhere) = BackgroundThread.run(niceIncrement: 5) { () -> (Int32, Bool) in (getpriority(which, 0), pthread_equal(pthread_self(), caller) == 0) }
        #expect(nice == min(19, callerNice + 5))
        #expect(elsewhere)
        // The caller's own priority is untouched.
        #expect(getpriority(which, 0) == callerNice)
        #expect(throws: CohortError.self) { try BackgroundThread.run(niceIncrement: 5) { () throws(CohortError) -> Int in throw .err("disk full") } }
    }
}

extension EventTable {
    /// Both install steps at once, for a caller that holds the table exclusively.
    mutating func install(_ merged: MergedBase, users: UserTable) -> Bool {
        guard let prepared = installing(merged, live: users.live) else { return false }
        return adopt(prepared, builtFrom: (deltaCount, deletedRows.count), live: users.live)
    }
}

/// A flag set once by one thread and read by another.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
