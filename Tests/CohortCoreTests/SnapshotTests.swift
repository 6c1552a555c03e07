import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// Snapshot files: round trip of every type and index, and clear failures (never a
/// crash, never a partial load) on corrupted or truncated files.
struct SnapshotTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        // Chained checksums equal one checksum over the concatenation.
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let first = bytes[..<333].withUnsafeBytes { CRC32C.checksum($0) }
        let whole = bytes[333...].withUnsafeBytes { CRC32C.checksum($0, seed: first) }
        #expect(whole == CRC32C.checksum(bytes))
    }

    /// Demo data plus every kind of state the generator does not make: deleted users,
    /// a returning id, pending events, bool falses, refreshed memberships, aggregates.
    static func makeEngine(_ directory: TemporaryDirectory) throws -> Engine {
        let engine = Engine(fixedNow: demoNow, clock: { demoNow })
        try loadGeneratedDemo(users: 400, directory: directory.path, into: engine)
        for line in [
            "USER.DEL u0000003", "USER.DEL u0000010", "USER.SET u0000010 plan pro verified false tags \"x|y\"",
            "EVENT.ADD u0000010 ride 2026-06-30T10:00:00Z cost 12.5 car tesla distance_km 3",
            "EVENT.ADD u0000005 purchase 2026-06-29T10:00:00Z amount 99",
            "ATTR.DEFINE late_int int", "USER.SET newcomer late_int 7 score 1.5",
            "EVENT.DEFINE ride rating:int", "EVENT.ADD newcomer ride 2026-06-01T00:00:00Z rating 5 cost 1",
            "AGG.DEFINE spend_30d \"sum(purchase.amount, last 30d)\"",
            "SEGMENT.DEFINE french \"country = \\\"FR\\\"\"", "SEGMENT.REFRESH premium_eligible", "SEGMENT.REFRESH french",
        ] {
            let reply = engine.run(line)
            #expect(!reply.isError, "\(line): \(reply)")
        }
        return engine
    }

    /// Every answer the engines give to the same questions.
    static func answers(_ engine: Engine) -> [Reply] {
        var questions = ["SEGMENT.LIST", "SEGMENT.OVERLAP premium_eligible french dormant_riders new_users promoters"]
        for segment in ["premium_eligible", "french", "dormant_riders", "new_users", "promoters", "expiring_subscription", "big_spenders"] {
            questions += ["SEGMENT.COUNT \(segment)", "SEGMENT.MEMBERS \(segment) COUNT 100000", "SEGMENT.REFRESH \(segment)"]
        }
        questions += [
            "AGG.STATS spend_30d", "AGG.STATS rides_90d IN premium_eligible", "SEGMENT.COUNT \"tags has \\\"x\\\" or late_int = 7\"",
            "SEGMENT.COUNT \"count(ride where rating >= 5) >= 1\"", "SEGMENT.COUNT \"verified = false\"",
        ]
        var replies = questions.map { engine.run($0) }
        let ids = engine.read { db in (0..<UInt32(db.users.rowCount)).map { db.users.id(of: $0) } }
        for id in ids + ["u0000003", "nobody"] {
            replies.append(engine.run("USER.GET \(id)"))
            replies.append(engine.run("AGG.GET \(id) rides_90d ride_spend_90d spend_30d \"last(ride)\" \"count(app_open)\""))
        }
        return replies
    }

    /// Compares answers one by one, so a failure shows the first differing reply only.
    static func expectSameAnswers(_ a: Engine, _ b: Engine, sourceLocation: SourceLocation = #_sourceLocation) {
        let (x, y) = (answers(a), answers(b))
        #expect(x.count == y.count, sourceLocation: sourceLocation)
        if let k = x.indices.first(where: { $0 < y.count && x[$0] != y[$0] }) {
            Issue.record(
                "answer \(k) differs: \(String(describing: x[k]).prefix(300)) vs \(String(describing: y[k]).prefix(300))",
                sourceLocation: sourceLocation)
        }
    }

    @Test func aSnapshotRoundTripsEveryTypeIndexAndDefinition() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = try Self.makeEngine(directory)
        let original = engine.read { $0 }
        let path = directory.file("snapshot.cohort")
        let report = try SnapshotWriter.write(original, meta: SnapshotMeta(createdAt: demoNow, journalGeneration: 9), to: path)
        #expect(report.fileBytes < report.uncompressedBytes)

        let (restored, meta) = try SnapshotReader.read(path: path)
        #expect(meta == SnapshotMeta(createdAt: demoNow, journalGeneration: 9))
        try restored.checkInvariants()
        try original.checkInvariants()
        #expect(restored.schema == original.schema)
        #expect(restored.users.rowCount == original.users.rowCount)
        #expect(restored.users.live == original.users.live)
        #expect(restored.memberships == original.memberships)
        #expect(restored.catalog.segments == original.catalog.segments)
        #expect(restored.catalog.aggregates == original.catalog.aggregates)
        #expect(restored.events.liveCount == original.events.liveCount)
        #expect(restored.users.row(of: "u0000003") == nil)
        #expect(restored.users.row(of: "u0000010") == original.users.row(of: "u0000010"))

        let copy = Engine(database: restored, fixedNow: demoNow, clock: { demoNow })
        Self.expectSameAnswers(copy, engine)
        // Both keep evolving identically (new rows, new dictionary codes).
        for line in ["USER.SET later plan enterprise", "EVENT.ADD later ride 2026-06-30T11:00:00Z car zoe"] {
            #expect(engine.run(line) == copy.run(line))
        }
        Self.expectSameAnswers(copy, engine)
    }

    @Test func anEmptyDatabaseRoundTrips() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("snapshot.cohort")
        try SnapshotWriter.write(Database(), meta: SnapshotMeta(createdAt: 0, journalGeneration: 1), to: path)
        let (db, _) = try SnapshotReader.read(path: path)
        #expect(db.users.rowCount == 0)
        #expect(db.schema.attributes.isEmpty)
    }

    /// Regression (found by TSan): decoding empty columns in parallel must not write the
    /// shared empty-array storage. Every column here is empty, and sections decode on
    /// several threads; run under `--sanitize=thread` this failed before the fix.
    @Test func declaredButEmptyColumnsRoundTrip() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let engine = Engine(fixedNow: demoNow, clock: { demoNow })
        for line in [
            "ATTR.DEFINE a int", "ATTR.DEFINE b float", "ATTR.DEFINE c string", "ATTR.DEFINE d tags", "ATTR.DEFINE e bool",
            "EVENT.DEFINE x n:int f:float s:string b:bool", "EVENT.DEFINE y", "EVENT.DEFINE z s:string",
        ] {
            #expect(engine.run(line) == .ok)
        }
        let path = directory.file("snapshot.cohort")
        try SnapshotWriter.write(engine.read { $0 }, meta: SnapshotMeta(createdAt: 0, journalGeneration: 1), to: path)
        for _ in 0..<20 {
            let (db, _) = try SnapshotReader.read(path: path)
            #expect(db.schema == engine.read { $0.schema })
            #expect(db.events.liveCount == 0 && db.users.rowCount == 0)
        }
    }

    /// Offsets of every section header in a snapshot file, with its name.
    static func sections(_ bytes: [UInt8]) -> [(name: String, header: Int)] {
        var result: [(String, Int)] = []
        let magic = Array("SECT".utf8)
        var i = 32
        while i + 6 < bytes.count {
            if Array(bytes[i..<i + 4]) == magic {
                let length = Int(bytes[i + 4]) | Int(bytes[i + 5]) << 8
                if i + 6 + length <= bytes.count, let name = String(validating: bytes[i + 6..<i + 6 + length], as: UTF8.self),
                    name.allSatisfy({ $0.isLetter || $0 == " " || $0 == "_" || $0 == "/" || $0.isNumber })
                {
                    result.append((name, i))
                    i += 6 + length
                    continue
                }
            }
            i += 1
        }
        return result
    }

    func readError(_ path: String) -> String? {
        do {
            _ = try SnapshotReader.read(path: path)
            return nil
        } catch {
            return error.message
        }
    }

    /// The bytes of a snapshot of `makeEngine`'s state, written in `directory`.
    static func goodSnapshot(_ directory: TemporaryDirectory) throws -> [UInt8] {
        let engine = try makeEngine(directory)
        let path = directory.file("snapshot.cohort")
        try SnapshotWriter.write(engine.read { $0 }, meta: SnapshotMeta(createdAt: demoNow, journalGeneration: 1), to: path)
        return try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test func aFlippedByteInAnySectionFailsNamingThatSection() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let good = try Self.goodSnapshot(directory)
        let sections = Self.sections(good)
        // meta, schema, definitions, users, 10 attributes, 9 events, memberships, feed; then the
        // raw columns: 3 of users, 8 attribute columns (not bool, tags), 9 x (offsets, times), 7 properties.
        #expect(sections.count == 4 + 10 + 9 + 2 + 3 + 8 + 18 + 7)
        for name in ["users/ids", "users/id slots", "attribute score/values", "attribute plan/codes", "event ride/times", "event ride/car"] {
            #expect(sections.contains { $0.name == name }, "no section \(name)")
        }
        let bad = directory.file("bad.cohort")
        for (k, section) in sections.enumerated() {
            let end = k + 1 < sections.count ? sections[k + 1].header : good.count
            // A byte in the header (its length field), and a byte in the middle of its blocks.
            let nameEnd = section.header + 6 + section.name.utf8.count
            for position in [nameEnd + 1, (nameEnd + 12 + end) / 2] {
                var bytes = good
                bytes[position] ^= 0x5A
                try Data(bytes).write(to: URL(fileURLWithPath: bad))
                let message = try #require(readError(bad), "flip at \(position) in \(section.name) was not detected")
                #expect(message.contains("section '\(section.name)'"), "\(message)")
                #expect(message.contains(bad))
            }
        }
        // The file header itself.
        var bytes = good
        bytes[13] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        #expect(readError(bad)?.contains("section 'header'") == true)
    }

    @Test func aTruncatedSnapshotAlwaysFailsClearly() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let good = try Self.goodSnapshot(directory)
        let bad = directory.file("short.cohort")
        var rng = SplitMix(seed: 5)
        var cuts = [0, 1, 31, 32, 33, good.count - 1] + Self.sections(good).flatMap { [$0.header, $0.header + 3, $0.header + 20] }
        for _ in 0..<150 { cuts.append(Int(rng.next() % UInt64(good.count))) }
        for cut in cuts {
            try Data(good[..<cut]).write(to: URL(fileURLWithPath: bad))
            let message = try #require(readError(bad), "cut at \(cut) was not detected")
            #expect(message.contains(bad) && (message.contains("section '") || message.contains("truncated")), "\(message)")
        }
        // Extra bytes after the last section are refused too.
        try Data(good + [1, 2, 3]).write(to: URL(fileURLWithPath: bad))
        #expect(readError(bad)?.contains("unexpected bytes") == true)
    }

    @Test func aForeignOrNewerFileIsRefusedWithAClearMessage() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let foreign = directory.write("foreign.cohort", "user_id,plan\nu1,pro\n" + String(repeating: "x", count: 64))
        #expect(readError(foreign)?.contains("is not a Cohort snapshot") == true)

        let path = directory.file("snapshot.cohort")
        try SnapshotWriter.write(Database(), meta: SnapshotMeta(createdAt: 0, journalGeneration: 1), to: path)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[8] = 5  // the version after this build's (4)
        let crc = bytes[0..<28].withUnsafeBytes { CRC32C.checksum($0) }
        withUnsafeBytes(of: crc.littleEndian) { for k in 0..<4 { bytes[28 + k] = $0[k] } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(readError(path)?.contains("format version 5, written by a newer Cohort") == true)
        bytes[8] = 3  // version 3, from development builds (no splits in the feed)
        let crc1 = bytes[0..<28].withUnsafeBytes { CRC32C.checksum($0) }
        withUnsafeBytes(of: crc1.littleEndian) { for k in 0..<4 { bytes[28 + k] = $0[k] } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(readError(path)?.contains("format version 3, written by an earlier development build") == true)
    }
}
