import CohortCore
import CohortTestSupport
import Dispatch
import Foundation
import Logging
import Testing

@testable import CohortServer

/// A real server on a loopback port (port 0: the kernel picks a free one) over generated
/// demo data, with the given password and limits.
final class TestServer {
    let server: CohortServer
    let port: Int
    let directory = TemporaryDirectory("cohort-server-test")

    init(
        password: String? = nil, limits: ServerLimits = ServerLimits(), pubsub: OutputBufferLimit = .pubsub, users: Int = 200,
        sink: MutationSink? = nil, engineSetup: (Engine) -> Void = { _ in }, configure: (inout CohortServer.Configuration) -> Void = { _ in }
    ) throws {
        let engine = Engine(fixedNow: demoNow, clock: { demoNow })
        try loadGeneratedDemo(users: users, directory: directory.path, into: engine)
        engine.attach(sink: sink)
        engineSetup(engine)
        var configuration = CohortServer.Configuration()
        configuration.port = 0
        configuration.password = password
        configuration.limits = limits
        configuration.pubsubLimits = pubsub
        configure(&configuration)
        server = CohortServer(
            configuration: configuration, engine: engine, dataDirectory: nil,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        port = try server.start().port!
    }

    func client() throws -> RESPClient { try RESPClient(port: port) }

    deinit {
        server.shutdown()
        directory.remove()
    }
}

struct ServerTests {
    @Test func inlineAndRESPFormsGetTheSameReplies() throws {
        let server = try TestServer()
        let c = try server.client()
        c.send("PING\r\n")
        #expect(c.read() == .simple("PONG"))
        c.send("PING \"hello world\"\n")
        #expect(c.read() == .bulk("hello world"))
        #expect(c.command("PING") == .simple("PONG"))
        c.send("SEGMENT.COUNT premium_eligible\r\n")
        let inline = c.read()
        #expect(c.command("SEGMENT.COUNT", "premium_eligible") == inline)
        guard case .integer = inline else {
            Issue.record("SEGMENT.COUNT gave \(String(describing: inline))")
            return
        }
    }

    @Test func everyReplyKindInRESP2AndRESP3() throws {
        let server = try TestServer()
        let c = try server.client()
        #expect(c.command("USER.SET", "x1", "plan", "pro", "verified", "true", "score", "2.5", "tags", "b|a") == .simple("OK"))
        #expect(c.command("EVENT.ADD", "x1", "ride", "2026-06-30T10:00:00Z", "cost", "7.5") == .simple("OK"))
        let fields: [RESPValue] = [.bulk("plan"), .bulk("pro"), .bulk("verified")]
        guard case .array(let flat) = c.command("USER.GET", "x1") else {
            Issue.record("USER.GET is not an array in RESP2")
            return
        }
        #expect(Array(flat.prefix(3)) == fields)
        #expect(flat[3] == .integer(1))  // bool as integer in RESP2
        #expect(
            c.command("AGG.GET", "x1", "sum(ride.cost)", "avg(purchase.amount)", "last(ride)")
                == .array([.bulk("7.5"), .null, .bulk("2026-06-30T10:00:00Z")]))
        #expect(c.command("SEGMENT.CHECK", "plan = \"pro\"", "x1") == .integer(1))
        #expect(c.command("USER.DEL", "nobody") == .integer(0))
        #expect(c.command("NOPE") == .error("ERR unknown command 'NOPE', with args beginning with: "))
        #expect(c.command("USER.GET") == .error("ERR wrong number of arguments for 'user.get' command"))

        guard case .map(let hello) = c.command("HELLO", "3") else {
            Issue.record("HELLO 3 is not a map")
            return
        }
        #expect(Array(hello.prefix(6)) == [.bulk("server"), .bulk("cohort"), .bulk("version"), .bulk(Cohort.version), .bulk("proto"), .integer(3)])
        #expect(hello.suffix(6) == [.bulk("mode"), .bulk("standalone"), .bulk("role"), .bulk("master"), .bulk("modules"), .array([])])
        guard case .map(let map) = c.command("USER.GET", "x1") else {
            Issue.record("USER.GET is not a map in RESP3")
            return
        }
        #expect(Array(map.prefix(4)) == [.bulk("plan"), .bulk("pro"), .bulk("verified"), .bool(true)])
        #expect(map.suffix(2) == [.bulk("tags"), .array([.bulk("a"), .bulk("b")])])
        #expect(c.command("AGG.GET", "x1", "sum(ride.cost)", "avg(purchase.amount)") == .array([.double("7.5"), .null]))
        #expect(c.command("HELLO", "4") == .error("NOPROTO unsupported protocol version"))
        #expect(c.command("CLIENT", "SETNAME", "tester") == .simple("OK"))
        #expect(c.command("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == .simple("OK"))
        #expect(c.command("CLIENT", "GETNAME") == .bulk("tester"))
        guard case .bulk(let info) = c.command("INFO") else {
            Issue.record("INFO is not a bulk string")
            return
        }
        for key in ["users:", "events:", "segments:", "aggregates:", "used_memory:", "uptime_in_seconds:", "last_snapshot:", "connected_clients:1"] {
            #expect(info.contains(key), "INFO lacks \(key)")
        }
    }

    @Test func tenThousandPipelinedCommandsInOneWriteAnswerInOrder() throws {
        let server = try TestServer()
        let c = try server.client()
        var bytes: [UInt8] = []
        for k in 0..<10_000 {
            bytes +=
                k % 3 == 0
                ? Array("PING \(k)\r\n".utf8) : RESPClient.encode(k % 3 == 1 ? ["PING", "\(k)"] : ["SEGMENT.CHECK", "verified", "u0000001"])
        }
        c.send(bytes)
        for k in 0..<10_000 {
            let reply = c.read()
            if k % 3 == 2 {
                guard case .integer = reply else {
                    Issue.record("reply \(k): \(String(describing: reply))")
                    return
                }
            } else if reply != .bulk("\(k)") {
                Issue.record("reply \(k): \(String(describing: reply))")
                return
            }
        }
    }

    @Test func requestsSplitAcrossReadsOneByteAtATime() throws {
        let server = try TestServer()
        let c = try server.client()
        let bytes = RESPClient.encode(["USER.SET", "slow", "plan", "free"]) + Array("USER.GET slow\r\n".utf8)
        for byte in bytes {
            c.send([byte])
            usleep(200)
        }
        #expect(c.read() == .simple("OK"))
        #expect(c.read() == .array([.bulk("plan"), .bulk("free")]))
    }

    @Test(arguments: [
        ("*2\r\n$4\r\nPING\r\n:12\r\n", "ERR Protocol error: expected '$', got ':'"),
        ("*1\r\n$x\r\n", "ERR Protocol error: invalid bulk length"),
        ("*zz\r\n", "ERR Protocol error: invalid multibulk length"),
        ("PING \"unbalanced\r\n", "ERR Protocol error: unbalanced quotes in request"),
        ("*1\r\n$5000\r\n", "ERR Protocol error: invalid bulk length"),
        ("*101\r\n", "ERR Protocol error: invalid multibulk length"),
    ])
    func malformedOrOversizedInputClosesThatConnectionOnly(input: String, expected: String) throws {
        var limits = ServerLimits()
        limits.inlineLine = 1024
        limits.bulkLength = 4096
        limits.arrayLength = 100
        let server = try TestServer(limits: limits)
        let bystander = try server.client()
        let c = try server.client()
        c.send("PING\r\n" + input)
        #expect(c.read() == .simple("PONG"))
        #expect(c.read() == .error(expected))
        #expect(c.isClosed())
        #expect(bystander.command("PING") == .simple("PONG"))
    }

    @Test func anInlineLinePastTheLimitIsRefusedBeforeItEnds() throws {
        var limits = ServerLimits()
        limits.inlineLine = 1024
        let server = try TestServer(limits: limits)
        let c = try server.client()
        c.send(String(repeating: "A", count: 2000))  // no newline yet
        #expect(c.read() == .error("ERR Protocol error: too big inline request"))
        #expect(c.isClosed())
    }

    @Test func randomGarbageNeverCrashesTheServer() throws {
        let server = try TestServer()
        var rng = SplitMix(seed: 99)
        let alphabet = Array("*$:+-\r\n0123456789 \"\\xPINGabc".utf8)
        for round in 0..<300 {
            let c = try server.client()
            let n = Int(rng.next() % 300)
            let bytes = (0..<n).map { _ in round % 2 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))]
            }
            c.send(bytes)
        }
        let c = try server.client()
        #expect(c.command("PING") == .simple("PONG"))
        #expect(c.command("SEGMENT.COUNT", "premium_eligible") != nil)
    }

    @Test func twoHundredConcurrentConnections() throws {
        let server = try TestServer()
        let expected = try server.client().command("SEGMENT.COUNT", "premium_eligible")
        let clients = try (0..<200).map { _ in try server.client() }
        let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: clients.count)
        results.initialize(repeating: false)
        defer { results.deallocate() }
        nonisolated(unsafe) let slots = results
        nonisolated(unsafe) let all = clients
        DispatchQueue.concurrentPerform(iterations: all.count) { i in
            let c = all[i]
            var ok = true
            for k in 0..<20 {
                ok = ok && c.command("PING", "\(i)-\(k)") == .bulk("\(i)-\(k)")
                ok = ok && c.command("SEGMENT.COUNT", "premium_eligible") == expected
            }
            slots[i] = ok
        }
        #expect(results.allSatisfy { $0 })
        guard case .bulk(let info) = clients[0].command("INFO") else {
            Issue.record("INFO")
            return
        }
        // The 200, plus the first client until the server notices it closed.
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("connected_clients:") }
        let connected = line.flatMap { Int($0.dropFirst("connected_clients:".count).trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(connected == 200 || connected == 201, "\(String(describing: line))")
    }

    @Test func authGatesEveryCommand() throws {
        let server = try TestServer(password: "s3cret")
        let c = try server.client()
        #expect(c.command("PING") == .error("NOAUTH Authentication required."))
        #expect(c.command("SEGMENT.COUNT", "verified") == .error("NOAUTH Authentication required."))
        #expect(c.command("AUTH", "wrong") == .error("WRONGPASS invalid username-password pair or user is disabled."))
        // A prefix, an extension and an empty password are all wrong (constant-time compare).
        for wrong in ["s3cre", "s3cret1", ""] {
            #expect(c.command("AUTH", wrong) == .error("WRONGPASS invalid username-password pair or user is disabled."))
        }
        guard case .error(let hello) = c.command("HELLO", "3") else {
            Issue.record("HELLO without auth was accepted")
            return
        }
        #expect(hello.hasPrefix("NOAUTH"))
        #expect(c.command("AUTH", "s3cret") == .simple("OK"))
        #expect(c.command("PING") == .simple("PONG"))
        let d = try server.client()
        guard case .map = d.command("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "py") else {
            Issue.record("HELLO AUTH")
            return
        }
        #expect(d.command("PING") == .simple("PONG"))
    }

    @Test func authWithoutAPasswordConfiguredIsAnError() throws {
        let server = try TestServer()
        guard case .error(let message) = try server.client().command("AUTH", "x") else {
            Issue.record("AUTH accepted")
            return
        }
        #expect(message.contains("without any password configured"))
    }

    final class CountingSink: MutationSink, @unchecked Sendable {
        var appended = 0
        var commits = 0
        var failCommits = false
        func append(_ words: [String], at time: Int64) throws(CohortError) { appended += 1 }
        func commit() throws(CohortError) {
            commits += 1
            if failCommits { throw .err("disk full") }
        }
    }

    @Test func aPipelinedBatchCommitsTheJournalOnceBeforeItsReplies() throws {
        let sink = CountingSink()
        let server = try TestServer(sink: sink)
        let c = try server.client()
        var bytes: [UInt8] = []
        for k in 0..<64 { bytes += RESPClient.encode(["EVENT.ADD", "g\(k)", "app_open", "*"]) }
        c.send(bytes)
        for _ in 0..<64 { #expect(c.read() == .simple("OK")) }
        #expect(sink.appended == 64)
        #expect(sink.commits >= 1 && sink.commits < 64)

        sink.failCommits = true
        c.send("USER.SET g1 plan pro\r\nPING\r\n")
        guard case .error(let message) = c.read() else {
            Issue.record("the write was acknowledged")
            return
        }
        #expect(message.contains("not acknowledged: disk full"))
        #expect(c.read() == .simple("PONG"))
        guard case .error(let refused) = c.command("USER.SET", "g2", "plan", "pro") else {
            Issue.record("a later write was accepted")
            return
        }
        #expect(refused.contains("writes are refused"))
    }

    /// Two connections pipelining writes at once, runs longer than a write group
    /// (`Engine.writeGroupLimit`), refused writes and reads among them: every reply in
    /// order, a refused write failing alone, each read seeing the writes before it, and
    /// every accepted write applied exactly once.
    @Test func twoPipelinedWritersGetEveryReplyInOrder() throws {
        let server = try TestServer()
        let clients = try (0..<2).map { _ in try server.client() }
        let n = 3 * Engine.writeGroupLimit + 17
        for (c, client) in clients.enumerated() {
            var bytes: [UInt8] = []
            for i in 0..<n {
                // Writer c's user w<c> gets one app_open per accepted write; every 11th
                // write names an unknown event type; every 40th request reads the count.
                if i % 11 == 5 {
                    bytes += RESPClient.encode(["EVENT.ADD", "w\(c)", "no_such_event", "*"])
                } else if i % 40 == 39 {
                    bytes += RESPClient.encode(["AGG.GET", "w\(c)", "count(app_open)"])
                } else {
                    bytes += RESPClient.encode(["EVENT.ADD", "w\(c)", "app_open", "*"])
                }
            }
            client.send(bytes)
        }
        var accepted = [0, 0]
        for (c, client) in clients.enumerated() {
            for i in 0..<n {
                let reply = client.read()
                if reply == .simple("OK") { accepted[c] += 1 }
                if i % 11 == 5 {
                    guard case .error(let message) = reply else {
                        Issue.record("writer \(c), request \(i): \(String(describing: reply))")
                        return
                    }
                    #expect(message.contains("no_such_event"), "\(message)")
                } else if i % 40 == 39 {
                    // The count before this read: the accepted writes so far.
                    #expect(reply == .array([.integer(accepted[c])]), "writer \(c), request \(i)")
                } else {
                    #expect(reply == .simple("OK"), "writer \(c), request \(i)")
                }
            }
            #expect(clients[c].command("AGG.GET", "w\(c)", "count(app_open)") == .array([.integer(accepted[c])]))
        }
        #expect(accepted[0] == accepted[1] && accepted[0] > 2 * Engine.writeGroupLimit)
    }

    @Test func quitRepliesOKThenCloses() throws {
        let server = try TestServer()
        let c = try server.client()
        c.send("PING\r\nQUIT\r\nPING\r\n")
        #expect(c.read() == .simple("PONG"))
        #expect(c.read() == .simple("OK"))
        #expect(c.isClosed())
    }

    @Test func clientsPastTheLimitAreRefused() throws {
        var limits = ServerLimits()
        limits.clients = 3
        let server = try TestServer(limits: limits)
        let open = try (0..<3).map { _ in try server.client() }
        for c in open { #expect(c.command("PING") == .simple("PONG")) }
        let extra = try server.client()
        #expect(extra.read() == .error("ERR max number of clients reached"))
        #expect(extra.isClosed())
        #expect(open[0].command("PING") == .simple("PONG"))
    }
}
