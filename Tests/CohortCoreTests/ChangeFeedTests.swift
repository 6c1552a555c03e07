import CohortCore
import Testing

/// The change feed of FEATURES §1 through `Engine.execute`: the worked example of §1.7
/// byte for byte, the next-change table, deletion, definitions, retention and an oracle
/// that evaluates membership every second.
struct ChangeFeedTests {
    static let start: Int64 = 1_782_864_000  // 2026-07-01T00:00:00Z

    func makeEngine(now: Int64 = ChangeFeedTests.start) throws -> Engine {
        let engine = Engine(fixedNow: now, clock: { now })
        try DefinitionsScript.run(DemoSchema.text, file: "schema", on: engine)
        return engine
    }

    @discardableResult
    func run(_ engine: Engine, _ line: String) throws -> Reply { engine.execute(try InlineCommand.split(line)) }

    /// An entry as XRANGE renders it.
    func entry(_ id: String, _ user: String, _ change: String, _ at: String, _ cause: String) -> Reply {
        .array([
            .bulk(id),
            .array([.bulk("user"), .bulk(user), .bulk("change"), .bulk(change), .bulk("at"), .bulk(at), .bulk("cause"), .bulk(cause)]),
        ])
    }

    @Test func workedExampleOfSection1_7() throws {
        let engine = try makeEngine()
        try run(engine, "SEGMENT.DEFINE active_riders \"count(ride, last 30d) >= 3\"")
        #expect(try run(engine, "SEGMENT.WATCH active_riders") == .array([.integer(0), .bulk("0-0")]))
        for line in [
            "EVENT.ADD u1 ride 2026-06-05T08:00:00Z", "EVENT.ADD u1 ride 2026-06-20T08:00:00Z", "EVENT.ADD u1 ride 2026-06-30T08:00:00Z",
            "EVENT.ADD u2 ride 2026-06-25T10:00:00Z", "EVENT.ADD u2 ride 2026-06-28T10:00:00Z", "EVENT.ADD u2 ride 2026-07-02T09:00:00Z",
        ] {
            #expect(try run(engine, line) == .ok)
        }
        #expect(try run(engine, "XLEN segment:active_riders") == .integer(1))
        #expect(try run(engine, "CLOCK.SET 2026-07-06T00:00:00Z") == .integer(2))
        #expect(try run(engine, "CLOCK.GET") == .bulk("2026-07-06T00:00:00Z"))
        #expect(try run(engine, "EVENT.ADD u1 ride *") == .ok)
        #expect(try run(engine, "USER.DEL u2") == .integer(1))

        let expected: [Reply] = [
            entry("1782864000000-0", "u1", "entered", "2026-07-01T00:00:00Z", "write"),
            entry("1783238401000-0", "u1", "exited", "2026-07-05T08:00:01Z", "time"),
            entry("1783296000000-0", "u1", "entered", "2026-07-06T00:00:00Z", "write"),
            entry("1783296000000-1", "u2", "exited", "2026-07-06T00:00:00Z", "delete"),
        ]
        #expect(try run(engine, "XREAD COUNT 10 STREAMS segment:active_riders 0") == .pairs([.init(.bulk("segment:active_riders"), .array(expected))]))
        #expect(try run(engine, "XRANGE segment:active_riders - +") == .array(expected))
        #expect(try run(engine, "XREVRANGE segment:active_riders + - COUNT 2") == .array([expected[3], expected[2]]))
        #expect(try run(engine, "XRANGE segment:active_riders (1782864000000-0 1783296000000") == .array(Array(expected[1...])))
        guard case .map(let info) = try run(engine, "XINFO STREAM segment:active_riders") else {
            Issue.record("XINFO STREAM is not a map")
            return
        }
        func field(_ name: String) -> Reply? { info.first { $0.key == .bulk(name) }?.value }
        #expect(field("length") == .integer(4))
        #expect(field("entries-added") == .integer(5))
        #expect(field("max-deleted-entry-id") == .bulk("1782982800000-0"))
        #expect(field("last-generated-id") == .bulk("1783296000000-1"))
        #expect(field("recorded-first-entry-id") == .bulk("1782864000000-0"))
        #expect(field("trimmed-up-to") == .bulk("0-0"))
        #expect(field("first-entry") == expected[0])
        #expect(try run(engine, "SEGMENT.SYNC active_riders") == .array([.bulk("0"), .bulk("1783296000000-1"), .array([.bulk("u1")])]))
        #expect(
            try run(engine, "SEGMENT.WATCHES")
                == .array([.array([.bulk("active_riders"), .integer(1), .integer(4), .bulk("1783296000000-1"), .integer(1_000_000), .null])]))
        #expect(try run(engine, "XREAD STREAMS segment:active_riders 1783296000000-1") == .null)
    }
}

