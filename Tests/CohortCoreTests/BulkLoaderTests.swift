import CohortCore
import CohortTestSupport
import Foundation
import Testing

struct BulkLoaderTests {
    func makeDatabase() throws -> Database {
        var db = Database()
        try db.defineAttribute("plan", type: .string)
        try db.defineAttribute("age", type: .int)
        try db.defineAttribute("verified", type: .bool)
        try db.defineAttribute("signup_at", type: .time)
        try db.defineAttribute("tags", type: .tags)
        try db.defineAttribute("score", type: .float)
        try db.defineEvent("ride", properties: [.init(name: "cost", type: .float), .init(name: "car", type: .string)])
        try db.defineEvent("nps", properties: [.init(name: "rating", type: .int)])
        try db.defineEvent("app_open", properties: [])
        return db
    }

    func loadUsers(_ csv: String, into db: inout Database, rejects: RejectsFile? = nil) throws -> LoadReport {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        return try BulkLoader.loadUsers(path: dir.write("users.csv", csv), into: &db, options: LoadOptions(rejects: rejects))
    }

    func loadEvents(_ csv: String, into db: inout Database, rejects: RejectsFile? = nil) throws -> LoadReport {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        return try BulkLoader.loadEvents(path: dir.write("events.csv", csv), into: &db, options: LoadOptions(rejects: rejects))
    }

    func loadError(_ body: () throws -> LoadReport) -> String? {
        do {
            _ = try body()
            return nil
        } catch let error as CohortError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func loadsEveryAttributeTypeWithNullsQuotesAndCRLF() throws {
        var db = try makeDatabase()
        let csv = "user_id,plan,age,verified,signup_at,tags,score\r\n"
            + "a,pro,31,true,2026-06-30T12:00:00Z,vip|beta,1.5\r\n"
            + "b,,,,,,\r\n"
            + "\"c\",\"say \"\"hi\"\", ok\",-4,false,1782820800,,\n"
        let report = try loadUsers(csv, into: &db)
        #expect(report.rows == 3 && report.rejected == 0)
        #expect(db.attributes(of: "a")!.map(\.value) == [.string("pro"), .int(31), .bool(true), .time(1_782_820_800), .tags(["beta", "vip"]), .float(1.5)])
        #expect(db.attributes(of: "b")!.isEmpty)  // a row with every field empty still creates the user
        #expect(db.users.liveCount == 3)
        #expect(db.attributes(of: "c")!.first!.value == .string("say \"hi\", ok"))
    }

    @Test func loadsEventsWithSharedPropertyColumnsAndSortsThem() throws {
        var db = try makeDatabase()
        let csv = """
            user_id,event,time,cost,car,rating
            u1,ride,2026-06-02,10.5,i3,
            u1,nps,2026-06-01,,,9
            u1,ride,2026-06-01,,fiat,
            u2,app_open,1782820800,,,

            """
        let report = try loadEvents(csv, into: &db)
        #expect(report.rows == 4)
        #expect(!db.needsCompaction)
        let rides = db.events.tables[0]
        let u1 = db.users.row(of: "u1")!
        let range = rides.range(of: u1)
        #expect(range.count == 2)
        #expect(rides.times[range.lowerBound] < rides.times[range.lowerBound + 1])
        #expect(rides.properties.floats[0][range.lowerBound].isNaN)
        #expect(rides.properties.floats[0][range.lowerBound + 1] == 10.5)
        #expect(rides.dictionaries[0].string(for: rides.properties.strings[0][range.lowerBound]) == "fiat")
        #expect(db.events.tables[1].properties.ints[0][db.events.tables[1].range(of: u1).lowerBound] == 9)
        #expect(db.events.liveCount == 4)
    }

    @Test(arguments: [
        ("user_id,event,time,cost\nu1,ride,2026-06-01,abc\n", "line 2: property 'cost': expected a float, got 'abc'"),
        ("user_id,event,time,cost\nu1,ride,2026-06-01,1\nu1,ride,yesterday,1\n", "line 3: bad time 'yesterday'"),
        ("user_id,event,time,cost\nu1,ride,2026-06-01\n", "line 2: wrong column count: expected 4 fields, got 3"),
        ("user_id,event,time,cost\nu 1,ride,2026-06-01,1\n", "line 2: invalid user id 'u 1'"),
        ("user_id,event,time,cost\nu1,walk,2026-06-01,1\n", "line 2: unknown event 'walk'"),
        ("user_id,event,time,rating\nu1,ride,2026-06-01,3\n", "line 2: event 'ride' has no property 'rating'"),
        ("user_id,event,time,cost\nu1,ride,1800-01-01,1\n", "line 2: event time 1800-01-01T00:00:00Z is out of range"),
        ("user_id,event,time,speed\n", "line 1: undeclared column 'speed'"),
        ("user,event,time\n", "line 1: the header must start with user_id,event,time"),
        ("user_id,event,time,car\nu1,ride,2026-06-01,\"i3\n", "line 2: unterminated quoted field"),
        ("user_id,event,time,car\nu1,ride,2026-06-01,\"i3\"x\n", "line 2: text after a closing quote"),
    ])
    func badEventRowsFailWithTheirLineAndReason(csv: String, expected: String) throws {
        var db = try makeDatabase()
        let message = loadError { try loadEvents(csv, into: &db) }
        #expect(message?.contains(expected) == true, "\(message ?? "no error")")
        #expect(db.events.liveCount == 0)
        #expect(db.users.liveCount == 0)
    }

    @Test func invalidUTF8IsRejectedWithItsLine() throws {
        var db = try makeDatabase()
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("users.csv")
        var bytes = Array("user_id,plan\nok,pro\nbad,".utf8)
        bytes += [0xC3, 0x28, 0x0A]
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let message = loadError { try BulkLoader.loadUsers(path: path, into: &db) }
        #expect(message?.contains("users.csv line 3: column 'plan' is not valid UTF-8") == true, "\(message ?? "")")
        #expect(db.users.liveCount == 0)
    }

    @Test func aFailedLoadKeepsNothingOfThatLoad() throws {
        var db = try makeDatabase()
        _ = try loadUsers("user_id,age\nkeep,1\n", into: &db)
        let message = loadError { try loadUsers("user_id,age\nkeep,2\nnew,3\nbroken,x\n", into: &db) }
        #expect(message?.contains("line 4: attribute 'age': expected an int, got 'x'") == true)
        #expect(db.attributes(of: "keep")!.first!.value == .int(1))
        #expect(db.users.row(of: "new") == nil)
        #expect(db.users.liveCount == 1)
    }

    @Test func skipBadRowsWritesThemToTheRejectsFileAndLoadsTheRest() throws {
        var db = try makeDatabase()
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("rejected.csv")
        let rejects = try RejectsFile(path: path)
        // Both CSVs' rejected rows go to the one file, each naming its source and line.
        let users = try loadUsers("user_id,age\nu9,x\n", into: &db, rejects: rejects)
        #expect(users.rejected == 1)
        let csv = "user_id,event,time,cost\nu1,ride,2026-06-01,1\nu2,ride,nope,1\nu3,ride,2026-06-01,2\nu4,ride,2026-06-01,\"x\"\n"
        let report = try loadEvents(csv, into: &db, rejects: rejects)
        try rejects.close()
        #expect(report.rows == 2)
        #expect(report.rejected == 2)
        #expect(report.firstRejections.count == 2 && report.firstRejections[0].hasPrefix("line 3:"))
        let written = try String(contentsOfFile: path, encoding: .utf8)
        #expect(
            written
                == "source,line,reason,row\n" + "users.csv,2,\"attribute 'age': expected an int, got 'x'\",\"u9,x\"\n"
                + "events.csv,3,bad time 'nope': use Unix seconds or ISO-8601 (2026-06-30T12:00:00Z),\"u2,ride,nope,1\"\n"
                + "events.csv,5,\"property 'cost': expected a float, got 'x'\",\"u4,ride,2026-06-01,\"\"x\"\"\"\n", "\(written)")
        #expect(db.users.row(of: "u2") == nil)  // a rejected row creates no user
        #expect(db.users.liveCount == 2)
    }

    /// A full disk must fail the load, not lose rejected rows silently.
    @Test func aRejectsFileThatCannotBeWrittenFailsTheLoad() throws {
        var db = try makeDatabase()
        let rejects = try RejectsFile(path: "/dev/full")
        _ = try loadEvents("user_id,event,time,cost\nu2,ride,nope,1\n", into: &db, rejects: rejects)
        #expect(throws: CohortError.self) { try rejects.close() }
    }

    @Test func headerErrorsForUsers() throws {
        var db = try makeDatabase()
        #expect(loadError { try loadUsers("id,plan\n", into: &db) }?.contains("line 1: the first column must be user_id") == true)
        #expect(loadError { try loadUsers("user_id,paln\n", into: &db) }?.contains("line 1: undeclared column 'paln'") == true)
        #expect(loadError { try loadUsers("user_id,plan,plan\n", into: &db) }?.contains("appears twice") == true)
        #expect(loadError { try loadUsers("", into: &db) }?.contains("the file is empty") == true)
    }
}

struct GeneratorTests {
    @Test func theSameSeedGivesTheSameBytesAndAnotherSeedDoesNot() throws {
        let a = TemporaryDirectory()
        let b = TemporaryDirectory()
        let c = TemporaryDirectory()
        defer { [a, b, c].forEach { $0.remove() } }
        let ra = try DatasetGenerator.write(GeneratorOptions(users: 5000, seed: 9), to: a.path)
        _ = try DatasetGenerator.write(GeneratorOptions(users: 5000, seed: 9), to: b.path)
        _ = try DatasetGenerator.write(GeneratorOptions(users: 5000, seed: 10), to: c.path)
        for name in ["schema.cohort", "users.csv", "events.csv"] {
            #expect(FileManager.default.contentsEqual(atPath: a.file(name), andPath: b.file(name)), "\(name) differs for one seed")
        }
        #expect(!FileManager.default.contentsEqual(atPath: a.file("events.csv"), andPath: c.file("events.csv")))
        #expect(ra.users == 5000 && ra.events > 5000 * 5)
    }

    @Test func generatedDataLoadsCleanlyWithTheDemoDefinitions() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let report = try DatasetGenerator.write(GeneratorOptions(users: 2000, seed: 1, days: 90), to: dir.path)
        let engine = Engine()
        try DefinitionsScript.run(try String(contentsOfFile: dir.file("schema.cohort"), encoding: .utf8), file: "schema.cohort", on: engine)
        try engine.withExclusiveAccess { (db) throws(CohortError) in
            let users = try BulkLoader.loadUsers(path: dir.file("users.csv"), into: &db)
            let events = try BulkLoader.loadEvents(path: dir.file("events.csv"), into: &db)
            #expect(users.rows == 2000 && users.rejected == 0)
            #expect(events.rows == report.events)
        }
        #expect(engine.read { $0.users.liveCount } == 2000)
        // Times stay inside the window that ends at the default end (2026-07-01).
        let times = engine.read { db in db.events.tables.flatMap { $0.times } }
        #expect(times.allSatisfy { Int64($0) <= 1_782_864_000 && Int64($0) >= 1_782_864_000 - 90 * 86_400 })
    }
}

struct InlineCommandTests {
    @Test(arguments: [
        ("PING", ["PING"]), ("  SET  a   b ", ["SET", "a", "b"]), (#"SEGMENT.DEFINE x "plan = \"free\"""#, ["SEGMENT.DEFINE", "x", #"plan = "free""#]),
        (#"a "\x41\n\t\\""#, ["a", "A\n\t\\"]), ("a 'it\\'s' b", ["a", "it's", "b"]), ("a \"\" b", ["a", "", "b"]),
    ])
    func splitsLikeRedis(line: String, expected: [String]) throws {
        #expect(try InlineCommand.split(line) == expected)
    }

    @Test(arguments: [#"a "b"#, #"a "b"c"#, "a 'b"])
    func unbalancedQuotesAreProtocolErrors(line: String) {
        #expect(throws: CohortError.self) { try InlineCommand.split(line) }
    }

    @Test func definitionsScriptsNameTheFailingLine() {
        let engine = Engine()
        let script = "# comment\n\nATTR.DEFINE plan string\nATTR.DEFINE plan int\n"
        do {
            try DefinitionsScript.run(script, file: "schema.cohort", on: engine)
            Issue.record("expected a failure")
        } catch {
            #expect(error.message == "schema.cohort line 4: attribute 'plan' is already defined as string, cannot redefine it as int")
        }
        #expect(throws: CohortError.self) { try DefinitionsScript.run("USER.SET a plan x\n", file: "f", on: engine) }
    }

}
