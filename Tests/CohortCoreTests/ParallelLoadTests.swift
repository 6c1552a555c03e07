import CohortTestSupport
import Foundation
import Testing

@testable import CohortCore

/// The events load parses chunks in parallel; these tests make sure that changes nothing.
struct ParallelLoadTests {
    @Test func splittingNeverCutsAQuotedNewline() {
        var rng = SplitMix(seed: 5)
        var text = "h\n"
        for i in 0..<2000 {
            text += rng.next() % 3 == 0 ? "u\(i),\"multi\nline, \"\"quoted\"\"\"\n" : "u\(i),plain\n"
        }
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { raw in
            for parts in [2, 3, 7, 50, 400] {
                let ranges = ChunkPipeline.split(raw, from: 2, parts: parts)
                #expect(ranges.first?.lowerBound == 2 && ranges.last?.upperBound == raw.count)
                for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
                // Every range parses into whole records, the same as reading the body at once.
                var records = 0
                for range in ranges {
                    var reader = CSVReader(bytes: UnsafeRawBufferPointer(rebasing: raw[range]), skipByteOrderMark: false)
                    var fields: [CSVReader.Field] = []
                    while (try? reader.next(into: &fields)) == true {
                        #expect(fields.count == 2)
                        records += 1
                    }
                }
                #expect(records == 2000)
            }
        }
    }

    @Test func aMultiChunkLoadEqualsAddingEachRowInOrder() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        _ = try DatasetGenerator.write(GeneratorOptions(users: 4000, seed: 3), to: dir.path)
        let path = dir.file("events.csv")
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        #expect(ChunkPipeline.chunkCount(size) >= 2)

        let engine = Engine()
        try DefinitionsScript.run(DemoSchema.text, file: "schema", on: engine)
        var loaded = engine.snapshotView()
        var reference = loaded
        _ = try BulkLoader.loadEvents(path: path, into: &loaded)

        // Reference: every row through Database.addEvent (the generated file has no quotes).
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for line in lines.dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            var pairs: [(name: String, value: Substring)] = []
            for c in 3..<f.count where !f[c].isEmpty { pairs.append((header[c], f[c])) }
            try reference.addEvent(user: String(f[0]), event: String(f[1]), time: TimeFormat.parse(f[2])!, properties: pairs)
        }
        reference.compact()

        #expect(loaded.users.rowCount == reference.users.rowCount)
        for row in 0..<UInt32(loaded.users.rowCount) { #expect(loaded.users.id(of: row) == reference.users.id(of: row)) }
        for (a, b) in zip(loaded.events.tables, reference.events.tables) {
            #expect(a.offsets == b.offsets)
            #expect(a.times == b.times)
            #expect(a.properties.ints == b.properties.ints)
            #expect(a.properties.floats.map { $0.map(\.bitPattern) } == b.properties.floats.map { $0.map(\.bitPattern) })
            #expect(a.properties.strings == b.properties.strings)
            #expect(a.dictionaries == b.dictionaries)
        }
    }

    @Test func anErrorInALaterChunkReportsItsAbsoluteLine() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var text = "user_id,event,time,cost\n"
        let rows = 150_000
        for i in 0..<rows { text += "user\(i % 977),ride,\(1_780_000_000 + i),\(i % 50).25\n" }
        text += "late,ride,2026-06-01,not-a-number\n"
        let path = dir.write("events.csv", text)
        #expect(ChunkPipeline.chunkCount(text.utf8.count) >= 2)
        var db = Database()
        try db.defineEvent("ride", properties: [.init(name: "cost", type: .float)])
        do {
            _ = try BulkLoader.loadEvents(path: path, into: &db)
            Issue.record("expected a failure")
        } catch {
            #expect(error.message.hasPrefix("events.csv line \(rows + 2): property 'cost': expected a float, got 'not-a-number'"))
        }
        #expect(db.events.liveCount == 0)

        let rejects = dir.file("rejects.csv")
        let report = try BulkLoader.loadEvents(path: path, into: &db, options: LoadOptions(rejects: try RejectsFile(path: rejects)))
        #expect(report.rows == rows && report.rejected == 1)
        #expect(report.firstRejections == ["line \(rows + 2): property 'cost': expected a float, got 'not-a-number'"])
        #expect(db.events.liveCount == rows)
        #expect(db.users.liveCount == 977)
    }

    @Test func aMultiChunkUsersLoadEqualsSettingEachRowAndReportsLaterLines() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        _ = try DatasetGenerator.write(GeneratorOptions(users: 40_000, seed: 8, days: 30), to: dir.path)
        let path = dir.file("users.csv")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(ChunkPipeline.chunkCount(text.utf8.count) >= 2)
        let engine = Engine()
        try DefinitionsScript.run(DemoSchema.text, file: "schema", on: engine)
        var loaded = engine.snapshotView()
        var reference = loaded
        _ = try BulkLoader.loadUsers(path: path, into: &loaded)
        let lines = text.split(separator: "\n")
        let header = lines[0].split(separator: ",").map(String.init)
        for line in lines.dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            try reference.setAttributes(user: String(f[0]), (1..<f.count).map { (header[$0], f[$0]) })
        }
        #expect(loaded.users.rowCount == 40_000)
        for row in stride(from: UInt32(0), to: 40_000, by: 7) {
            let id = loaded.users.id(of: row)
            #expect(reference.users.id(of: row) == id)
            #expect(loaded.attributes(of: id)!.map(\.value) == reference.attributes(of: id)!.map(\.value))
        }

        // A bad row at the very end of a multi-chunk file: its absolute line, nothing kept.
        let bad = dir.write("bad.csv", text + "late,pro,PL,pl,maybe,,,,,\n")
        var db = engine.snapshotView()
        do {
            _ = try BulkLoader.loadUsers(path: bad, into: &db)
            Issue.record("expected a failure")
        } catch {
            #expect(error.message.hasPrefix("bad.csv line \(lines.count + 1): attribute 'verified': expected a bool (true or false), got 'maybe'"))
        }
        #expect(db.users.liveCount == 0)
    }
}
