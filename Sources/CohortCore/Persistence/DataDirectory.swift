import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A data directory (DESIGN §5, FORMAT.md): the owner of its lock, its snapshot and its
/// journal, and the one place that knows how they fit together.
///
/// Opening it recovers the engine's state (snapshot, then journal replay) and attaches
/// the journal, so every acknowledged mutation is appended before its reply.
/// Concurrency: `snapshot` may be called from any thread; `snapshotLock` lets one run
/// at a time. The engine's write lock is held only for the instant that takes the
/// database's copy-on-write view and swaps the journal's file; compaction of the view,
/// compression and the file write run without it, on at most `snapshotWorkers` threads.
public final class DataDirectory: SnapshotTaker, @unchecked Sendable {
    public let path: String
    public let journal: Journal
    private let lockFD: Int32
    private let snapshotLock = Lock()
    private let clock: @Sendable () -> Int64
    /// Threads a snapshot's compaction and compression may use: all cores by default; a
    /// server sets one fewer than the cores before serving, so requests keep a core.
    public nonisolated(unsafe) var snapshotWorkers = Int.max
    /// `Engine.mutationCount` when the last snapshot began. Guarded by `snapshotLock`.
    private var snapshotted: UInt64 = 0

    public var snapshotPath: String { path + "/snapshot.cohort" }
    static let lockName = "LOCK"

    /// What start-up found and did.
    public struct Recovery: Sendable {
        public var snapshotLoaded = false
        public var snapshotSeconds = 0.0
        public var journalRecords = 0
        public var journalFiles = 0
        public var warnings: [String] = []
        public var seconds = 0.0
    }

    private init(path: String, journal: Journal, lockFD: Int32, clock: @escaping @Sendable () -> Int64) {
        self.path = path
        self.journal = journal
        self.lockFD = lockFD
        self.clock = clock
    }

    /// Opens (and with `create`, makes) the directory, takes its lock, loads the snapshot,
    /// replays the journals and returns an engine with the journal attached. Fails
    /// without side effects on the data when anything is unusable.
    public static func open(
        _ path: String, create: Bool, appendfsync: AppendFsync = .everysec, fixedNow: Int64? = nil,
        clock: @escaping @Sendable () -> Int64 = Engine.wallClock
    ) throws(CohortError) -> (DataDirectory, Engine, Recovery) {
        let start = DispatchTime.now().uptimeNanoseconds
        if create {
            try FileIO.makeDirectory(path)
        } else if !FileIO.exists(path) {
            throw .err("data directory \(path) does not exist (create one with cohort load --data-dir \(path) --schema FILE)")
        }
        let lockFD = try acquireLock(path)
        do {
            var recovery = Recovery()
            let snapshotPath = path + "/snapshot.cohort"
            FileIO.remove(snapshotPath + ".tmp")
            var database = Database()
            var generation: UInt64 = 1
            var lastSnapshot: Int64?
            if FileIO.exists(snapshotPath) {
                let loadStart = DispatchTime.now().uptimeNanoseconds
                let (db, meta) = try SnapshotReader.read(path: snapshotPath)
                database = db
                generation = meta.journalGeneration
                lastSnapshot = meta.createdAt
                recovery.snapshotLoaded = true
                recovery.snapshotSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
            }
            let engine = Engine(database: database, fixedNow: fixedNow, clock: clock)
            if let lastSnapshot { engine.recordSnapshot(at: lastSnapshot) }

            // Journals older than the snapshot's generation are already in it (a crash
            // came between the snapshot's rename and their deletion).
            let generations = try FileIO.list(path).compactMap(JournalFormat.generation(ofFile:)).sorted()
            for old in generations where old < generation { FileIO.remove(path + "/" + JournalFormat.fileName(old)) }
            var current = generation
            var validLength: Int?
            for g in generations where g >= generation {
                let file = path + "/" + JournalFormat.fileName(g)
                let outcome = try JournalReader.read(path: file, generation: g) { (words, time, offset) throws(CohortError) in
                    if case .error(let error) = engine.replay(words, at: time) {
                        throw .err("journal \(file) record at byte \(offset) (\(words.first ?? "")) does not replay: \(error.message)")
                    }
                }
                recovery.journalRecords += outcome.records
                recovery.journalFiles += 1
                if let warning = outcome.warning { recovery.warnings.append(warning) }
                current = g
                validLength = outcome.validLength
            }
            // Changes that fell due while the server was down, with their exact times.
            engine.finishRecovery()
            let journal = try Journal(directory: path, generation: current, policy: appendfsync, validLength: validLength)
            let directory = DataDirectory(path: path, journal: journal, lockFD: lockFD, clock: clock)
            engine.attach(sink: journal)
            engine.attach(snapshotTaker: directory)
            recovery.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return (directory, engine, recovery)
        } catch {
            _ = Glibc.close(lockFD)
            throw error
        }
    }

    /// Takes the directory's lock (flock, released by the kernel if the process dies) and
    /// records the pid in it; fails naming the holder when another process has it.
    private static func acquireLock(_ directory: String) throws(CohortError) -> Int32 {
        let lockPath = directory + "/" + lockName
        let fd = try FileIO.open(lockPath, O_RDWR | O_CREAT)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = holderPid(fd)
            _ = Glibc.close(fd)
            throw .err(
                "data directory \(directory) is in use by process \(holder.map(String.init) ?? "(unknown pid)") (lock file \(lockPath)); stop that process first"
            )
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return fd
    }

    private static func holderPid(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingWhitespace)
    }

    /// Writes a snapshot of the engine's current state and rotates the journal (protocol
    /// in FORMAT.md: nothing lost, nothing applied twice, whenever the process dies).
    @discardableResult
    public func snapshot(_ engine: Engine) throws(CohortError) -> SnapshotReport {
        try snapshotLock.withLock { () throws(CohortError) -> SnapshotReport in
            // Read before the view is taken: a mutation in between makes the next
            // periodic check snapshot once more, never skip a change.
            let mutations = engine.mutationCount
            // Under the write lock only the O(columns) copy and the journal's descriptor
            // swap (its new file is prepared before, the old one synced after): the view
            // shares every array with the engine, later writes copy just the delta chunks
            // they append to, and the writer compacts the view off the lock.
            let next = journal.generation + 1
            let prepared = try journal.prepare(next)
            let view: Database
            let old: (fd: Int32, path: String)
            do throws(CohortError) {
                (view, old) = try engine.withExclusiveAccess { (db) throws(CohortError) -> (Database, (fd: Int32, path: String)) in
                    (db, try journal.switchTo(prepared))
                }
            } catch {
                journal.discard(prepared)
                throw error
            }
            try journal.retire(old)
            let now = clock()
            // At a lower CPU priority: request threads keep their cores while it runs.
            let (file, workers) = (snapshotPath, snapshotWorkers)
            let report = try BackgroundThread.run(niceIncrement: BackgroundThread.snapshotNice) { () throws(CohortError) in
                try SnapshotWriter.write(view, meta: SnapshotMeta(createdAt: now, journalGeneration: next), to: file, workers: workers)
            }
            for g in try FileIO.list(path).compactMap(JournalFormat.generation(ofFile:)) where g < next {
                FileIO.remove(path + "/" + JournalFormat.fileName(g))
            }
            try FileIO.syncDirectory(path)
            engine.recordSnapshot(at: now)
            snapshotted = mutations
            // The snapshot's encode buffers (hundreds of MB at 1M users) are freed now; give
            // their pages back, or RSS stays at the peak while the allocator holds them.
            ProcessMemory.returnFreePages()
            return report
        }
    }

    /// True when mutations were applied since the last snapshot began (periodic snapshots).
    public func hasChanges(_ engine: Engine) -> Bool {
        let count = engine.mutationCount
        return snapshotLock.withLock { count != snapshotted }
    }

    /// Flushes the journal to disk and releases the lock. The directory is unusable after.
    public func close() throws(CohortError) {
        defer { _ = Glibc.close(lockFD) }
        try journal.finish()
    }
}

extension String {
    var trimmingWhitespace: String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
