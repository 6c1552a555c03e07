import CohortCore
import Testing

/// `SEGMENT.CHECK` reuses compiled plans (`PlanCache`); every kind of change that can
/// make a plan stale must be seen by the next CHECK, through both entry points the
/// server uses (`executeImmediately` on the event loop, `execute` on a worker).
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
        if let (immediate, wrote) = engine.executeImmediately(all, allowWrites: true) {
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
        // A string new to the event dictionary after the plan was compiled (the plan
        // holds dictionary codes).
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
}
