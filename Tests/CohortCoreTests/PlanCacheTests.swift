import CohortCore
import Testing

/// Read commands reuse bound plans (`PlanCache`, the catalog's own plans); plans depend
/// on definitions only, so data writes keep them while every change of an answer is
/// still seen, through both entry points the server uses (`dispatch(.ifFree)` on the
/// event loop, `execute` on a worker).
struct PlanCacheTests {
    static let now: Int64 = 1_782_820_800  // 2026-06-30T12:00:00Z

    func makeEngine() -> Engine {
        let engine = Engine(fixedNow: Self.now, clock: { Self.now })
        for words in [
            ["ATTR.DEFINE", "plan", "string"], ["EVENT.DEFINE", "ride", "car:string"],
            ["SEGMENT.DEFINE", "pros", #"plan = "pro""#],
            ["SEGMENT.DEFINE", "teslas", #"count(ride where car = "tesla", last 30d) >= 1"#],
            ["USER.SET", "u1", "plan", "free"], ["EVENT.ADD", "u1", "ride", "2026-06-29T00:00:00Z", "car", "i3"],
        ] {
            #expect(engine.execute(words) == .ok, "\(words)")
        }
        return engine
    }

    /// CHECK through both paths; they must agree.
    func check(_ engine: Engine, _ words: String...) -> Reply {
        let all = ["SEGMENT.CHECK"] + words
        let direct = engine.execute(all)
        guard case .success(let (command, arguments)) = engine.commands.resolve(all) else { return direct }
        if let (immediate, wrote) = engine.dispatch(command, arguments, .ifFree(allowWrites: true)) {
            #expect(immediate == direct && !wrote)
        }
        return direct
    }

    @Test func aCachedPlanNeverOutlivesAChange() {
        let engine = makeEngine()
        for _ in 0..<3 { #expect(check(engine, "pros", "u1") == .integer(0)) }
        // An attribute write changes the answer.
        #expect(engine.execute(["USER.SET", "u1", "plan", "pro"]) == .ok)
        #expect(check(engine, "pros", "u1") == .integer(1))
        // Redefining the segment under the same name, right after its plan was cached.
        #expect(engine.execute(["SEGMENT.DEFINE", "pros", #"plan = "free""#]) == .ok)
        #expect(check(engine, "pros", "u1") == .integer(0))
        // A string new to the event dictionary after the segment was defined (codes are
        // looked up per evaluation).
        #expect(check(engine, "teslas", "u1") == .integer(0))
        #expect(engine.execute(["EVENT.ADD", "u1", "ride", "2026-06-30T00:00:00Z", "car", "tesla"]) == .ok)
        #expect(check(engine, "teslas", "u1") == .integer(1))
        // A different now is a different plan (the window moves).
        #expect(check(engine, "teslas", "u1", "AT", "2026-06-30T06:00:00Z") == .integer(1))
        #expect(check(engine, "teslas", "u1", "at", "2026-08-30T00:00:00Z") == .integer(0))
        #expect(check(engine, "teslas", "u1") == .integer(1))
        // Deleting the user, and an expression target rather than a name.
        #expect(check(engine, #"plan = "pro""#, "u1") == .integer(1))
        #expect(engine.execute(["USER.DEL", "u1"]) == .integer(1))
        #expect(check(engine, #"plan = "pro""#, "u1") == .integer(0))
        #expect(check(engine, "pros", "u1") == .integer(0))
    }

    @Test func errorsAreNotCached() {
        let engine = makeEngine()
        #expect(check(engine, "vips", "u1").isError)  // not a segment, and not a valid expression
        #expect(engine.execute(["SEGMENT.DEFINE", "vips", #"plan = "free""#]) == .ok)
        #expect(check(engine, "vips", "u1") == .integer(1))
    }

    /// Every read command binds an ad-hoc text once per catalog version: EVENT.ADD,
    /// USER.SET, USER.DEL and compactions keep the plan; a DEFINE rebinds it.
    @Test func plansSurviveDataWritesAndNotDefinitions() throws {
        let engine = makeEngine()
        let target = #"count(ride where car = "zoe", last 30d) >= 1 or plan = "gold""#
        let reads: [[String]] = [
            ["SEGMENT.COUNT", target], ["SEGMENT.MEMBERS", target], ["SEGMENT.CHECK", target, "u1"],
            ["SEGMENT.OVERLAP", target, "pros"], ["AGG.STATS", "count(ride)", "IN", target],
        ]
        for words in reads { #expect(!engine.execute(words).isError, "\(words)") }
        let misses = engine.planCacheStatistics.misses
        #expect(engine.execute(["SEGMENT.COUNT", target]) == .integer(0))
        // Literals that enter the dictionaries only now, after the text was bound.
        #expect(engine.execute(["EVENT.ADD", "u2", "ride", "2026-06-29T00:00:00Z", "car", "zoe"]) == .ok)
        #expect(engine.execute(["SEGMENT.COUNT", target]) == .integer(1))
        #expect(engine.execute(["USER.SET", "u1", "plan", "gold"]) == .ok)
        #expect(engine.execute(["SEGMENT.COUNT", target]) == .integer(2))
        #expect(check(engine, target, "u1") == .integer(1))
        #expect(engine.execute(["USER.DEL", "u2"]) == .integer(1))
        #expect(engine.execute(["SEGMENT.COUNT", target]) == .integer(1))
        #expect(engine.execute(["AGG.GET", "u1", "count(ride)"]) == .array([.integer(1)]))
        #expect(throws: Never.self) { try engine.snapshotView().checkInvariants() }
        let afterWrites = engine.planCacheStatistics.misses
        #expect(afterWrites == misses, "AGG.GET's text was bound by AGG.STATS: \(misses) -> \(afterWrites)")
        // A definition changes the catalog version: the text is bound again.
        #expect(engine.execute(["SEGMENT.DEFINE", "other", "plan is null"]) == .ok)
        #expect(engine.execute(["SEGMENT.COUNT", target]) == .integer(1))
        #expect(engine.planCacheStatistics.misses == afterWrites + 1)
    }

    /// A segment that names another sees the other's new definition at once, and a
    /// redefinition that would break a dependent is refused whole.
    @Test func redefinitionRebindsDependents() {
        let engine = makeEngine()
        #expect(engine.execute(["SEGMENT.DEFINE", "pro_riders", "segment(pros) and count(ride) >= 1"]) == .ok)
        #expect(engine.execute(["SEGMENT.COUNT", "pro_riders"]) == .integer(0))
        #expect(engine.execute(["SEGMENT.DEFINE", "pros", #"plan = "free""#]) == .ok)
        #expect(engine.execute(["SEGMENT.COUNT", "pro_riders"]) == .integer(1))
        #expect(engine.execute(["AGG.DEFINE", "rides", "count(ride)"]) == .ok)
        #expect(engine.execute(["SEGMENT.DEFINE", "riders", "rides >= 1"]) == .ok)
        #expect(engine.execute(["AGG.DEFINE", "rides", "last(ride.car)"]) == .error(.err("segment 'riders' would break: type error at 7: cannot compare string with int")))
        #expect(engine.execute(["SEGMENT.COUNT", "riders"]) == .integer(1))
        #expect(engine.execute(["AGG.DEFINE", "rides", "count(ride, last 1d)"]) == .ok)
        #expect(engine.execute(["SEGMENT.COUNT", "riders"]) == .integer(0))
        #expect(engine.execute(["ATTR.DEFINE", "rides", "int"]) == .error(.err("'rides' is an aggregate; an attribute needs another name")))
    }
}
