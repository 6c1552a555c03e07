/// The connection commands (DESIGN §4, and the probes redis-cli and client libraries
/// send on connecting), declared in the one command table so that a request is
/// classified once. Those that touch the connection's state are answered by the
/// server's session (`Handler.session`); the rest need nothing but their arguments.
enum ConnectionCommands {
    static let all: [Command] = [
        Command("PING", arity: -1, flags: .fast, .stateless(ping)),
        Command("HELLO", arity: -1, flags: [.fast, .noAuth], .session(fallback: .error(.err("HELLO needs a client connection (cohort serve)")))),
        Command("AUTH", arity: -2, flags: [.fast, .noAuth], .session(fallback: .error(.err("AUTH needs a client connection (cohort serve)")))),
        Command("QUIT", arity: -1, flags: [.fast, .noAuth], .session(fallback: .ok)),
        Command("CLIENT", arity: -2, flags: .fast, .session(fallback: .error(.err("CLIENT needs a client connection (cohort serve)")))),
        // Answered trivially so that redis-cli and redis-benchmark start cleanly.
        Command("COMMAND", arity: -1, flags: .fast, .stateless { _ in .array([]) }),
        Command("CONFIG", arity: -1, flags: .fast, .stateless { _ in .map([]) }),
        Command("SELECT", arity: 2, flags: .fast, .stateless(select)),
        // Pub/sub (FEATURES §1.3): the connection's subscriptions live in its session.
        Command("SUBSCRIBE", arity: -2, flags: .fast, .session(fallback: needsConnection("SUBSCRIBE"))),
        Command("UNSUBSCRIBE", arity: -1, flags: .fast, .session(fallback: needsConnection("UNSUBSCRIBE"))),
        Command("PSUBSCRIBE", arity: -2, flags: .fast, .session(fallback: needsConnection("PSUBSCRIBE"))),
        Command("PUNSUBSCRIBE", arity: -1, flags: .fast, .session(fallback: needsConnection("PUNSUBSCRIBE"))),
        Command("PUBSUB", arity: -2, flags: .fast, .session(fallback: needsConnection("PUBSUB"))),
        Command("RESET", arity: 1, flags: [.fast, .noAuth], .session(fallback: .status("RESET"))),
    ]

    static func needsConnection(_ name: String) -> Reply { .error(.err("\(name) needs a client connection (cohort serve)")) }

    static func ping(_ args: Arguments) throws(CohortError) -> Reply {
        switch args.count {
        case 0: return .status("PONG")
        case 1: return .bulk(args[0])
        default: throw .wrongArity(args.command)
        }
    }

    static func select(_ args: Arguments) throws(CohortError) -> Reply {
        guard args[0] == "0" else { throw .err("DB index is out of range") }
        return .ok
    }
}
