/// What a command handler sees besides its arguments.
public struct CommandEnvironment: Sendable {
    /// The "now" of evaluations that have no `AT`: the fixed `--now` or the wall clock.
    public let now: Int64
    /// The wall clock, for `EVENT.ADD user event *`.
    public let wallClock: Int64
    /// Bound plans of ad-hoc texts, keyed by catalog version (valid for reads and writes).
    let plans: PlanCache

    init(now: Int64, wallClock: Int64, plans: PlanCache = PlanCache()) {
        self.now = now
        self.wallClock = wallClock
        self.plans = plans
    }
}

/// The result of a write: the reply, and the words to append to the journal so that
/// replaying them reproduces the change exactly (times resolved, `*` replaced).
/// `journal == nil` means nothing changed and nothing is journaled.
public struct WriteResult: Sendable {
    public let reply: Reply
    public let journal: [String]?

    public init(_ reply: Reply, journal: [String]?) {
        self.reply = reply
        self.journal = journal
    }
}

/// One entry of the command table (DESIGN §4).
///
/// `arity` follows Redis: positive is the exact word count including the name,
/// negative is a minimum. The engine checks it before calling the handler, so a
/// handler may index its fixed arguments without checking.
public struct Command: Sendable {
    public enum Handler: Sendable {
        /// Runs under the engine's read lock, concurrently with other reads.
        case read(@Sendable (borrowing Database, Arguments, CommandEnvironment) throws(CohortError) -> Reply)
        /// Runs under the write lock; its journal words are appended before the reply.
        case write(@Sendable (inout Database, Arguments, CommandEnvironment) throws(CohortError) -> WriteResult)
        /// Needs the engine itself (INFO, SNAPSHOT); takes its own locks.
        case engine(@Sendable (Engine, Arguments) throws(CohortError) -> Reply)
    }

    public let name: String
    public let arity: Int
    public let handler: Handler
    /// Touches one user (or nothing) and takes microseconds: the server may run it on
    /// its event loop when the engine's lock is free (`Engine.executeImmediately`).
    public let isPoint: Bool

    public init(_ name: String, arity: Int, point: Bool = false, _ handler: Handler) {
        self.name = name
        self.arity = arity
        self.isPoint = point
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

    /// Every command the engine answers: what `cohort run` and the server dispatch through.
    public static let standard = CommandTable(DataCommands.all + SegmentCommands.all)
}
