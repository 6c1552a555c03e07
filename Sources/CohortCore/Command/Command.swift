/// What a command handler sees besides its arguments.
public struct CommandEnvironment: Sendable {
    /// The "now" of evaluations that have no `AT`: the fixed `--now` or the wall clock.
    public let now: Int64
    /// The wall clock, for `EVENT.ADD user event *`.
    public let wallClock: Int64
    /// Bound plans of ad-hoc texts, keyed by catalog version (valid for reads and writes).
    let plans: PlanCache
    /// The engine runs on a fixed clock (`--now`): `CLOCK.SET` may move it.
    public let clockIsFixed: Bool
    /// Journal replay: a recorded `CLOCK.SET` applies whatever the clock mode now.
    public let replaying: Bool
    /// What definitions and requests may cost (`Limits.forReplay` during replay).
    public let limits: Limits

    init(
        now: Int64, wallClock: Int64, plans: PlanCache, clockIsFixed: Bool = false, replaying: Bool = false,
        limits: Limits = Limits()
    ) {
        self.now = now
        self.wallClock = wallClock
        self.plans = plans
        self.clockIsFixed = clockIsFixed
        self.replaying = replaying
        self.limits = limits
    }
}

/// What a write did that the change feed must follow (FEATURES §1.5.2, §1.5.5).
public enum FeedEffect: Sendable {
    case none
    /// Data of this user row changed (USER.SET/UNSET, EVENT.ADD): the part in `scope`.
    /// The row is live (a write finds or creates its user; a deleted id finds no row).
    case user(UInt32, WriteScope)
    /// This user row was deleted.
    case deletedUser(UInt32)
    /// The fixed clock moved to this time (`CLOCK.SET`).
    case clock(Int64)
}

/// The result of a write: the reply, and the words to append to the journal so that
/// replaying them reproduces the change exactly (times resolved, `*` replaced).
/// `journal == nil` means nothing changed and nothing is journaled.
public struct WriteResult: Sendable {
    public let reply: Reply
    public let journal: [String]?
    public let effect: FeedEffect

    public init(_ reply: Reply, journal: [String]?, effect: FeedEffect = .none) {
        self.reply = reply
        self.journal = journal
        self.effect = effect
    }
}

/// One entry of the command table (DESIGN §4): every command the server or `cohort run`
/// answers, connection commands included (redis's one command table).
///
/// `arity` follows Redis: positive is the exact word count including the name,
/// negative is a minimum. `CommandTable.resolve` checks it once, before any handler
/// runs, so a handler may index its fixed arguments without checking.
public struct Command: Sendable {
    /// What the transport needs to know about a command (redis's command flags).
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Touches one user or nothing and takes microseconds: the server may run it on
        /// its event loop when it needs no waiting (`Engine.dispatch` with `.ifFree`).
        public static let fast = Flags(rawValue: 1)
        /// Allowed before `AUTH` on a server with a password.
        public static let noAuth = Flags(rawValue: 2)
        /// Changes definitions: the engine re-checks watched segments after it and undoes
        /// it whole if the change feed refuses (`Database.feedAfterDefinitions`).
        public static let definition = Flags(rawValue: 4)
        /// A write that only removes (USER.DEL, SEGMENT.DROP, ...): allowed past `--maxmemory`.
        public static let frees = Flags(rawValue: 8)
    }

    public enum Handler: Sendable {
        /// Runs under the engine's read lock, concurrently with other reads.
        case read(@Sendable (borrowing Database, Arguments, CommandEnvironment) throws(CohortError) -> Reply)
        /// Runs under the write lock; its journal words are appended before the reply.
        case write(@Sendable (inout Database, Arguments, CommandEnvironment) throws(CohortError) -> WriteResult)
        /// Needs the engine itself (INFO, SNAPSHOT); takes its own locks.
        case engine(@Sendable (Engine, Arguments) throws(CohortError) -> Reply)
        /// Needs nothing but its arguments (PING, the probes client tools send): runs
        /// anywhere and never waits.
        case stateless(@Sendable (Arguments) throws(CohortError) -> Reply)
        /// Reads or changes the connection's own state (HELLO, AUTH, QUIT, CLIENT): the
        /// server answers it with its session; without a connection (`cohort run`) the
        /// reply is `fallback`.
        case session(fallback: Reply)
    }

    public let name: String
    public let arity: Int
    public let flags: Flags
    public let handler: Handler

    public init(_ name: String, arity: Int, flags: Flags = [], _ handler: Handler) {
        self.name = name
        self.arity = arity
        self.flags = flags
        self.handler = handler
    }

    public var isWrite: Bool { if case .write = handler { return true } else { return false } }

    func acceptsArity(_ wordCount: Int) -> Bool { arity >= 0 ? wordCount == arity : wordCount >= -arity }
}

/// Command names to commands, looked up case-insensitively.
public struct CommandTable: Sendable {
    private var commands: [String: Command] = [:]

    public init(_ commands: [Command]) {
        for command in commands { self.commands[command.name.uppercased()] = command }
    }

    /// Clients mostly send upper case: that is one hash lookup, without building a string.
    public func command(named name: String) -> Command? { commands[name] ?? commands[name.uppercased()] }
    public var names: [String] { commands.keys.sorted() }

    /// The one classification of a request: its command and arguments, or the error to
    /// answer (unknown command, wrong number of arguments), in redis's wording.
    public func resolve(_ words: [String]) -> Result<(Command, Arguments), CohortError> {
        guard let name = words.first else { return .failure(.err("empty command")) }
        guard let command = command(named: name) else {
            let shown = words.dropFirst().prefix(3).map { "'\($0.prefix(64))'" }.joined(separator: " ")
            return .failure(.err("unknown command '\(name.prefix(64))', with args beginning with: \(shown)"))
        }
        guard command.acceptsArity(words.count) else { return .failure(.wrongArity(command.name)) }
        return .success((command, Arguments(command: command.name, received: words)))
    }

    /// Every command: what `cohort run` and the server dispatch through.
    public static let standard = CommandTable(ConnectionCommands.all + DataCommands.all + SegmentCommands.all + FeedCommands.all + FunnelCommands.all + SeriesCommands.all + SplitCommands.all)
}
