import CohortCore
import Testing

/// The data commands of DESIGN §4 through `Engine.execute`, as the server and
/// `cohort run` call them.
struct CommandTests {
    static let now: Int64 = 1_782_820_800  // 2026-06-30T12:00:00Z

    func makeEngine() -> Engine {
        let engine = Engine(fixedNow: Self.now, clock: { Self.now })
        for line in [
            "ATTR.DEFINE plan string", "ATTR.DEFINE age int", "ATTR.DEFINE score float", "ATTR.DEFINE verified bool",
            "ATTR.DEFINE signup_at time", "ATTR.DEFINE tags tags", "EVENT.DEFINE ride distance_km:float car:string paid:bool n:int",
        ] {
            #expect(engine.execute(line.split(separator: " ").map(String.init)) == .ok)
        }
        return engine
    }

    func run(_ engine: Engine, _ words: String...) -> Reply { engine.execute(words) }

    @Test func pingAndUnknownCommandsAndArity() {
        let engine = makeEngine()
        #expect(run(engine, "PING") == .status("PONG"))
        #expect(run(engine, "ping", "hello") == .bulk("hello"))
        #expect(run(engine, "NOPE", "a") == .error(.err("unknown command 'NOPE', with args beginning with: 'a'")))
        #expect(run(engine, "USER.GET") == .error(.err("wrong number of arguments for 'user.get' command")))
        #expect(run(engine, "USER.SET", "u1", "plan") == .error(.err("wrong number of arguments for 'user.set' command")))
    }

    @Test func userSetGetRoundTripsEveryType() {
        let engine = makeEngine()
        #expect(
            run(engine, "USER.SET", "u1", "plan", "pro", "age", "31", "score", "2.5", "verified", "true",
                "signup_at", "2026-06-30T14:00:00+02:00", "tags", "vip|beta") == .ok)
        #expect(
            run(engine, "USER.GET", "u1")
                == .map([
                    .init(.bulk("plan"), .bulk("pro")), .init(.bulk("age"), .integer(31)), .init(.bulk("score"), .double(2.5)),
                    .init(.bulk("verified"), .bool(true)), .init(.bulk("signup_at"), .bulk("2026-06-30T12:00:00Z")),
                    .init(.bulk("tags"), .array([.bulk("beta"), .bulk("vip")])),
                ]))
        #expect(run(engine, "USER.GET", "nobody") == .map([]))
    }

    @Test func userSetIsAllOrNothing() {
        let engine = makeEngine()
        #expect(run(engine, "USER.SET", "u1", "plan", "free") == .ok)
        let reply = run(engine, "USER.SET", "u1", "plan", "pro", "age", "old")
        #expect(reply.isError)
        #expect(run(engine, "USER.GET", "u1") == .map([.init(.bulk("plan"), .bulk("free"))]))
        // A rejected command naming a new user does not create it.
        #expect(run(engine, "USER.SET", "u2", "plan", "pro", "nope", "1").isError)
        #expect(run(engine, "USER.DEL", "u2") == .integer(0))
        #expect(engine.read { $0.users.liveCount } == 1)
    }

    @Test func undeclaredAttributeAndWrongTypeAreErrorsNamingTheAttribute() {
        let engine = makeEngine()
        #expect(run(engine, "USER.SET", "u1", "paln", "pro") == .error(.err("unknown attribute 'paln' (declare it with ATTR.DEFINE)")))
        #expect(run(engine, "USER.SET", "u1", "age", "3.5") == .error(.err("attribute 'age': expected an int, got '3.5'")))
        #expect(run(engine, "ATTR.DEFINE", "age", "float") == .error(.err("attribute 'age' is already defined as int, cannot redefine it as float")))
        #expect(run(engine, "ATTR.DEFINE", "x", "decimal").isError)
        #expect(run(engine, "ATTR.DEFINE", "age", "int") == .ok)
    }

    @Test func unsetNullsAttributes() {
        let engine = makeEngine()
        _ = run(engine, "USER.SET", "u1", "plan", "pro", "age", "3")
        #expect(run(engine, "USER.UNSET", "u1", "plan") == .ok)
        #expect(run(engine, "USER.GET", "u1") == .map([.init(.bulk("age"), .integer(3))]))
        #expect(run(engine, "USER.UNSET", "u1", "nope").isError)
        #expect(run(engine, "USER.UNSET", "ghost", "plan") == .ok)
    }

    @Test func invalidUserIdsAreRejected() {
        let engine = makeEngine()
        #expect(run(engine, "USER.SET", "has space", "age", "1").isError)
        #expect(run(engine, "USER.SET", "tab\tid", "age", "1").isError)
        #expect(run(engine, "USER.SET", String(repeating: "x", count: 257), "age", "1").isError)
        #expect(run(engine, "USER.SET", String(repeating: "x", count: 256), "age", "1") == .ok)
        #expect(run(engine, "EVENT.ADD", "", "ride", "0").isError)
        // The ASCII fast path and the Unicode path agree on what is allowed.
        for bad in ["bell\u{7}", "del\u{7F}", "nul\u{0}", "nbsp\u{A0}x", "em\u{2003}space", "line\u{2028}sep", "c1\u{85}"] {
            #expect(run(engine, "EVENT.ADD", bad, "ride", "0").isError, "\(bad.unicodeScalars.map(\.value))")
        }
        for good in ["~!#$%&*+-./:;<=>?@^_`{|}", "usér", "ユーザー", "u\u{1F600}"] {
            #expect(run(engine, "EVENT.ADD", good, "ride", "0") == .ok, "\(good)")
        }
    }

    @Test func eventAddChecksEventPropertiesAndTime() {
        let engine = makeEngine()
        #expect(run(engine, "EVENT.ADD", "u1", "ride", "2026-06-01", "distance_km", "12.5", "car", "i3") == .ok)
        #expect(run(engine, "EVENT.ADD", "u1", "walk", "2026-06-01") == .error(.err("unknown event 'walk' (declare it with EVENT.DEFINE)")))
        #expect(run(engine, "EVENT.ADD", "u1", "ride", "2026-06-01", "speed", "1") == .error(.err("unknown property 'speed' of event 'ride'")))
        #expect(run(engine, "EVENT.ADD", "u1", "ride", "2026-06-01", "paid", "yes").isError)
        #expect(run(engine, "EVENT.ADD", "u1", "ride", "soon").isError)
        #expect(run(engine, "EVENT.ADD", "u1", "ride", "1900-01-01").isError)
        #expect(run(engine, "EVENT.ADD", "u1", "ride", "*") == .ok)
        #expect(engine.read { $0.events.liveCount } == 2)
    }

    @Test func aUserExistsFromItsFirstEvent() {
        let engine = makeEngine()
        #expect(run(engine, "EVENT.ADD", "rider", "ride", "2030-01-01") == .ok)
        #expect(run(engine, "USER.GET", "rider") == .map([]))
        #expect(engine.read { $0.users.row(of: "rider") } != nil)
        #expect(run(engine, "USER.DEL", "rider") == .integer(1))
    }

    @Test func infoReportsCounts() {
        let engine = makeEngine()
        _ = run(engine, "USER.SET", "u1", "age", "1")
        _ = run(engine, "EVENT.ADD", "u2", "ride", "2026-01-01")
        _ = run(engine, "EVENT.ADD", "u2", "ride", "2026-01-02")
        guard case .bulk(let text) = run(engine, "INFO") else {
            Issue.record("INFO is not a bulk string")
            return
        }
        let fields = Dictionary(
            text.split(separator: "\r\n").filter { !$0.hasPrefix("#") }.map { line in
                let parts = line.split(separator: ":", maxSplits: 1)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            }, uniquingKeysWith: { a, _ in a })
        #expect(fields["users"] == "2")
        #expect(fields["events"] == "2")
        #expect(fields["segments"] == "0")
        // Clients are the server's section: an embedded engine has none.
        #expect(fields["connected_clients"] == nil)
        #expect(fields["last_snapshot"] == "")
        #expect(Int(fields["used_memory"] ?? "") ?? 0 > 0)
        #expect(fields["uptime_in_seconds"] == "0")
    }

    /// The event indexes' memory is reported, and is part of `used_memory`: none while
    /// every event is in the delta, some once a merge has built a base.
    @Test func infoReportsTheEventIndexes() {
        let engine = makeEngine()
        func field(_ name: String) -> Int {
            guard case .bulk(let text) = run(engine, "INFO") else { return -1 }
            let line = text.split(separator: "\r\n").first { $0.hasPrefix(name + ":") }
            return line.flatMap { Int($0.dropFirst(name.count + 1)) } ?? -1
        }
        _ = run(engine, "EVENT.ADD", "u1", "ride", "2026-01-01")
        #expect(field("used_memory_recent_copies") == 0)
        #expect(field("used_memory_activity_index") == 0)
        engine.mergeThreshold = 1
        for day in 2...9 { _ = run(engine, "EVENT.ADD", "u\(day % 3)", "ride", "2026-01-0\(day)") }
        engine.waitForMerges()
        let (recent, activity, total) = (field("used_memory_recent_copies"), field("used_memory_activity_index"), field("used_memory_dataset"))
        #expect(recent > 0 && activity > 0 && recent + activity < total, "\(recent) \(activity) \(total)")
    }
}

/// The byte-wise keyword match the server and `AT` parsing use instead of `uppercased()`.
struct KeywordMatchTests {
    @Test func keywordsMatchInAnyASCIICaseAndNothingElse() {
        for word in ["AT", "at", "At", "aT"] { #expect(word.equalsIgnoringASCIICase("AT"), "\(word)") }
        // Only a-z fold: `{` is not `[` in another case, `ä` is not `Ä`, lengths must agree.
        for word in ["A", "ATT", "@T", "A\u{54}\u{301}", ""] { #expect(!word.equalsIgnoringASCIICase("AT"), "\(word)") }
        #expect(!"{".equalsIgnoringASCIICase("["))
        #expect(!"ä".equalsIgnoringASCIICase("Ä"))
        #expect("segment.check".equalsIgnoringASCIICase("SEGMENT.CHECK"))
    }

    /// Connection commands live in the one command table: resolved, arity-checked and
    /// flagged like every other; without a connection they answer their fallback.
    @Test func connectionCommandsAreClassifiedByTheOneTable() throws {
        let engine = Engine()
        #expect(engine.execute(["ping"]) == .status("PONG"))
        #expect(engine.execute(["PING", "a", "b"]) == .error(.wrongArity("PING")))
        #expect(engine.execute(["SELECT"]) == .error(.err("wrong number of arguments for 'select' command")))
        #expect(engine.execute(["SELECT", "1"]) == .error(.err("DB index is out of range")))
        #expect(engine.execute(["QUIT"]) == .ok)
        #expect(engine.execute(["HELLO", "3"]).isError)
        guard case .success(let (auth, _)) = engine.commands.resolve(["auth", "pw"]) else { throw CohortError.err("AUTH not resolved") }
        #expect(auth.name == "AUTH" && auth.flags.contains(.noAuth) && auth.flags.contains(.fast))
        guard case .success(let (count, _)) = engine.commands.resolve(["SEGMENT.COUNT", "x"]) else { throw CohortError.err("not resolved") }
        #expect(!count.flags.contains(.noAuth) && !count.flags.contains(.fast))
        guard case .failure(let error) = engine.commands.resolve(["NOPE", "a"]) else { throw CohortError.err("NOPE resolved") }
        #expect(error.message == "unknown command 'NOPE', with args beginning with: 'a'")
    }
}
