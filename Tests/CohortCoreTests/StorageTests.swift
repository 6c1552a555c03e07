import CohortCore
import CohortTestSupport
import Testing

struct StorageTests {
    func makeDatabase() throws -> Database {
        var db = Database()
        try db.defineAttribute("plan", type: .string)
        try db.defineAttribute("verified", type: .bool)
        try db.defineAttribute("tags", type: .tags)
        try db.defineAttribute("age", type: .int)
        try db.defineEvent("ride", properties: [.init(name: "cost", type: .float), .init(name: "car", type: .string)])
        return db
    }

    /// (time, cost) of `user`'s compacted ride events, in stored order.
    func rides(_ db: Database, _ user: String) -> [(UInt32, Double)] {
        let table = db.events.tables[0]
        guard let row = db.users.row(of: user) else { return [] }
        return table.range(of: row).map { (table.times[$0], table.properties.floats[0][$0]) }
    }

    @Test func eventsArrivingOutOfOrderAreStoredSortedByTimeWithArrivalTieBreak() throws {
        var db = try makeDatabase()
        let arrivals: [(String, Int64, String)] = [
            ("a", 300, "1"), ("b", 50, "10"), ("a", 100, "2"), ("a", 300, "3"), ("a", 200, "4"), ("b", 50, "11"),
        ]
        for (user, time, cost) in arrivals {
            try db.addEvent(user: user, event: "ride", time: time, properties: [("cost", cost[...])])
        }
        #expect(db.needsCompaction)
        db.compact()
        #expect(!db.needsCompaction)
        #expect(rides(db, "a").map(\.0) == [100, 200, 300, 300])
        #expect(rides(db, "a").map(\.1) == [2, 4, 1, 3])  // the two at 300 in arrival order
        #expect(rides(db, "b").map(\.1) == [10, 11])

        // Later arrivals merge in; an equal time goes after the earlier-arrived one.
        try db.addEvent(user: "a", event: "ride", time: 300, properties: [("cost", "5")])
        try db.addEvent(user: "a", event: "ride", time: 0, properties: [])
        try db.addEvent(user: "c", event: "ride", time: 7, properties: [("car", "i3")])
        db.compact()
        #expect(rides(db, "a").map(\.0) == [0, 100, 200, 300, 300, 300])
        #expect(rides(db, "a").map(\.1).dropFirst() == [2, 4, 1, 3, 5])
        #expect(rides(db, "a").first!.1.isNaN)  // a missing property is null
        let table = db.events.tables[0]
        let c = db.users.row(of: "c")!
        #expect(table.dictionaries[0].string(for: table.properties.strings[0][table.range(of: c).lowerBound]) == "i3")
        #expect(table.liveCount == 9)
    }

    @Test func randomArrivalOrderMatchesAStableSort() throws {
        var rng = SplitMix(seed: 11)
        var db = try makeDatabase()
        var expected: [String: [(Int64, Double)]] = [:]
        for i in 0..<3000 {
            let user = "u\(rng.next() % 40)"
            let time = Int64(rng.next() % 50)
            try db.addEvent(user: user, event: "ride", time: time, properties: [("cost", "\(i)"[...])])
            expected[user, default: []].append((time, Double(i)))
            if rng.next() % 500 == 0 { db.compact() }
        }
        db.compact()
        for (user, events) in expected {
            // Swift's sort is not guaranteed stable: sort by (time, arrival) explicitly.
            let sorted = events.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element)
            #expect(rides(db, user).map { Int64($0.0) } == sorted.map(\.0))
            #expect(rides(db, user).map(\.1) == sorted.map(\.1))
        }
    }

    @Test func deletingAUserPurgesEveryIndexAndItsEvents() throws {
        var db = try makeDatabase()
        try db.setAttributes(user: "gone", [("plan", "pro"), ("verified", "true"), ("tags", "vip|beta"), ("age", "40")])
        try db.setAttributes(user: "kept", [("plan", "pro"), ("verified", "false"), ("tags", "vip")])
        for t in [10, 20, 30] as [Int64] {
            try db.addEvent(user: "gone", event: "ride", time: t, properties: [("cost", "1")])
        }
        try db.addEvent(user: "kept", event: "ride", time: 15, properties: [("cost", "2")])
        db.compact()
        try db.addEvent(user: "gone", event: "ride", time: 40, properties: [])  // still pending at deletion

        let row = db.users.row(of: "gone")!
        let first = db.deleteUser("gone")
        let second = db.deleteUser("gone")
        #expect(first && !second)
        #expect(db.users.row(of: "gone") == nil)
        #expect(!db.users.live.contains(row))
        let plan = db.attributes.strings[0]
        #expect(!plan.rows(equalTo: "pro").contains(row))
        #expect(!db.attributes.bools[0].trues.contains(row) && !db.attributes.bools[0].falses.contains(row))
        #expect(!db.attributes.tags[0].rows(having: "vip").contains(row))
        #expect(!db.attributes.tags[0].rows(having: "beta").contains(row))
        #expect(db.attributes.int64s[0].value(row) == nil)
        #expect(db.events.liveCount == 1)
        db.compact()
        #expect(db.events.tables[0].times.count == 1)
        #expect(db.events.tables[0].range(of: row).isEmpty)

        // The id can come back as a brand-new user with nothing of the old one.
        try db.setAttributes(user: "gone", [("age", "1")])
        #expect(db.attributes(of: "gone")!.map(\.name) == ["age"])
        #expect(rides(db, "gone").isEmpty)
        #expect(db.users.liveCount == 2)
    }

    @Test func stringColumnPostingsFollowUpdates() throws {
        var db = try makeDatabase()
        try db.setAttributes(user: "u", [("plan", "free")])
        try db.setAttributes(user: "u", [("plan", "pro")])
        let row = db.users.row(of: "u")!
        #expect(!db.attributes.strings[0].rows(equalTo: "free").contains(row))
        #expect(db.attributes.strings[0].rows(equalTo: "pro").contains(row))
        try db.setAttributes(user: "u", [("plan", "")])
        #expect(db.attributes.strings[0].rows(equalTo: "pro").isEmpty)
        #expect(db.attributes(of: "u")!.isEmpty)
    }

    @Test func addingAPropertyLaterLeavesOlderEventsNull() throws {
        var db = try makeDatabase()
        try db.addEvent(user: "u", event: "ride", time: 1, properties: [("cost", "3")])
        db.compact()
        try db.defineEvent("ride", properties: [.init(name: "minutes", type: .int)])
        try db.addEvent(user: "u", event: "ride", time: 2, properties: [("minutes", "12")])
        db.compact()
        let table = db.events.tables[0]
        #expect(Array(table.properties.ints[0]) == [Int64.min, 12])
    }
}
