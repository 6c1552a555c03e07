import CohortCore
import CohortServer
import CohortTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 11's abuse rows against `cohort serve` as a process over the demo data: the
/// server survives, the abusive connection gets a clear error or is closed, and a second
/// connection's PING, SEGMENT.CHECK and a write keep answering throughout.
struct AbuseTests {
    static let user = "u0000000"

    /// A second connection still gets real answers (not only that it connects).
    func expectOthersServed(_ server: ServedProcess, _ comment: Comment) throws {
        #expect(server.process.isRunning, comment)
        let other = try server.connect()
        #expect(other.command("PING") == .simple("PONG"), comment)
        guard case .integer(let member) = other.command("SEGMENT.CHECK", "premium_eligible", Self.user) else {
            Issue.record("SEGMENT.CHECK did not answer: \(comment)")
            return
        }
        #expect(member == 0 || member == 1)
        #expect(other.command("EVENT.ADD", Self.user, "app_open", "2026-06-30T10:00:00Z") == .simple("OK"), comment)
    }

    func info(_ client: RESPClient, _ field: String) -> Int? {
        guard case .bulk(let text) = client.command("INFO") else { return nil }
        return text.split(separator: "\r\n").first { $0.hasPrefix(field + ":") }.flatMap { Int($0.dropFirst(field.count + 1)) }
    }

    /// Was a segmentation fault: the recursive-descent parser's stack overflowed.
    @Test func deeplyNestedExpressionsAreRefused() throws {
        let server = try ServedProcess(["--now", "2026-07-01"])
        let abuser = try server.connect()
        let deep = String(repeating: "(", count: 100_000) + "verified" + String(repeating: ")", count: 100_000)
        #expect(abuser.command("SEGMENT.COUNT", deep) == .error("ERR expression nested deeper than 256 levels at 257"))
        #expect(abuser.command("SEGMENT.DEFINE", "deep", deep) == .error("ERR expression nested deeper than 256 levels at 257"))
        #expect(abuser.command("AGG.GET", Self.user, String(repeating: "-", count: 100_000) + "1") == .error("ERR expression nested deeper than 256 levels at 257"))
        #expect(abuser.command("PING") == .simple("PONG"))
        try expectOthersServed(server, "after deep expressions")
        server.stop(SIGTERM)
        #expect(server.process.terminationStatus == 0)
    }

    /// Was 22.5 s under the write lock.
    @Test func hugeDefinitionsAreRefusedAtOnce() throws {
        let server = try ServedProcess(["--now", "2026-07-01"])
        let abuser = try server.connect()
        let properties = (0..<100_000).map { "p\($0):int" }
        #expect(
            abuser.command(["EVENT.DEFINE", "big"] + properties)
                == .error("ERR too many properties on event 'big': 100000 (the limit is 1024; raise it with --max-properties)"))
        let targets = (0..<1_000).map { "plan = \"p\($0)\"" }
        #expect(
            abuser.command(["SEGMENT.OVERLAP"] + targets)
                == .error("ERR too many SEGMENT.OVERLAP targets: 1000 (the limit is 64; raise it with --max-overlap-targets)"))
        try expectOthersServed(server, "after huge definitions")
    }

    /// Was 5 GB of buffered replies in 20 s: a client pipelining large replies without
    /// reading is paused (not read), then closed once over the soft limit for its
    /// seconds; its memory stays bounded and everyone else is served meanwhile.
    @Test func aClientThatDoesNotReadIsPausedThenClosed() throws {
        let server = try ServedProcess(["--now", "2026-07-01", "--client-output-buffer-limit", "64mb", "1mb", "2"])
        let observer = try server.connect()
        let rssBefore = info(observer, "used_memory_rss") ?? 0
        let abuser = try server.connect()
        abuser.shrinkReceiveBuffer()
        abuser.setSendTimeout(seconds: 1)
        let request = RESPClient.encode(["SEGMENT.MEMBERS", "verified", "COUNT", "5000"])
        // 20,000 requests would be gigabytes of replies; sends stop once the server stops reading.
        let (fd, burst) = (abuser.fd, Array(repeating: request, count: 100).flatMap { $0 })
        let sender = Thread {
            // Until the server stops reading (a send times out) or closes: at most 20,000 requests.
            for _ in 0..<200 {
                let sent = burst.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { break }
            }
        }
        sender.start()
        // Bounded waits, generous for sanitizer builds (each reply is slow there).
        var paused = false
        for _ in 0..<600 where !paused {
            usleep(50_000)
            paused = info(observer, "paused_clients") == 1
        }
        #expect(paused, "the abuser is not read while its replies are unsent")
        try expectOthersServed(server, "while a client does not read")
        var closed = false
        for _ in 0..<600 where !closed {
            usleep(100_000)
            closed = info(observer, "client_output_buffer_disconnects") == 1
        }
        #expect(closed, "closed after 2 s over the soft limit")
        let rssAfter = info(observer, "used_memory_rss") ?? .max
        #expect(rssAfter - rssBefore < 200 << 20, "RSS grew by \((rssAfter - rssBefore) >> 20) MB")
        #expect(info(observer, "paused_clients") == 0)
        try expectOthersServed(server, "after the slow client was closed")
    }

    /// A pipelining client that does read gets every reply, in order, across pauses.
    @Test func aPipelineThatReadsGetsEveryReply() throws {
        let server = try ServedProcess(["--now", "2026-07-01", "--client-output-buffer-limit", "64mb", "256kb", "60"])
        let client = try server.connect()
        let n = 400
        client.send((0..<n).flatMap { i in RESPClient.encode(["SEGMENT.MEMBERS", "verified", "COUNT", "\(1 + i % 7 * 100)"]) })
        var sizes: [Int] = []
        for _ in 0..<n {
            guard case .array(let page) = client.read(), page.count == 2, case .array(let members) = page[1] else { break }
            sizes.append(members.count)
        }
        #expect(sizes.count == n)
        guard case .integer(let verified) = client.command("SEGMENT.COUNT", "verified") else {
            Issue.record("no count")
            return
        }
        #expect(sizes == (0..<n).map { min(1 + $0 % 7 * 100, Int(verified)) })
    }

    /// Half a request holds no thread and no lock; `--timeout` closes the stalled
    /// connection and counts it.
    @Test func aHalfSentRequestHoldsNothingAndTimesOut() throws {
        let server = try ServedProcess(["--now", "2026-07-01", "--timeout", "1"])
        var stalled: [RESPClient] = []
        for _ in 0..<8 {
            let client = try RESPClient(port: server.port)
            client.send("*3\r\n$13\r\nSEGMENT.CHECK\r\n$16\r\npremium_eli")
            stalled.append(client)
        }
        try expectOthersServed(server, "with half-sent requests")
        #expect(stalled.allSatisfy { $0.isClosed() }, "idle connections are closed after --timeout")
        // A new connection that talks is not idle (the one above was, since: it is closed too).
        let observer = try server.connect()
        #expect((info(observer, "timeout_disconnects") ?? 0) >= 8)
        #expect(observer.command("PING") == .simple("PONG"))
    }

    /// Garbage gets a protocol error and a close; the server goes on.
    @Test func garbageIsAProtocolErrorForThatConnectionOnly() throws {
        let server = try ServedProcess(["--now", "2026-07-01"])
        var random = SplitMix(seed: 11)
        for round in 0..<20 {
            let client = try RESPClient(port: server.port)
            var bytes = (0..<4096).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            bytes[0] = UInt8(ascii: ["*", "$", "%", "A"][round % 4])
            client.send(bytes)
            _ = client.read()
        }
        try expectOthersServed(server, "after garbage")
    }

    /// `--maxmemory`: writes get Redis's -OOM, removals and reads keep working.
    @Test func maxmemoryRefusesWritesAndKeepsReads() throws {
        let server = try ServedProcess(["--now", "2026-07-01", "--maxmemory", "1mb"])
        let client = try server.connect()
        #expect(client.command("EVENT.ADD", Self.user, "app_open", "2026-06-30") == .error("OOM command not allowed when used memory > 'maxmemory'"))
        #expect(client.command("SEGMENT.DEFINE", "x", "verified") == .error("OOM command not allowed when used memory > 'maxmemory'"))
        #expect(client.command("USER.DEL", "u0000001") == .integer(1))
        guard case .integer(let count) = client.command("SEGMENT.COUNT", "verified") else {
            Issue.record("reads must keep working")
            return
        }
        #expect(count > 0)
        #expect(info(client, "maxmemory") == 1 << 20)
        #expect(info(client, "oom_rejected_writes") == 2)
        let used = info(client, "used_memory") ?? 0
        let rss = info(client, "used_memory_rss") ?? 0
        // The allocator's figure is what maxmemory compares: past the limit, and of the
        // order of RSS (sampled apart, RSS standing in under a sanitizer's allocator).
        #expect(used > 1 << 20 && used < 2 * rss, "used \(used) rss \(rss)")
    }

    /// Redis's protected mode: no password, not loopback, no listening.
    @Test func protectedModeRefusesAnOpenAddressWithoutAPassword() throws {
        do {
            _ = try ServedProcess(["--host", "0.0.0.0"])
            Issue.record("cohort serve --host 0.0.0.0 without --requirepass started")
        } catch {
            #expect("\(error)".contains("without a password (protected mode)"), "\(error)")
        }
        #expect(CohortServer.isLoopbackHost("127.0.0.1") && CohortServer.isLoopbackHost("::1") && CohortServer.isLoopbackHost("localhost"))
        #expect(!CohortServer.isLoopbackHost("0.0.0.0") && !CohortServer.isLoopbackHost("10.1.2.3") && !CohortServer.isLoopbackHost("::"))
    }
}
