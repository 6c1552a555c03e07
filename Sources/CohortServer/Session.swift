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
    /// Connected clients, for the server's own section of INFO.
    let clients: @Sendable () -> Int
    let password: String?

    /// Whether this session's writes may run on the event loop: not with
    /// `appendfsync always`, whose commit waits for the disk.
    let immediateWrites: Bool

    /// Runs the longest prefix of `requests` that needs no waiting (`Engine.dispatch`
    /// with `.ifFree`), commits the journal for its writes, and encodes its replies.
    /// Returns how many requests it ran and whether a QUIT ended the session; the
    /// caller sends the rest to `run`.
    func runImmediately(_ requests: [Request], session: Session, into out: inout ByteBuffer) -> (ran: Int, quit: Bool) {
        var replies: [(reply: Reply, version: Int, wrote: Bool)] = []
        var quit = false
        for request in requests {
            guard let (reply, wrote) = process(request, session, .ifFree(allowWrites: immediateWrites), quit: &quit) else { break }
            replies.append((reply, session.protocolVersion, wrote))
            if quit { break }
        }
        encode(replies, into: &out)
        return (replies.count, quit)
    }

    /// Encodes every reply into `out`; returns true when a QUIT ended the session
    /// (requests after it are not run). The journal records of the batch's writes are
    /// committed once, before any reply is encoded (group commit); if that fails, every
    /// write of the batch is answered with the error.
    func run(_ requests: [Request], session: Session, into out: inout ByteBuffer) -> Bool {
        var replies: [(reply: Reply, version: Int, wrote: Bool)] = []
        replies.reserveCapacity(requests.count)
        var quit = false
        for request in requests {
            let (reply, wrote) = process(request, session, .wait, quit: &quit)!
            replies.append((reply, session.protocolVersion, wrote))
            if quit { break }
        }
        encode(replies, into: &out)
        return quit
    }

    /// One request: classified, authorised, then answered. Nil only for `.ifFree` when
    /// it would wait.
    private func process(_ request: Request, _ session: Session, _ waiting: Engine.Waiting, quit: inout Bool) -> (Reply, Bool)? {
        let words: [String]
        switch request {
        case .invalid(let message): return (.error(.err(message)), false)
        case .command(let w): words = w
        }
        let (command, arguments): (Command, Arguments)
        switch engine.commands.resolve(words) {
        case .failure(let error): return (.error(error), false)
        case .success(let resolved): (command, arguments) = resolved
        }
        guard session.authenticated || command.flags.contains(.noAuth) else {
            return (.error(CohortError(.noAuth, "Authentication required.")), false)
        }
        guard case .session = command.handler else {
            let result = engine.dispatch(command, arguments, waiting)
            // INFO: the engine's sections, then the server's own (it alone knows its clients).
            if command.name == "INFO", case (.bulk(let text), let wrote)? = result {
                return (.bulk(text + "# Clients\r\nconnected_clients:\(clients())\r\n"), wrote)
            }
            return result
        }
        switch command.name {
        case "QUIT":
            quit = true
            return (.ok, false)
        case "AUTH": return (auth(Array(arguments), session), false)
        case "HELLO": return (hello(words, session), false)
        case "CLIENT": return (client(words, session), false)
        default: return (.error(.err("'\(command.name)' has no session handler")), false)
        }
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
