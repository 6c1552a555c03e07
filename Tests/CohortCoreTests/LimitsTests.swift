import CohortCore
import Testing

/// The bounds of `Limits` (DESIGN §4), through `Engine.execute` as the server calls it:
/// each refuses with an error that names the limit, changes nothing, and is lifted by
/// journal replay for counts.
struct LimitsTests {
    static let now: Int64 = 1_782_820_800

    func makeEngine(_ configure: (inout Limits) -> Void = { _ in }) -> Engine {
        let engine = Engine(fixedNow: Self.now, clock: { Self.now })
        configure(&engine.limits)
        for line in ["ATTR.DEFINE plan string", "EVENT.DEFINE ride cost:float", "USER.SET u1 plan pro", "EVENT.ADD u1 ride 2026-06-29 cost 3"] {
            #expect(engine.execute(line.split(separator: " ").map(String.init)) == .ok)
        }
        return engine
    }

    func run(_ engine: Engine, _ words: [String]) -> Reply { engine.execute(words) }

    /// Issue 11: `EVENT.DEFINE big p0:int ... p99999:int` held the write lock for 22.5 s
    /// (a quadratic scan of the declared properties). Past the limit it is refused whole;
    /// under a raised limit it is applied (linear now).
    @Test func manyPropertiesAreRefusedOrApplied() {
        let engine = makeEngine()
        let properties = (0..<100_000).map { "p\($0):int" }
        #expect(
            run(engine, ["EVENT.DEFINE", "big"] + properties)
                == .error(.err("too many properties on event 'big': 100000 (the limit is 1024; raise it with --max-properties)")))
        #expect(run(engine, ["EVENT.ADD", "u1", "big", "2026-06-29"]) == .error(.err("unknown event 'big' (declare it with EVENT.DEFINE)")))
        #expect(run(engine, ["EVENT.DEFINE", "ride"] + (0..<1_024).map { "q\($0):int" }).isError)
        #expect(run(engine, ["EVENT.DEFINE", "ride"] + (0..<1_023).map { "q\($0):int" }) == .ok)

        let raised = makeEngine { $0.propertiesPerEvent = 200_000 }
        #expect(run(raised, ["EVENT.DEFINE", "big"] + properties) == .ok)
        #expect(run(raised, ["EVENT.ADD", "u1", "big", "2026-06-29", "p99999", "7"]) == .ok)
        #expect(run(raised, ["AGG.GET", "u1", "max(big.p99999)"]) == .array([.integer(7)]))
    }

    @Test func definitionCountsAreBounded() {
        let engine = makeEngine {
            $0.attributes = 2
            $0.segments = 2
            $0.aggregates = 1
            $0.events = 2
        }
        #expect(run(engine, ["ATTR.DEFINE", "age", "int"]) == .ok)
        #expect(run(engine, ["ATTR.DEFINE", "age", "int"]) == .ok)  // already there: no new attribute
        #expect(run(engine, ["ATTR.DEFINE", "x", "int"]) == .error(.err("too many attributes: 3 (the limit is 2; raise it with --max-attributes)")))
        #expect(run(engine, ["EVENT.DEFINE", "open"]) == .ok)
        #expect(run(engine, ["EVENT.DEFINE", "buy"]) == .error(.err("too many event types: 3 (the limit is 2; raise it with --max-events)")))
        #expect(run(engine, ["SEGMENT.DEFINE", "a", "age > 1"]) == .ok)
        #expect(run(engine, ["SEGMENT.DEFINE", "b", "segment(a)"]) == .ok)
        #expect(run(engine, ["SEGMENT.DEFINE", "c", "age > 3"]) == .error(.err("too many segments: 3 (the limit is 2; raise it with --max-segments)")))
        #expect(run(engine, ["SEGMENT.DEFINE", "a", "age > 2"]) == .ok)  // a redefinition is not a new segment
        #expect(run(engine, ["SEGMENT.COUNT", "b"]) == .integer(0))
        #expect(run(engine, ["AGG.DEFINE", "n", "count(ride)"]) == .ok)
        #expect(run(engine, ["AGG.DEFINE", "m", "n + 1"]) == .error(.err("too many aggregates: 2 (the limit is 1; raise it with --max-aggregates)")))
        #expect(run(engine, ["SEGMENT.LIST"]) == .array([.array([.bulk("a"), .bulk("age > 2")]), .array([.bulk("b"), .bulk("segment(a)")])]))
    }

    /// Definitions compose: a chain of segments nests as deep as the chain, and a segment
    /// naming another twice doubles the plan. Both are bounded when defined and when an
    /// ad-hoc text names them.
    @Test func composedDefinitionsAreBounded() {
        let engine = makeEngine {
            $0.nesting = 8
            $0.planNodes = 1_000
        }
        #expect(run(engine, ["SEGMENT.DEFINE", "s0", "plan = \"pro\""]) == .ok)
        var accepted = 0
        var refusal: Reply = .ok
        for i in 1...40 {
            let reply = run(engine, ["SEGMENT.DEFINE", "s\(i)", "not segment(s\(i - 1))"])
            if reply != .ok {
                refusal = reply
                break
            }
            accepted = i
        }
        // s0 is two levels (a comparison over leaves); each link adds a `not` and a
        // reference: two more; 4 x 8 = 32 levels hold s15.
        #expect(accepted == 15)
        #expect(refusal == .error(.err("segment 's16' nests deeper than 32 plan levels with the definitions it uses (--max-nesting is 8)")))
        #expect(run(engine, ["SEGMENT.COUNT", "s14"]) == .integer(1))
        #expect(run(engine, ["SEGMENT.COUNT", "s15"]) == .integer(0))
        #expect(run(engine, ["SEGMENT.COUNT", "not segment(s15)"]) == .error(.err("the expression nests deeper than 32 plan levels with the definitions it uses (--max-nesting is 8)")))

        #expect(run(engine, ["SEGMENT.DEFINE", "d0", "plan = \"pro\""]) == .ok)
        var doubled = 0
        for i in 1...20 where run(engine, ["SEGMENT.DEFINE", "d\(i)", "segment(d\(i - 1)) or segment(d\(i - 1))"]) == .ok { doubled = i }
        #expect(doubled == 7)  // 2^8 leaves and their or-nodes pass 1,000 nodes
        #expect(run(engine, ["SEGMENT.COUNT", "segment(d7) and segment(d7) and segment(d7)"]).isError)
        #expect(run(engine, ["SEGMENT.COUNT", "d7"]) == .integer(1))
    }

    @Test func fanOutAndPagesAreBounded() {
        let engine = makeEngine {
            $0.overlapTargets = 3
            $0.pageSize = 10
            $0.valuesPerRequest = 2
        }
        #expect(run(engine, ["SEGMENT.OVERLAP", "plan = \"pro\"", "plan = \"x\"", "plan = \"y\""]) == .array([
            .array([.integer(1), .integer(0), .integer(0)]), .array([.integer(0), .integer(0), .integer(0)]),
            .array([.integer(0), .integer(0), .integer(0)]),
        ]))
        #expect(
            run(engine, ["SEGMENT.OVERLAP", "a", "b", "c", "d"])
                == .error(.err("too many SEGMENT.OVERLAP targets: 4 (the limit is 3; raise it with --max-overlap-targets)")))
        #expect(run(engine, ["SEGMENT.MEMBERS", "plan = \"pro\"", "COUNT", "10"]) == .array([.bulk("0"), .array([.bulk("u1")])]))
        #expect(
            run(engine, ["SEGMENT.MEMBERS", "plan = \"pro\"", "COUNT", "11"])
                == .error(.err("COUNT 11 is past the page limit of 10 (--max-page-size); page with CURSOR")))
        #expect(run(engine, ["AGG.GET", "u1", "count(ride)", "sum(ride.cost)"]) == .array([.integer(1), .double(3)]))
        #expect(
            run(engine, ["AGG.GET", "u1", "count(ride)", "count(ride)", "count(ride)"])
                == .error(.err("too many AGG.GET values: 3 (the limit is 2; raise it with --max-values-per-request)")))
    }

    /// Nesting is checked on every text, ad-hoc or defined, and nothing changes.
    @Test func deepExpressionsAreRefusedEverywhere() {
        let engine = makeEngine()
        let deep = String(repeating: "(", count: 100_000) + "plan = \"pro\"" + String(repeating: ")", count: 100_000)
        let refusal = Reply.error(.err("expression nested deeper than 256 levels at 257"))
        #expect(run(engine, ["SEGMENT.COUNT", deep]) == refusal)
        #expect(run(engine, ["SEGMENT.DEFINE", "deep", deep]) == refusal)
        #expect(run(engine, ["AGG.GET", "u1", String(repeating: "-", count: 100_000) + "1"]) == .error(.err("expression nested deeper than 256 levels at 257")))
        #expect(run(engine, ["SEGMENT.LIST"]) == .array([]))
        #expect(run(engine, ["SEGMENT.CHECK", "plan = \"pro\"", "u1"]) == .integer(1))
    }
}

extension Reply {
    var isError: Bool {
        if case .error = self { return true }
        return false
    }
}
