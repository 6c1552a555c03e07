import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// The data directory: journal replay, torn tails, snapshot rotation and the crashes
/// in between, the lock, and the refusal of writes after a journal failure.
struct DataDirectoryTests {
    static let clock: @Sendable () -> Int64 = { demoNow }

    func open(_ directory: TemporaryDirectory, policy: AppendFsync = .always) throws -> (DataDirectory, Engine, DataDirectory.Recovery) {
        try DataDirectory.open(directory.path, create: true, appendfsync: policy, clock: Self.clock)
    }

    func journals(_ directory: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("journal-") }.sorted()
    }

    func run(_ engine: Engine, _ lines: [String]) {
        for line in lines {
            let reply = engine.run(line)
            #expect(!reply.isError, "\(line): \(reply)")
        }
    }

    /// `count` rides for `user`, numbered from `first` (distinct times).
    func rides(_ user: String, _ first: Int, _ count: Int) -> [String] {
        (first..<first + count).map { "EVENT.ADD \(user) ride \(1_780_000_000 + $0) cost \($0)" }
    }

    func rideCount(_ engine: Engine, _ user: String) -> Reply { engine.run("AGG.GET \(user) \"count(ride)\"") }

    static let schema = ["ATTR.DEFINE n int", "ATTR.DEFINE plan string", "EVENT.DEFINE ride cost:float"]

    @Test func everyAcknowledgedMutationSurvivesAReopen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let script =
            Self.schema + [
                "USER.SET a n 1 plan pro", "USER.SET b n 2 plan free", "EVENT.ADD a ride * cost 2.5", "USER.DEL b", "USER.SET b n 3",
                "SEGMENT.DEFINE pros \"plan = \\\"pro\\\"\"", "SEGMENT.REFRESH pros", "AGG.DEFINE spend \"sum(ride.cost)\"", "USER.UNSET a n",
            ] + rides("c", 0, 50)
        let reference = Engine(fixedNow: demoNow, clock: Self.clock)
        run(reference, script)
        do {
            let (dataDirectory, engine, recovery) = try open(directory)
            #expect(!recovery.snapshotLoaded && recovery.journalRecords == 0)
            run(engine, script)
            try dataDirectory.close()
        }
        let (dataDirectory, engine, recovery) = try open(directory)
        defer { try? dataDirectory.close() }
        #expect(recovery.journalRecords == script.count)
        #expect(recovery.warnings.isEmpty)
        for question in [
            "USER.GET a", "USER.GET b", "SEGMENT.LIST", "SEGMENT.MEMBERS pros", "AGG.GET a spend", "AGG.GET c spend \"count(ride)\"",
            "SEGMENT.REFRESH pros",
        ] {
            #expect(engine.run(question) == reference.run(question), "\(question)")
        }
    }

    @Test func aSnapshotRotatesTheJournalAndRecoveryCombinesBoth() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (dataDirectory, engine, _) = try open(directory)
            run(engine, Self.schema + rides("a", 0, 10))
            #expect(engine.run("SNAPSHOT") == .ok)
            #expect(try journals(directory) == ["journal-00000002.log"])
            run(engine, rides("a", 10, 5))
            try dataDirectory.close()
        }
        let (dataDirectory, engine, recovery) = try open(directory)
        defer { try? dataDirectory.close() }
        #expect(recovery.snapshotLoaded)
        #expect(recovery.journalRecords == 5)
        #expect(rideCount(engine, "a") == .array([.integer(15)]))
        guard case .bulk(let info) = engine.run("INFO") else {
            Issue.record("INFO is not a bulk string")
            return
        }
        #expect(info.contains("last_snapshot:2026-07-01T00:00:00Z"))
    }

    @Test func aTornTailIsDroppedWithAWarningAndNewRecordsFollowTheLastGoodOne() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (dataDirectory, engine, _) = try open(directory)
            run(engine, Self.schema + rides("a", 0, 3))
            try dataDirectory.close()
        }
        let journal = directory.file(try journals(directory)[0])
        let goodSize = try FileManager.default.attributesOfItem(atPath: journal)[.size] as! Int
        // Half of a record: its header promises 40 bytes, 6 arrive.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: journal))
        handle.seekToEndOfFile()
        handle.write(Data([40, 0, 0, 0, 1, 2, 3, 4, 5, 6]))
        try handle.close()
        do {
            let (dataDirectory, engine, recovery) = try open(directory)
            #expect(recovery.warnings.count == 1)
            #expect(recovery.warnings.first?.contains("at byte \(goodSize)") == true)
            #expect(rideCount(engine, "a") == .array([.integer(3)]))
            run(engine, rides("a", 3, 1))
            try dataDirectory.close()
        }
        let (dataDirectory, engine, recovery) = try open(directory)
        defer { try? dataDirectory.close() }
        #expect(recovery.warnings.isEmpty)
        #expect(rideCount(engine, "a") == .array([.integer(4)]))
    }

    @Test func aCorruptRecordWithRecordsAfterItStopsStartUp() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (dataDirectory, engine, _) = try open(directory)
            run(engine, Self.schema + rides("a", 0, 20))
            try dataDirectory.close()
        }
        let journal = directory.file(try journals(directory)[0])
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: journal)))
        bytes[bytes.count / 2] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: journal))
        let error = #expect(throws: CohortError.self) { try open(directory) }
        #expect(error?.message.contains("is corrupted at byte") == true)
        // The failed open released the lock: after repair it opens.
        #expect(!(error?.message.contains("in use") ?? true))
    }

    @Test func aCrashBetweenTheSnapshotRenameAndTheJournalDeletionAppliesNothingTwice() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (dataDirectory, engine, _) = try open(directory)
            run(engine, Self.schema + rides("a", 0, 7))
            let old = try Data(contentsOf: URL(fileURLWithPath: directory.file("journal-00000001.log")))
            #expect(engine.run("SNAPSHOT") == .ok)
            try dataDirectory.close()
            // As if the process died before deleting the journal the snapshot contains.
            try old.write(to: URL(fileURLWithPath: directory.file("journal-00000001.log")))
        }
        let (dataDirectory, engine, _) = try open(directory)
        defer { try? dataDirectory.close() }
        #expect(rideCount(engine, "a") == .array([.integer(7)]))
        #expect(try journals(directory) == ["journal-00000002.log"])
    }

    @Test func aCrashBeforeTheSnapshotRenameReplaysBothJournalsOverTheOldSnapshot() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let (dataDirectory, engine, _) = try open(directory)
            run(engine, Self.schema + rides("a", 0, 4))
            #expect(engine.run("SNAPSHOT") == .ok)  // snapshot 1, journal 2 from here
            run(engine, rides("a", 4, 3))
            let oldSnapshot = try Data(contentsOf: URL(fileURLWithPath: directory.file("snapshot.cohort")))
            let journal2 = try Data(contentsOf: URL(fileURLWithPath: directory.file("journal-00000002.log")))
            #expect(engine.run("SNAPSHOT") == .ok)  // snapshot 2, journal 3 from here
            run(engine, rides("a", 7, 2))
            try dataDirectory.close()
            // As if the second snapshot's rename never happened: the old file, journals 2 and 3.
            try oldSnapshot.write(to: URL(fileURLWithPath: directory.file("snapshot.cohort")))
            try journal2.write(to: URL(fileURLWithPath: directory.file("journal-00000002.log")))
        }
        let (dataDirectory, engine, recovery) = try open(directory)
        defer { try? dataDirectory.close() }
        #expect(recovery.journalFiles == 2)
        #expect(rideCount(engine, "a") == .array([.integer(9)]))
    }

    @Test func aSecondOwnerIsRefusedWithTheHoldersPid() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (dataDirectory, _, _) = try open(directory)
        let error = #expect(throws: CohortError.self) { try open(directory) }
        #expect(error?.message.contains("is in use by process \(getpid())") == true)
        try dataDirectory.close()
        let (again, _, _) = try open(directory)
        try again.close()
    }

    @Test func aMissingDirectoryIsAnErrorUnlessCreating() {
        let error = #expect(throws: CohortError.self) {
            try DataDirectory.open("/nonexistent/cohort-\(UUID().uuidString)", create: false)
        }
        #expect(error?.message.contains("does not exist") == true)
    }

    final class FailingSink: MutationSink, @unchecked Sendable {
        func append(_ words: [String], at time: Int64) throws(CohortError) {}
        func commit() throws(CohortError) { throw .err("disk full") }
    }

    @Test func afterAJournalFailureWritesAreRefusedButReadsGoOn() {
        let engine = Engine(fixedNow: demoNow, clock: Self.clock)
        run(engine, Self.schema + ["USER.SET a n 1"])
        engine.attach(sink: FailingSink())
        guard case .error(let first) = engine.run("USER.SET a n 2") else {
            Issue.record("the write was acknowledged")
            return
        }
        #expect(first.message.contains("not acknowledged: disk full"))
        guard case .error(let second) = engine.run("USER.SET b n 3") else {
            Issue.record("a later write was accepted")
            return
        }
        #expect(second.message.contains("writes are refused"))
        #expect(engine.run("PING") == .status("PONG"))
        #expect(engine.run("USER.GET b") == .map([]))
    }

    @Test func membersFilesAreSortedBytewise() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = Engine(fixedNow: demoNow, clock: Self.clock)
        let ids = ["b", "a", "B", "é", "ab", "a0", "zz", "Z"]
        run(engine, Self.schema + ids.map { "USER.SET \($0) n 1" } + ["USER.SET out n 2"])
        let path = directory.file("members.txt")
        try engine.read { (db) throws(CohortError) in
            try MembersFile.write(db.users.live.subtracting(Bitmap([db.users.row(of: "out")!])), of: db.users, to: path)
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == "B\nZ\na\na0\nab\nb\nzz\né\n")
    }
}
