import CohortCore
import CohortTestSupport
import Dispatch
import Foundation
import Testing

@testable import CohortServer

/// The change feed over the socket (FEATURES §1.3, §1.4): pub/sub frames byte for byte in
/// RESP2 and RESP3, the subscribed state's rules, `XREAD BLOCK`, PUBSUB, INFO and CONFIG,
/// and the slow-subscriber disconnect.
struct FeedServerTests {
    /// The worked example's segment, over rides of a car only this test uses (the demo
    /// data has riders of its own).
    static let define = ["SEGMENT.DEFINE", "active_riders", "count(ride where car = \"fx\", last 30d) >= 3"]

    func payload(_ id: String, _ user: String, _ change: String, _ at: String, _ cause: String) -> String {
        "{\"id\":\"\(id)\",\"segment\":\"active_riders\",\"user\":\"\(user)\",\"change\":\"\(change)\",\"at\":\"\(at)\",\"cause\":\"\(cause)\"}"
    }

    @Test func subscribersGetEachEntryAsItIsAppended() throws {
        let server = try TestServer()
        let a = try server.client()  // RESP3, by channel
        let p = try server.client()  // RESP2, by pattern
        let b = try server.client()  // the writer
        guard case .map = a.command("HELLO", "3") else {
            Issue.record("HELLO 3")
            return
        }
        #expect(a.command("SUBSCRIBE", "segment:active_riders") == .push([.bulk("subscribe"), .bulk("segment:active_riders"), .integer(1)]))
        #expect(p.command("PSUBSCRIBE", "segment:*") == .array([.bulk("psubscribe"), .bulk("segment:*"), .integer(1)]))
        #expect(
            p.command("SEGMENT.COUNT", "x")
                == .error("ERR Can't execute 'segment.count': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"))
        #expect(p.command("PING") == .array([.bulk("pong"), .bulk("")]))
        #expect(b.command(Self.define[0], Self.define[1], Self.define[2]) == .simple("OK"))
        #expect(b.command("SEGMENT.WATCH", "active_riders") == .array([.integer(0), .bulk("0-0")]))
        for day in ["06-05", "06-20", "06-30"] { #expect(b.command("EVENT.ADD", "fx1", "ride", "2026-\(day)T08:00:00Z", "car", "fx") == .simple("OK")) }

        let json = payload("1782864000000-0", "fx1", "entered", "2026-07-01T00:00:00Z", "write")
        let frame = ">3\r\n$7\r\nmessage\r\n$21\r\nsegment:active_riders\r\n$\(json.utf8.count)\r\n\(json)\r\n"
        #expect(json.utf8.count == 126)  // FEATURES §1.7's 125 bytes, with a three-byte user id
        #expect(a.raw(frame.utf8.count) == frame)
        #expect(p.read() == .array([.bulk("pmessage"), .bulk("segment:*"), .bulk("segment:active_riders"), .bulk(json)]))

        // A blocked XREAD is answered by the next entry; one with a timeout answers nil.
        let c = try server.client()
        c.send(RESPClient.encode(["XREAD", "BLOCK", "0", "STREAMS", "segment:active_riders", "$"]))
        c.send(RESPClient.encode(["PING"]))  // waits behind the blocked read
        Thread.sleep(forTimeInterval: 0.2)
        #expect(b.command("CLOCK.SET", "2026-07-06T00:00:00Z") == .integer(1))
        let exit = RESPValue.array([
            .bulk("1783238401000-0"),
            .array(["user", "fx1", "change", "exited", "at", "2026-07-05T08:00:01Z", "cause", "time"].map(RESPValue.bulk)),
        ])
        #expect(c.read() == .array([.array([.bulk("segment:active_riders"), .array([exit])])]))
        #expect(c.read() == .simple("PONG"))
        #expect(a.read() == .push([.bulk("message"), .bulk("segment:active_riders"), .bulk(payload("1783238401000-0", "fx1", "exited", "2026-07-05T08:00:01Z", "time"))]))
        let started = DispatchTime.now().uptimeNanoseconds
        #expect(c.command("XREAD", "BLOCK", "150", "STREAMS", "segment:active_riders", "$") == .null)
        #expect(DispatchTime.now().uptimeNanoseconds - started >= 140_000_000)
        // On the wire, in RESP2, a read that found nothing is a null array, as Redis sends.
        let raw = try server.client()
        raw.send(RESPClient.encode(["XREAD", "BLOCK", "10", "STREAMS", "segment:active_riders", "$"]))
        #expect(raw.raw(5) == "*-1\r\n")
        raw.send(RESPClient.encode(["XREAD", "STREAMS", "segment:nothing", "0"]))
        #expect(raw.raw(5) == "*-1\r\n")
        #expect(c.command("XREAD", "COUNT", "1", "BLOCK", "10", "STREAMS", "segment:active_riders", "0") == .array([.array([.bulk("segment:active_riders"), .array([
            .array([.bulk("1782864000000-0"), .array(["user", "fx1", "change", "entered", "at", "2026-07-01T00:00:00Z", "cause", "write"].map(RESPValue.bulk))])
        ])])]))

        #expect(b.command("PUBSUB", "NUMSUB", "segment:active_riders", "segment:none") == .array([.bulk("segment:active_riders"), .integer(1), .bulk("segment:none"), .integer(0)]))
        #expect(b.command("PUBSUB", "NUMPAT") == .integer(1))
        #expect(b.command("PUBSUB", "CHANNELS", "segment:*") == .array([.bulk("segment:active_riders")]))
        #expect(b.command("PUBLISH", "segment:active_riders", "x") == .error("ERR PUBLISH is not supported: segment channels are written by Cohort"))
        #expect(
            b.command("CONFIG", "GET", "client-output-buffer-limit")
                == .array([.bulk("client-output-buffer-limit"), .bulk("normal 268435456 67108864 60 slave 268435456 67108864 60 pubsub 33554432 8388608 60")]))
        guard case .bulk(let info) = b.command("INFO") else {
            Issue.record("INFO")
            return
        }
        for line in ["watched_segments:1", "stream_entries:2", "pubsub_channels:1", "pubsub_patterns:1", "pubsub_slow_disconnects:0", "feed_lag_seconds:0"] {
            #expect(info.contains(line + "\r\n"), "\(line)")
        }
        #expect(p.read() == .array([.bulk("pmessage"), .bulk("segment:*"), .bulk("segment:active_riders"), .bulk(payload("1783238401000-0", "fx1", "exited", "2026-07-05T08:00:01Z", "time"))]))
        #expect(p.command("RESET") == .simple("RESET"))
        #expect(p.command("XLEN", "segment:active_riders") == .integer(2))
        #expect(a.command("UNSUBSCRIBE") == .push([.bulk("unsubscribe"), .bulk("segment:active_riders"), .integer(0)]))
        #expect(a.command("UNSUBSCRIBE") == .push([.bulk("unsubscribe"), .null, .integer(0)]))
    }

    @Test func aSubscriberThatDoesNotReadIsDisconnectedAndCounted() throws {
        var limits = OutputBufferLimit.pubsub
        limits.hardBytes = 256 * 1024
        limits.softBytes = 64 * 1024
        let server = try TestServer(pubsub: limits, users: 2000)
        let slow = try server.client()
        slow.shrinkReceiveBuffer()
        #expect(slow.command("SUBSCRIBE", "segment:everyone") == .array([.bulk("subscribe"), .bulk("segment:everyone"), .integer(1)]))
        let fast = try server.client()
        #expect(fast.command("SUBSCRIBE", "segment:none") == .array([.bulk("subscribe"), .bulk("segment:none"), .integer(1)]))
        let b = try server.client()
        #expect(b.command("SEGMENT.DEFINE", "everyone", "count(app_open) >= 0") == .simple("OK"))
        var disconnected = false
        for _ in 0..<40 where !disconnected {
            #expect(b.command("SEGMENT.WATCH", "everyone", "BACKFILL") != nil)
            #expect(b.command("SEGMENT.UNWATCH", "everyone") == .integer(1))
            if case .bulk(let info) = b.command("INFO") { disconnected = info.contains("pubsub_slow_disconnects:1\r\n") }
        }
        #expect(disconnected)
        // Other clients never noticed.
        #expect(fast.command("PING") == .array([.bulk("pong"), .bulk("")]))
        #expect(b.command("PING") == .simple("PONG"))
    }
}
