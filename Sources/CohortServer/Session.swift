import CohortCore
import NIOCore

/// One connection's protocol state: RESP version, authentication, name.
///
/// Concurrency: read and changed only by the connection's batch in flight, and a
/// connection has at most one batch in flight, handed between the event loop and a
/// worker through queue submissions (which order the accesses).
final class Session: @unchecked Sendable {
    let id: Int
    var protocolVersion = 2
    var authenticated: Bool
    var name: String?
    /// Pub/sub subscriptions (mirrored in the server's `FeedHub`).
    var channels: Set<String> = []
    var patterns: Set<String> = []

    var subscriptionCount: Int { channels.count + patterns.count }

    init(id: Int, authenticated: Bool) {
        self.id = id
        self.authenticated = authenticated
    }
}

/// Runs a batch of requests for one session: each request is classified once by the
/// engine's command table (`CommandTable.resolve`: unknown commands and arity), checked
/// against authentication (`noAuth`), and then answered by the session (HELLO, AUTH,
/// QUIT, CLIENT) or by `Engine.dispatch`, encoding each reply as it goes so a `HELLO 3`
/// switches the protocol for the replies after it.
struct SessionProcessor: Sendable {
    let engine: Engine
    /// Connected clients and their statistics, for the server's own section of INFO.
    let registry: ConnectionRegistry
    let password: String?
    let hub: FeedHub
    /// The output-buffer limits of replies and of pub/sub messages, for CONFIG GET; a
    /// batch stops running once its replies pass `outputLimits.softBytes`.
    let outputLimits: OutputBufferLimit
    let pubsubLimits: OutputBufferLimit

    /// Whether this session's writes may run on the event loop: not with
    /// `appendfsync always`, whose commit waits for the disk.
    let immediateWrites: Bool

    /// Runs the longest prefix of `requests` that needs no waiting (`Engine.dispatch`
    /// with `.ifFree`), commits the journal for its writes, and encodes its replies.
    /// Returns how many requests it ran, whether a QUIT ended the session, and whether
    /// the replies filled the batch's budget (`outputLimits.softBytes`): then the caller
    /// keeps the rest for a later batch, else it sends the rest to `run`.
    func runImmediately(_ requests: [Request], session: Session, into out: inout ByteBuffer) -> (ran: Int, quit: Bool, full: Bool) {
        var replies: [(reply: Reply, version: Int, wrote: Bool)] = []
        var quit = false
        var budget = outputLimits.softBytes
        var index = 0
        var carried: Prepared?
        while index < requests.count {
            // With `.ifFree` a step answers (XREAD BLOCK waits only with `.wait`) or is nil.
            guard let outcomes = step(requests, at: index, session, .ifFree(allowWrites: immediateWrites), carried: &carried, quit: &quit) else {
                break
            }
            for case .reply(let reply, let wrote) in outcomes {
                replies.append((reply, session.protocolVersion, wrote))
                budget -= reply.estimatedBytes
            }
            index += outcomes.count
            if quit || budget < 0 { break }
        }
        encode(replies, into: &out)
        return (replies.count, quit, budget < 0 && replies.count < requests.count)
    }

    /// What `run` stopped at: the end, a QUIT, an `XREAD BLOCK` with nothing to read
    /// yet (the request at `index`, its `$` IDs resolved: the caller waits for entries
    /// or the timeout, answers it, then runs the requests after it), or a full budget
    /// after the request at `index` (the caller runs the rest once the client has read).
    enum Stop {
        case end
        case quit
        case blocked(XReadRequest, index: Int)
        case full(index: Int)
    }

    /// Encodes every reply into `out`; returns true when a QUIT ended the session
    /// (requests after it are not run). The journal records of the batch's writes are
    /// committed once, before any reply is encoded (group commit); if that fails, every
    /// write of the batch is answered with the error. Consecutive writes run as groups
    /// under one hold of the engine's write lock (`Engine.dispatchWrites`); the budget is
    /// checked after each group (a group is never cut: its writes are applied).
    func run(_ requests: [Request], session: Session, into out: inout ByteBuffer) -> Stop {
        var replies: [(reply: Reply, version: Int, wrote: Bool)] = []
        replies.reserveCapacity(requests.count)
        var quit = false
        var stop = Stop.end
        var budget = outputLimits.softBytes
        var index = 0
        var carried: Prepared?
        run: while index < requests.count {
            let outcomes = step(requests, at: index, session, .wait, carried: &carried, quit: &quit)!
            for outcome in outcomes {
                switch outcome {
                case .reply(let reply, let wrote):
                    replies.append((reply, session.protocolVersion, wrote))
                    budget -= reply.estimatedBytes
                case .blocked(let read):
                    stop = .blocked(read, index: index)
                    break run
                case .wouldWait: preconditionFailure("a request with .wait never reports waiting")
                }
            }
            index += outcomes.count
            if quit {
                stop = .quit
                break
            }
            if budget < 0, index < requests.count {
                stop = .full(index: index - 1)
                break
            }
        }
        encode(replies, into: &out)
        return stop
    }

    /// Runs the next step of `requests`, at `index`: the run of writes starting there as
    /// one group (`Engine.dispatchWrites`, up to `Engine.writeGroupLimit`), or the one
    /// request there. Each request is prepared once: `carried` is the request at `index`
    /// when the previous step prepared it (the one that ended its run of writes) and, on
    /// return, the request after this step when this step prepared it. Nil with `.ifFree`
    /// when the step would have to wait.
    private func step(
        _ requests: [Request], at index: Int, _ session: Session, _ waiting: Engine.Waiting, carried: inout Prepared?, quit: inout Bool
    ) -> [Outcome]? {
        let first = carried ?? prepare(requests[index], session)
        carried = nil
        guard case .command(let command, let arguments, _) = first, case .write = command.handler else {
            let outcome = process(first, session, waiting, quit: &quit)
            if case .wouldWait = outcome { return nil }
            return [outcome]
        }
        var writes = [(command, arguments)]
        while index + writes.count < requests.count, writes.count < Engine.writeGroupLimit {
            let next = prepare(requests[index + writes.count], session)
            guard case .command(let command, let arguments, _) = next, case .write = command.handler else {
                carried = next
                break
            }
            writes.append((command, arguments))
        }
        guard let results = engine.dispatchWrites(writes, waiting) else { return nil }
        return results.map { .reply($0.reply, wrote: $0.wrote) }
    }

    /// A blocked read's answer now, or nil while there is still nothing to read.
    func retry(_ read: XReadRequest) -> Reply? { engine.read { db in read.reply(db) } }

    /// One request's outcome.
    enum Outcome {
        case reply(Reply, wrote: Bool)
        /// `.ifFree` only: it must run off the event loop.
        case wouldWait
        case blocked(XReadRequest)
    }

    static let allowedWhileSubscribed: Set<String> = ["SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "PING", "QUIT", "RESET"]

    /// A request after the checks that need no engine: answered already (invalid,
    /// unknown, unauthorised, refused in the subscribed state, PING there), or a command
    /// to run.
    private enum Prepared {
        case answered(Reply)
        case command(Command, Arguments, words: [String])
    }

    /// Classifies and authorises one request.
    private func prepare(_ request: Request, _ session: Session) -> Prepared {
        let words: [String]
        switch request {
        case .invalid(let message): return .answered(.error(.err(message)))
        case .command(let w): words = w
        }
        let (command, arguments): (Command, Arguments)
        switch engine.commands.resolve(words) {
        case .failure(let error): return .answered(.error(error))
        case .success(let resolved): (command, arguments) = resolved
        }
        guard session.authenticated || command.flags.contains(.noAuth) else {
            return .answered(.error(CohortError(.noAuth, "Authentication required.")))
        }
        // RESP2's subscribed state (FEATURES §1.4; Redis's wording).
        if session.subscriptionCount > 0, session.protocolVersion == 2 {
            guard Self.allowedWhileSubscribed.contains(command.name) else {
                return .answered(
                    .error(
                        .err(
                            "Can't execute '\(words[0].lowercased().prefix(64))': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                        )))
            }
            if command.name == "PING" {
                guard arguments.count <= 1 else { return .answered(.error(.wrongArity("ping"))) }
                return .answered(.array([.bulk("pong"), .bulk(arguments.first ?? "")]))
            }
        }
        return .command(command, arguments, words: words)
    }

    /// One prepared request answered.
    private func process(_ prepared: Prepared, _ session: Session, _ waiting: Engine.Waiting, quit: inout Bool) -> Outcome {
        let (command, arguments, words): (Command, Arguments, [String])
        switch prepared {
        case .answered(let reply): return .reply(reply, wrote: false)
        case .command(let c, let a, let w): (command, arguments, words) = (c, a, w)
        }
        if command.name == "XREAD", case .wait = waiting {
            do throws(CohortError) {
                let read = try XReadRequest(arguments)
                if read.block != nil {
                    let resolved = engine.read { db in read.resolvingLast(in: db) }
                    if let reply = retry(resolved) { return .reply(reply, wrote: false) }
                    return .blocked(resolved)
                }
            } catch {
                return .reply(.error(error), wrote: false)
            }
        }
        guard case .session = command.handler else {
            guard let result = engine.dispatch(command, arguments, waiting) else { return .wouldWait }
            // INFO: the engine's sections, then the server's own (it alone knows its clients).
            if command.name == "INFO", case .bulk(let text) = result.reply {
                return .reply(.bulk(text + serverInfo()), wrote: result.wrote)
            }
            if command.name == "CONFIG" { return .reply(config(words), wrote: false) }
            return .reply(result.reply, wrote: result.wrote)
        }
        let reply: Reply
        switch command.name {
        case "QUIT":
            quit = true
            reply = .ok
        case "AUTH": reply = auth(Array(arguments), session)
        case "HELLO": reply = hello(words, session)
        case "CLIENT": reply = client(words, session)
        case "SUBSCRIBE", "PSUBSCRIBE": reply = subscribe(Array(arguments), pattern: command.name == "PSUBSCRIBE", session)
        case "UNSUBSCRIBE", "PUNSUBSCRIBE": reply = unsubscribe(Array(arguments), pattern: command.name == "PUNSUBSCRIBE", session)
        case "PUBSUB": reply = pubsub(Array(arguments))
        case "RESET": reply = reset(session)
        default: reply = .error(.err("'\(command.name)' has no session handler"))
        }
        return .reply(reply, wrote: false)
    }

    /// The server's own INFO sections: clients and pub/sub.
    private func serverInfo() -> String {
        let statistics = registry.statistics.withLockedValue { $0 }
        return [
            "# Clients", "connected_clients:\(registry.count)", "paused_clients:\(statistics.pausedClients)",
            "client_output_buffer_disconnects:\(statistics.outputBufferDisconnects)", "timeout_disconnects:\(statistics.timeoutDisconnects)",
            "# Pubsub", "pubsub_channels:\(hub.channelCount)",
            "pubsub_patterns:\(hub.patternCount)", "pubsub_slow_disconnects:\(hub.slowDisconnects.withLockedValue { $0 })",
        ].joined(separator: "\r\n") + "\r\n"
    }

    /// `CONFIG GET client-output-buffer-limit` (what client libraries probe); anything
    /// else answers an empty map, as before.
    private func config(_ words: [String]) -> Reply {
        guard words.count == 3, words[1].uppercased() == "GET", GlobPattern.matches(words[2].lowercased(), "client-output-buffer-limit") else {
            return .map([])
        }
        let (n, p) = (outputLimits, pubsubLimits)
        return .map([
            .init(
                .bulk("client-output-buffer-limit"),
                .bulk(
                    "normal \(n.hardBytes) \(n.softBytes) \(Int(n.softSeconds)) slave 268435456 67108864 60 pubsub \(p.hardBytes) \(p.softBytes) \(Int(p.softSeconds))"
                ))
        ])
    }

    // MARK: Pub/sub

    private func subscribe(_ names: [String], pattern: Bool, _ session: Session) -> Reply {
        var frames: [Reply] = []
        for name in names {
            if pattern {
                if session.patterns.insert(name).inserted { hub.subscribe(session.id, pattern: name) }
            } else if session.channels.insert(name).inserted {
                hub.subscribe(session.id, channel: name)
            }
            frames.append(.push([.bulk(pattern ? "psubscribe" : "subscribe"), .bulk(name), .integer(Int64(session.subscriptionCount))]))
        }
        return .frames(frames)
    }

    private func unsubscribe(_ names: [String], pattern: Bool, _ session: Session) -> Reply {
        let kind = pattern ? "punsubscribe" : "unsubscribe"
        let targets = names.isEmpty ? (pattern ? session.patterns : session.channels).sorted() : names
        if targets.isEmpty { return .push([.bulk(kind), .null, .integer(Int64(session.subscriptionCount))]) }
        var frames: [Reply] = []
        for name in targets {
            if pattern {
                if session.patterns.remove(name) != nil { hub.unsubscribe(session.id, pattern: name) }
            } else if session.channels.remove(name) != nil {
                hub.unsubscribe(session.id, channel: name)
            }
            frames.append(.push([.bulk(kind), .bulk(name), .integer(Int64(session.subscriptionCount))]))
        }
        return .frames(frames)
    }

    private func pubsub(_ arguments: [String]) -> Reply {
        switch arguments[0].uppercased() {
        case "CHANNELS" where arguments.count <= 2: return .array(hub.channels(matching: arguments.count == 2 ? arguments[1] : nil).map(Reply.bulk))
        case "NUMSUB": return .map(arguments.dropFirst().map { .init(.bulk($0), .integer(Int64(hub.subscriberCount($0)))) })
        case "NUMPAT" where arguments.count == 1: return .integer(Int64(hub.patternCount))
        default:
            return .error(.err("unknown subcommand or wrong number of arguments for '\(arguments[0].prefix(64))'. Try PUBSUB CHANNELS, NUMSUB, NUMPAT."))
        }
    }

    /// `RESET`: out of the subscribed state, back to RESP2, unnamed, and (with a password)
    /// unauthenticated, as Redis does.
    private func reset(_ session: Session) -> Reply {
        for c in session.channels { hub.unsubscribe(session.id, channel: c) }
        for p in session.patterns { hub.unsubscribe(session.id, pattern: p) }
        session.channels = []
        session.patterns = []
        session.protocolVersion = 2
        session.name = nil
        session.authenticated = password == nil
        return .status("RESET")
    }

    /// Commits the journal if any reply is a write's, then encodes the replies; a failed
    /// commit turns every write's reply into the error.
    private func encode(_ replies: [(reply: Reply, version: Int, wrote: Bool)], into out: inout ByteBuffer) {
        let failure = replies.contains { $0.wrote } ? engine.commit() : nil
        for (reply, version, wrote) in replies {
            ReplyEncoder.write(wrote && failure != nil ? .error(failure!) : reply, protocol: version, into: &out)
        }
    }

    private func auth(_ arguments: [String], _ session: Session) -> Reply {
        guard arguments.count <= 2 else { return .error(.wrongArity("auth")) }
        guard let password else {
            return .error(
                .err("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"))
        }
        let user = arguments.count == 2 ? arguments[0] : "default"
        guard user == "default", Self.constantTimeEqual(arguments.last!, password) else {
            return .error(CohortError(CohortError.Kind(rawValue: "WRONGPASS"), "invalid username-password pair or user is disabled."))
        }
        session.authenticated = true
        return .ok
    }

    /// Compares in time that depends on the lengths only, not on where the bytes first
    /// differ, so response timing does not reveal a password prefix.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return difference == 0
    }

    private func hello(_ words: [String], _ session: Session) -> Reply {
        var version = session.protocolVersion
        var i = 1
        if words.count > 1 {
            guard let v = Int(words[1]), v == 2 || v == 3 else {
                return .error(CohortError(.noProto, "unsupported protocol version"))
            }
            version = v
            i = 2
        }
        var newName: String?
        while i < words.count {
            switch words[i].uppercased() {
            case "AUTH" where i + 2 < words.count:
                if case .error(let e) = auth([words[i + 1], words[i + 2]], session) { return .error(e) }
                i += 3
            case "SETNAME" where i + 1 < words.count:
                newName = words[i + 1]
                i += 2
            default:
                return .error(.syntax("in HELLO option '\(words[i])'"))
            }
        }
        guard session.authenticated else {
            return .error(
                CohortError(
                    .noAuth,
                    "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
                ))
        }
        session.protocolVersion = version
        if let newName { session.name = newName }
        return .map([
            .init(.bulk("server"), .bulk("cohort")), .init(.bulk("version"), .bulk(Cohort.version)),
            .init(.bulk("proto"), .integer(Int64(version))), .init(.bulk("id"), .integer(Int64(session.id))),
            .init(.bulk("mode"), .bulk("standalone")), .init(.bulk("role"), .bulk("master")), .init(.bulk("modules"), .array([])),
        ])
    }

    private func client(_ words: [String], _ session: Session) -> Reply {
        switch words[1].uppercased() {
        case "SETNAME":
            guard words.count == 3 else { return .error(.wrongArity("client|setname")) }
            session.name = words[2]
            return .ok
        case "SETINFO": return .ok
        case "GETNAME": return session.name.map(Reply.bulk) ?? .null
        case "ID": return .integer(Int64(session.id))
        default: return .error(.err("unknown subcommand '\(words[1].prefix(64))'. Try CLIENT SETNAME, SETINFO, GETNAME, ID."))
        }
    }
}
