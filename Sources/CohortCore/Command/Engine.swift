import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Receives every applied mutation, in order, before the command is acknowledged
/// (the journal). Called with the engine's write lock held, so calls never overlap.
public protocol MutationSink: AnyObject, Sendable {
    /// Records a mutation committed at engine time `time` (it may stay buffered until `commit`).
    func append(_ words: [String], at time: Int64) throws(CohortError)
    /// Makes every appended mutation durable per policy; called before acknowledging.
    func commit() throws(CohortError)
}

/// Takes snapshots for the `SNAPSHOT` command (the data directory).
public protocol SnapshotTaker: AnyObject, Sendable {
    func snapshot(_ engine: Engine) throws(CohortError) -> SnapshotReport
}

/// The embedded engine: a `Database` behind a reader-writer lock, and the command
/// table that reads and changes it.
///
/// Concurrency: `database` is shared; it is read only under the read lock and
/// mutated only under the write lock. Reads run in parallel with each other; writes
/// are serialized, and each write's journal record is appended (through `sink`, in
/// write order) and committed before its reply: `execute` commits itself, the server
/// commits once per pipelined batch. Consecutive pipelined writes of one connection run
/// in groups of up to `writeGroupLimit` under one hold of the write lock
/// (`dispatchWrites`), so concurrent writers hand the lock over per group, not per
/// write. The sink and the journal-failure state sit behind `sinkLock`, a mutex never
/// held across waiting, so a commit on an event loop never waits behind the
/// reader-writer lock.
///
/// Reads never compact: event tables answer from their base and delta together
/// (`EventTable`). When a write leaves a table's delta past its merge threshold, a
/// background merge (`MergeWorker`, one at a time) copies the table under the read lock
/// (O(columns): the arrays are shared), builds the new base with no lock held, and
/// prepares the table around it from a second copy, and adopts that under the write lock
/// in O(writes since the second copy).
public final class Engine: @unchecked Sendable {
    private let lock = ReadWriteLock()
    /// Protected by `lock`.
    private var database: Database
    /// Protected by `sinkLock`, a plain mutex held only to read or swap the reference:
    /// `commit` may run on a server event loop, which must never wait behind the
    /// reader-writer lock (a long evaluation with a writer queued would stall it).
    private var sink: MutationSink?
    private let sinkLock = Lock()
    /// Set when a journal append failed: that mutation is in memory but not durable, so
    /// every later write is refused until a restart (which recovers the durable state).
    /// Protected by `sinkLock`.
    private var journalFailure: CohortError?
    /// Where `SNAPSHOT` goes; set once before the engine is shared.
    public private(set) nonisolated(unsafe) var snapshotTaker: SnapshotTaker?

    public let commands: CommandTable
    /// The engine runs on a fixed clock (`--now`) that only `CLOCK.SET` moves.
    public let clockIsFixed: Bool
    /// The engine time `E` (FEATURES §0): the fixed clock, or the latest wall-clock second
    /// seen; never decreases. Protected by `clockLock`, a mutex held only to read or
    /// raise it (never across waiting).
    private var time: Int64
    private let clockLock = Lock()
    private let clock: @Sendable () -> Int64
    public let startedAt: Int64
    /// Time of the last snapshot, for INFO. Protected by `lock`.
    private var lastSnapshot: Int64?
    /// Journaled mutations applied since start-up. Protected by `lock`.
    private var mutations: UInt64 = 0
    /// Bound plans of ad-hoc targets; valid across data writes (keyed by catalog version).
    private let plans = PlanCache()
    /// Ad-hoc target texts answered from the plan cache, and those parsed and bound.
    public var planCacheStatistics: (hits: Int, misses: Int) { plans.statistics }
    /// The smallest delta (events) a table is merged at; set before the engine is shared
    /// (tests make it tiny, to merge often).
    public nonisolated(unsafe) var mergeThreshold = 65_536
    /// What definitions and requests may cost (`--max-*`); set before the engine is shared.
    public nonisolated(unsafe) var limits = Limits()
    /// `--maxmemory`: while the allocator holds more than this many bytes, writes other
    /// than removals are refused with `-OOM` (Redis's `noeviction`); reads go on. Nil: no
    /// limit. Set before the engine is shared.
    public nonisolated(unsafe) var maxMemory: Int?
    /// The allocator's bytes in use, sampled at most every 100 ms.
    public let memory = MemoryGauge()
    /// Writes refused by `maxMemory`, for INFO. Protected by `sinkLock`.
    private var oomRejections = 0
    public var oomRejectedWrites: Int { sinkLock.withLock { oomRejections } }
    /// Tables with a merge queued or running. Protected by `lock` (written under the
    /// write lock only).
    private var merging: Set<Int> = []
    /// Merges installed since start-up. Protected by `lock`.
    private var merges = 0
    /// Runs background merges, one at a time (so at most one extra copy of a table).
    private let mergeWorker = MergeWorker()
    /// `SEGMENT.SYNC`'s pinned cursors.
    let syncCursors = SyncCursors()
    /// Receives the change feed's new entries, in append order, under the write lock
    /// (so calls never overlap and keep stream order); must only hand them on (the
    /// server queues pushes on its event loops). Set before the engine is shared; nil
    /// during recovery, so nothing replayed is published.
    public nonisolated(unsafe) var feedListener: (@Sendable ([FeedNotice]) -> Void)?

    public init(
        database: Database = Database(), commands: CommandTable = .standard, fixedNow: Int64? = nil,
        clock: @escaping @Sendable () -> Int64 = Engine.wallClock
    ) {
        self.database = database
        self.commands = commands
        self.clockIsFixed = fixedNow != nil
        self.clock = clock
        self.startedAt = clock()
        // Never behind the time the feed of a restored state reached (its entries' IDs
        // must keep increasing); with nothing watched, the start-up time alone.
        let start = fixedNow ?? clock()
        self.time = database.feed.isEmpty ? start : max(start, database.feed.time)
    }

    /// The engine time `E`: on the wall clock, `max(E, clock)`.
    public var now: Int64 {
        clockLock.withLock {
            if !clockIsFixed { time = max(time, clock()) }
            return time
        }
    }

    /// The fixed clock's time (`--now`, moved by `CLOCK.SET`), or nil on the wall clock.
    public var fixedNow: Int64? { clockIsFixed ? now : nil }

    /// Raises `E` to `t` (a replayed `CLOCK.SET`, or one just applied).
    private func raiseTime(to t: Int64) { clockLock.withLock { time = max(time, t) } }

    public static let wallClock: @Sendable () -> Int64 = { Int64(Glibc.time(nil)) }

    /// Installs the journal. Call before the engine is shared.
    public func attach(sink: MutationSink?) { sinkLock.withLock { self.sink = sink } }

    private var currentSink: MutationSink? { sinkLock.withLock { sink } }

    private func refuseWrites(after error: CohortError) {
        sinkLock.withLock {
            journalFailure =
                journalFailure
                ?? .err("writes are refused since a journal write failed (\(error.message)); restart to recover the acknowledged state")
        }
    }

    /// Installs what `SNAPSHOT` calls. Call before the engine is shared.
    public func attach(snapshotTaker: SnapshotTaker?) { self.snapshotTaker = snapshotTaker }

    public var environment: CommandEnvironment { environment(at: nil) }

    /// The environment of one command; `at` (a journal record's commit time) makes it a
    /// replay at that time.
    private func environment(at replayTime: Int64?) -> CommandEnvironment {
        let wall = clock()
        return CommandEnvironment(
            now: replayTime ?? now, wallClock: wall, plans: plans, clockIsFixed: clockIsFixed, replaying: replayTime != nil,
            limits: replayTime == nil ? limits : limits.forReplay)
    }

    /// Runs one command given as words (name first) and returns its reply, its journal
    /// record committed first; errors come back as `.error` replies, never thrown.
    /// Thread-safe.
    public func execute(_ words: [String]) -> Reply {
        let (reply, wrote) = executeWithoutCommit(words)
        guard wrote, let failure = commit() else { return reply }
        return .error(failure)
    }

    /// Commits the journal records of writes run by `executeWithoutCommit`; nil on
    /// success, else the error every write since the last commit must be answered with
    /// (writes are refused from then on).
    public func commit() -> CohortError? {
        guard let sink = currentSink else { return nil }
        do throws(CohortError) {
            try sink.commit()
            return nil
        } catch {
            refuseWrites(after: error)
            return .err("not acknowledged: \(error.message); writes are refused until a restart")
        }
    }

    /// Runs one command like `execute` but leaves its journal record buffered: the
    /// caller must `commit()` before sending any reply of a write (`wrote` true).
    public func executeWithoutCommit(_ words: [String]) -> (reply: Reply, wrote: Bool) {
        switch commands.resolve(words) {
        case .failure(let error): return (.error(error), false)
        case .success(let (command, arguments)): return dispatch(command, arguments, .wait)!
        }
    }

    /// Replays one journal record (recovery): the write runs as it ran at its commit time
    /// `time` (nil for records written before commit times were journaled), so the change
    /// feed appends the same entries with the same IDs. Not journaled again.
    public func replay(_ words: [String], at time: Int64?) -> Reply {
        switch commands.resolve(words) {
        case .failure(let error): return .error(error)
        case .success(let (command, arguments)): return dispatch(command, arguments, .wait, replayingAt: time ?? now)!.reply
        }
    }

    /// Whether `dispatch` may wait for the engine's lock.
    public enum Waiting: Sendable {
        /// Wait as long as needed (a worker thread).
        case wait
        /// Run now only if nothing needs waiting: a `fast` command and its lock free;
        /// writes only with `allowWrites`. What the
        /// server's event loop uses.
        case ifFree(allowWrites: Bool)
    }

    /// Runs a resolved command (`CommandTable.resolve`): the one dispatch of every
    /// caller. Nil only with `.ifFree` when the command would have to wait: then run it
    /// with `.wait` off the caller's thread. Writes leave their journal record buffered
    /// (`commit()` before replying); errors come back as `.error` replies.
    public func dispatch(
        _ command: Command, _ arguments: Arguments, _ waiting: Waiting, replayingAt replayTime: Int64? = nil
    ) -> (reply: Reply, wrote: Bool)? {
        var allowWrites = true
        if case .ifFree(let writes) = waiting {
            guard command.flags.contains(.fast) else { return nil }
            allowWrites = writes
        }
        let mayWait = if case .wait = waiting { true } else { false }
        do {
            switch command.handler {
            case .read(let handler):
                let environment = self.environment
                if mayWait { return (try read { (database) throws(CohortError) in try handler(database, arguments, environment) }, false) }
                return try lock.withReadLockIfFree { () throws(CohortError) -> (Reply, Bool) in
                    (try handler(database, arguments, environment), false)
                }
            case .write:
                guard allowWrites else { return nil }
                let apply = { self.runWrite(command, arguments, replayingAt: replayTime) }
                return mayWait ? lock.withWriteLock(apply) : lock.withWriteLockIfFree(apply)
            case .engine(let handler):
                return mayWait ? (try handler(self, arguments), false) : nil
            case .stateless(let handler):
                return (try handler(arguments), false)
            case .session(let fallback):
                return (fallback, false)
            }
        } catch {
            return (.error(error), false)
        }
    }

    /// The most writes `dispatchWrites` runs under one hold of the write lock: readers
    /// wait at most that many writes (tens of microseconds each) between two holds.
    public static let writeGroupLimit = 64

    /// Runs consecutive write commands (resolved, each `.write`) under one hold of the
    /// write lock, in order, as `dispatch` would one by one: each with its own commit time,
    /// journal record (left buffered) and change-feed evaluation, an error failing only
    /// its own command. One lock hand-off per group instead of one per write: two
    /// pipelining writers otherwise trade the lock (and a thread wake-up) per command.
    /// Nil with `.ifFree` when the lock is taken, or writes are not allowed there.
    /// At most `writeGroupLimit` commands; the caller splits longer runs.
    public func dispatchWrites(_ writes: [(Command, Arguments)], _ waiting: Waiting) -> [(reply: Reply, wrote: Bool)]? {
        precondition(writes.count <= Self.writeGroupLimit, "a write group longer than writeGroupLimit")
        let apply = { writes.map { self.runWrite($0.0, $0.1, replayingAt: nil) } }
        switch waiting {
        case .wait: return lock.withWriteLock(apply)
        case .ifFree(let allowWrites):
            guard allowWrites, writes.allSatisfy({ $0.0.flags.contains(.fast) }) else { return nil }
            return lock.withWriteLockIfFree(apply)
        }
    }

    /// One write, under the write lock (held by the caller): the memory limit, then
    /// `applyWrite` with this moment's environment; errors as `.error` replies.
    private func runWrite(_ command: Command, _ arguments: Arguments, replayingAt replayTime: Int64?) -> (reply: Reply, wrote: Bool) {
        guard case .write(let handler) = command.handler else { preconditionFailure("runWrite of a command that does not write") }
        if let maxMemory, replayTime == nil, !command.flags.contains(.frees), memory.used > maxMemory {
            sinkLock.withLock { oomRejections += 1 }
            return (.error(CohortError(.oom, "command not allowed when used memory > 'maxmemory'")), false)
        }
        var wrote = false
        do throws(CohortError) {
            // The environment is taken under the write lock: commit times follow commit order.
            let reply = try applyWrite(command, handler, arguments, environment(at: replayTime), wrote: &wrote)
            return (reply, wrote)
        } catch {
            return (.error(error), false)
        }
    }

    /// Applies a write under the write lock (held by the caller), lets the change feed
    /// follow it, and appends its journal record with its commit time.
    ///
    /// The feed first moves to the write's time `tW` (time-driven changes before it), then
    /// follows what the write did (`FeedEffect`). A definition the feed refuses (a watched
    /// segment dropped or no longer time-analyzable) is undone whole.
    private func applyWrite(
        _ command: Command, _ handler: @Sendable (inout Database, Arguments, CommandEnvironment) throws(CohortError) -> WriteResult,
        _ arguments: Arguments, _ environment: CommandEnvironment, wrote: inout Bool
    ) throws(CohortError) -> Reply {
        if let failure = sinkLock.withLock({ journalFailure }) { throw failure }
        let tW = environment.now
        database.advanceFeed(to: tW)
        // Whatever happens next, entries appended under this lock are published under it.
        defer { publishFeed() }
        // Handlers validate everything before mutating (Database's all-or-nothing
        // rule), so a throw leaves `database` untouched and nothing is journaled.
        let before = command.flags.contains(.definition) && !database.feed.isEmpty ? database : nil
        let result = try handler(&database, arguments, environment)
        switch result.effect {
        case .none: break
        case .user(let row, let scope): database.feedAfterWrite(row: row, scope: scope, at: tW)
        case .deletedUser(let row): database.feedAfterDelete(row: row, at: tW)
        case .clock(let t): raiseTime(to: t)
        }
        if let before {
            do throws(CohortError) {
                try database.feedAfterDefinitions(at: tW)
            } catch {
                database = before
                throw error
            }
        }
        scheduleMerges()
        if result.journal != nil { mutations &+= 1 }
        wrote = result.journal != nil
        if let words = result.journal, let sink = currentSink {
            do throws(CohortError) {
                try sink.append(words, at: tW)
            } catch {
                refuseWrites(after: error)
                throw CohortError.err("not acknowledged: \(error.message); writes are refused until a restart")
            }
        }
        return result.reply
    }

    /// Runs `body` on a consistent view of the database, without holding the lock while
    /// it runs.
    ///
    /// The view is a copy-on-write copy taken under the read lock (O(columns)), so a long
    /// scan never holds up a writer, and a writer never waits for it: the writes that
    /// follow duplicate only the chunks they touch while the view lives (event deltas and
    /// attribute columns are `ChunkedArray`s; bitmaps are copied whole, O(rows / 8) bytes
    /// at most; a new user id copies the id table, see the README's known limits). Fast
    /// commands on the event loop run under the read lock instead (`dispatch` with
    /// `.ifFree`): they take microseconds.
    public func read<T, E: Error>(_ body: (borrowing Database) throws(E) -> T) throws(E) -> T {
        let view = lock.withReadLock { database }
        return try body(view)
    }

    // MARK: Time

    /// Applies the time-driven changes due before the engine time (FEATURES §1.5.2):
    /// what the server runs every second on the wall clock, and start-up once (changes
    /// that fell due while the server was down). Takes the write lock only when a
    /// change is due. Not journaled: replay derives the same entries from the data.
    /// Returns the entries appended.
    @discardableResult
    public func advanceClock() -> Int {
        let t = now
        guard lock.withReadLock({ database.feed.earliestDue.map { $0 < t } ?? false }) else { return 0 }
        return lock.withWriteLock {
            let appended = database.advanceFeed(to: t)
            publishFeed()
            return appended
        }
    }

    /// The end of recovery (after journal replay, before clients): the engine time is
    /// raised to the time the replayed feed reached, so that no later entry gets an
    /// earlier ID, and the changes that fell due while the server was down are applied.
    public func finishRecovery() {
        let reached = lock.withReadLock { database.feed.isEmpty ? nil : database.feed.time }
        if let reached { raiseTime(to: reached) }
        advanceClock()
    }

    /// Hands the entries appended under this write lock to `feedListener`. O(watches)
    /// when there are none.
    private func publishFeed() {
        guard database.feed.hasUnpublished else { return }
        let notices = database.takeFeedNotices()
        feedListener?(notices)
    }

    /// After a bulk load (`cohort load`, through `withExclusiveAccess`): every watched
    /// segment re-evaluates everyone at the engine time, entries `cause load`. Not
    /// journaled (the snapshot written after a load holds the result); published to a
    /// listener if there is one (there is none under `cohort load`).
    public func reevaluateWatchesAfterLoad() {
        lock.withWriteLock {
            database.feedAfterLoad(at: now)
            publishFeed()
        }
    }

    /// Engine time minus the last second whose time-driven changes are applied (INFO's
    /// `feed_lag_seconds`).
    public var feedLag: Int64 { max(0, now - lock.withReadLock { database.feed.time }) }

    // MARK: Background merges

    /// Queues a merge of every table whose delta passed the threshold and that is not
    /// merging already. Called under the write lock; O(event types).
    private func scheduleMerges() {
        for t in database.events.tables.indices where !merging.contains(t) && database.events.tables[t].wantsMerge(minimum: mergeThreshold) {
            merging.insert(t)
            mergeWorker.submit { [self] in merge(table: t) }
        }
    }

    /// Merges table `t`'s delta into a new base: copied under the read lock, merged
    /// with no lock held (on the merge thread), the table around the new
    /// base prepared from a second copy with no lock held, and adopted under the write
    /// lock with only the writes since that copy to catch up (`EventTable.installing`).
    private func merge(table t: Int) {
        mergeAndInstall(table: t)
        // The old base and the copies are released by now (unless a reader still holds a
        // view): give their pages back, off any request's path.
        ProcessMemory.returnFreePages()
    }

    private func mergeAndInstall(table t: Int) {
        let (table, live, rowCount) = lock.withReadLock { (database.events.tables[t], database.users.live, database.users.rowCount) }
        let merged = table.merged(live: live, rowCount: rowCount)
        let (current, liveNow) = lock.withReadLock { (database.events.tables[t], database.users.live) }
        let prepared = current.installing(merged, live: liveNow)
        let basis = (deltaCount: current.deltaCount, deletions: current.deletedRows.count)
        lock.withWriteLock {
            merging.remove(t)
            if let prepared, database.events.tables[t].adopt(prepared, builtFrom: basis, live: database.users.live) { merges += 1 }
            scheduleMerges()
        }
    }

    /// Blocks until every merge queued so far has been installed (for tests and tools).
    public func waitForMerges() { mergeWorker.waitUntilIdle() }

    /// Merges installed since start-up, and events now in the tables' deltas.
    public var mergeStatistics: (merges: Int, deltaEvents: Int) {
        lock.withReadLock { (merges, database.events.tables.reduce(0) { $0 + $1.deltaCount }) }
    }

    /// Runs `body` with exclusive access. Mutations made here are not journaled: this is
    /// for loaders and recovery, which persist by other means.
    public func withExclusiveAccess<T, E: Error>(_ body: (inout Database) throws(E) -> T) throws(E) -> T {
        try lock.withWriteLock { () throws(E) -> T in try body(&database) }
    }

    /// A consistent copy of the whole state (copy-on-write: O(columns) now; later writes
    /// pay for what they change).
    public func snapshotView() -> Database { lock.withReadLock { database } }

    public func recordSnapshot(at time: Int64) { lock.withWriteLock { lastSnapshot = time } }
    public var lastSnapshotTime: Int64? { lock.withReadLock { lastSnapshot } }
    /// Mutations applied since start-up (what a periodic snapshot checks for changes).
    public var mutationCount: UInt64 { lock.withReadLock { mutations } }
}
