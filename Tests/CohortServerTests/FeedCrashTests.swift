import CohortTestSupport
import Foundation
import Testing

/// The change feed survives SIGKILL (FEATURES.md §1.6, issue 15): a `cohort serve` with
/// `appendfsync always` is killed at a random point of a random write stream, restarted
/// at a later `--now`, and its streams must equal those of an uncrashed server that applied
/// the same writes and then moved its clock to that time. Writes the crashed server had
/// journaled but not yet acknowledged may survive, so the reference is the uncrashed run
/// over the acknowledged writes plus some prefix of the in-flight ones.
struct FeedCrashTests {
    static let start: Int64 = 1_782_864_000  // 2026-07-01T00:00:00Z
    static let segments = [
        ("riders", "count(ride, last 3d) >= 2"),
        ("pro", #"plan = "pro""#),
        ("lapsed", "count(ride) >= 1 and not count(ride, last 2d) >= 1"),
    ]

    /// A random write over users u0...u5 at engine time `now`; moves `now` on CLOCK.SET.
    static func randomWrite(_ rng: inout SplitMix, now: inout Int64) -> [String] {
        let user = "u\(rng.next() % 6)"
        switch rng.next() % 20 {
        case 0..<10:
            // Past events mostly, a few future ones (they become visible later).
            let back = Int64(rng.next() % (5 * 86_400)), ahead = rng.next() % 5 == 0 ? Int64(rng.next() % 86_400) : 0
            return ["EVENT.ADD", user, "ride", "\(now - back + ahead)", "cost", "\(rng.next() % 50)"]
        case 10..<14: return ["USER.SET", user, "plan", rng.next() % 2 == 0 ? "pro" : "free"]
        case 14: return ["USER.DEL", user]
        case 15: return ["SNAPSHOT"]
        default:
            now += Int64(1 + rng.next() % (2 * 86_400))
            return ["CLOCK.SET", "\(now)"]
        }
    }

    static func streams(_ client: RESPClient) -> [RESPValue?] {
        segments.map { client.command("XRANGE", "segment:\($0.0)", "-", "+") }
    }

    static func serve(_ directory: String, now: Int64) throws -> ServedProcess {
        try ServedProcess(["--data-dir", directory, "--appendfsync", "always", "--snapshot-interval", "0", "--now", "\(now)"])
    }

    /// A server on a fresh directory that applied `writes` and then moved its clock to `at`.
    static func uncrashedStreams(_ writes: ArraySlice<[String]>, at: Int64) throws -> [RESPValue?] {
        let directory = TemporaryDirectory("cohort-feed-reference")
        defer { directory.remove() }
        let server = try serve(directory.path, now: start)
        let client = try server.connect()
        for write in writes { #expect(client.command(write) != nil) }
        #expect(client.command("CLOCK.SET", "\(at)") != nil)
        let streams = streams(client)
        server.stop(SIGTERM)
        return streams
    }

    @Test(arguments: [11, 12, 13, 14, 15] as [UInt64])
    func streamsAfterSigkillEqualAnUncrashedRun(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        var now = Self.start
        let setup: [[String]] =
            [["ATTR.DEFINE", "plan", "string"], ["ATTR.DEFINE", "n", "int"], ["EVENT.DEFINE", "ride", "cost:float"]]
            + Self.segments.flatMap { [["SEGMENT.DEFINE", $0.0, $0.1], ["SEGMENT.WATCH", $0.0]] }
        // Each write is followed by a marker (an attribute no segment reads) that tells,
        // after the crash, how far the journal got: writes apply and journal in order.
        let writes = (0..<600).map { k in [Self.randomWrite(&rng, now: &now), ["USER.SET", "marker", "n", "\(k)"]] }
        let all = setup + writes.flatMap { $0 }
        let restartAt = now + 3 * 86_400  // later than every CLOCK.SET

        // The crashed run: everything pipelined at once, SIGKILL after a random delay.
        let directory = TemporaryDirectory("cohort-feed-crash")
        defer { directory.remove() }
        var server = try Self.serve(directory.path, now: Self.start)
        var client = try server.connect()
        for write in setup { #expect(client.command(write) != nil) }
        for write in all.dropFirst(setup.count) { client.send(RESPClient.encode(write)) }
        usleep(useconds_t(rng.next() % 60_000))
        server.stop(SIGKILL)
        var acknowledged = setup.count
        while acknowledged < all.count, client.read() != nil { acknowledged += 1 }

        server = try Self.serve(directory.path, now: restartAt)
        client = try server.connect()
        let recovered = Self.streams(client)
        let marker = client.command("AGG.GET", "marker", "n")
        server.stop(SIGTERM)
        #expect(recovered.allSatisfy { if case .array = $0 { true } else { false } })

        // Applied: the setup, the writes through the last marker, perhaps the next write
        // (applied and acknowledged before the server died, its marker not).
        var applied = setup.count
        if case .array(let values)? = marker, case .integer(let k)? = values.first { applied += 2 * (k + 1) }
        #expect(applied + 1 >= acknowledged, "seed \(seed): \(acknowledged) writes acknowledged, only \(applied) recovered")
        // An acknowledged write past the last marker must have been recovered.
        var candidates = acknowledged > applied ? [applied + 1] : [applied]
        if acknowledged <= applied, applied < all.count { candidates.append(applied + 1) }
        let matched = try candidates.contains { try Self.uncrashedStreams(all[0..<$0], at: restartAt) == recovered }
        #expect(matched, "seed \(seed): the recovered streams equal no uncrashed run over the first \(candidates) writes")
    }
}
