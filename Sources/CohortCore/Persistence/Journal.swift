import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// When journal records reach the disk (DESIGN §5; Redis's `appendfsync`).
public enum AppendFsync: String, CaseIterable, Sendable {
    /// fsync after every record, before the command is acknowledged.
    case always
    /// write before acknowledging, fsync once a second in the background.
    case everysec
    /// write before acknowledging, leave fsync to the operating system.
    case no
}

/// Journal file names and the record encoding (layout in FORMAT.md).
enum JournalFormat {
    static let magic: [UInt8] = Array("COHORTJL".utf8)
    static let headerSize = 16
    static let recordHeaderSize = 8

    static func fileName(_ generation: UInt64) -> String {
        let digits = String(generation)
        return "journal-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".log"
    }

    /// The generation in a journal file name, or nil for other files.
    static func generation(ofFile name: String) -> UInt64? {
        guard name.hasPrefix("journal-"), name.hasSuffix(".log") else { return nil }
        return UInt64(name.dropFirst(8).dropLast(4))
    }

    static func header(_ generation: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: headerSize)
        w.append(raw: magic.withUnsafeBytes { $0 })
        w.append(generation)
        return w.bytes
    }

    /// Set in a record's word count when the commit time (i64) follows the count.
    static let timedFlag: UInt32 = 1 << 31

    /// Appends one record (length, checksum, payload) for `words` committed at engine
    /// time `time` to `buffer`.
    static func encode(_ words: [String], at time: Int64, into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: recordHeaderSize))
        withUnsafeBytes(of: (UInt32(words.count) | timedFlag).littleEndian) { buffer.append(contentsOf: $0) }
        withUnsafeBytes(of: time.littleEndian) { buffer.append(contentsOf: $0) }
        for word in words {
            withUnsafeBytes(of: UInt32(word.utf8.count).littleEndian) { buffer.append(contentsOf: $0) }
            buffer.append(contentsOf: word.utf8)
        }
        let length = buffer.count - start - recordHeaderSize
        buffer.withUnsafeMutableBytes { raw in
            let payload = UnsafeRawBufferPointer(rebasing: raw[(start + recordHeaderSize)...])
            raw.storeBytes(of: UInt32(length).littleEndian, toByteOffset: start, as: UInt32.self)
            raw.storeBytes(of: CRC32C.checksum(payload).littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
    }
}

/// The open journal: appends records for acknowledged mutations to the current
/// generation's file, fsyncs them by policy, and rotates to a new generation when a
/// snapshot is taken. Records are buffered between `append` and `commit` (group commit:
/// one write per pipelined batch).
///
/// Concurrency: `append` is called by the engine under its write lock, `rotate` by the
/// snapshot under the same lock, `commit` by whoever acknowledges, and the `everysec`
/// timer from its own queue. `state` guards the file descriptor, the pending buffer and
/// the dirty flag; `syncLock` is held around a
/// background fsync so that `rotate` and `close` never close a descriptor being synced.
/// The background fsync itself runs outside `state`, so appends do not wait for the disk.
public final class Journal: MutationSink, @unchecked Sendable {
    public let directory: String
    public let policy: AppendFsync

    private let state = Lock()
    private let syncLock = Lock()
    /// Guarded by `state`.
    private var fd: Int32
    private var path: String
    public private(set) var generation: UInt64
    private var dirty = false
    private var buffer: [UInt8] = []
    private var timer: DispatchSourceTimer?

    /// Opens journal `generation` in `directory` for appending: creates it with its
    /// header, or continues an existing file after truncating it to `validLength` (the
    /// end of its last good record, so a dropped torn tail is not followed by new records).
    init(directory: String, generation: UInt64, policy: AppendFsync, validLength: Int?) throws(CohortError) {
        self.directory = directory
        self.policy = policy
        self.generation = generation
        path = directory + "/" + JournalFormat.fileName(generation)
        fd = try Journal.openFile(path, generation: generation, validLength: validLength, directory: directory)
        if policy == .everysec {
            let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "cohort.journal.fsync"))
            timer.schedule(deadline: .now() + 1, repeating: 1)
            timer.setEventHandler { [weak self] in try? self?.syncIfDirty() }
            timer.resume()
            self.timer = timer
        }
    }

    private static func openFile(_ path: String, generation: UInt64, validLength: Int?, directory: String) throws(CohortError) -> Int32 {
        if let validLength, validLength >= JournalFormat.headerSize {
            let fd = try FileIO.open(path, O_WRONLY)
            guard ftruncate(fd, off_t(validLength)) == 0, lseek(fd, 0, SEEK_END) >= 0 else {
                close(fd)
                throw .err("cannot prepare journal \(path) for appending: \(FileIO.reason())")
            }
            return fd
        }
        let fd = try FileIO.open(path, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try FileIO.writeAll(fd, JournalFormat.header(generation), path: path)
            try FileIO.sync(fd, path: path)
            try FileIO.syncDirectory(directory)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Encodes one record into the pending buffer. It reaches the file at the next
    /// `commit` (or here, once the buffer passes 1 MiB); callers commit before they
    /// acknowledge, so a pipelined batch costs one write (and with `always` one fsync).
    public func append(_ words: [String], at time: Int64) throws(CohortError) {
        try state.withLock { () throws(CohortError) in
            JournalFormat.encode(words, at: time, into: &buffer)
            if buffer.count >= 1 << 20 { try writePending() }
        }
    }

    /// Writes every pending record to the file; with `always`, fsyncs it. When this
    /// returns, everything appended before the call is in the file (on disk with
    /// `always`): a concurrent committer that took the lock first wrote (and synced) it.
    public func commit() throws(CohortError) {
        try state.withLock { () throws(CohortError) in
            guard !buffer.isEmpty else { return }
            try writePending()
            if policy == .always {
                guard fdatasync(fd) == 0 else { throw .err("cannot fsync \(path): \(FileIO.reason())") }
                dirty = false
            }
        }
    }

    /// Called with `state` held.
    private func writePending() throws(CohortError) {
        defer { buffer.removeAll(keepingCapacity: true) }
        try FileIO.writeAll(fd, buffer, path: path)
        dirty = true
    }

    /// fsyncs the current file if anything was written since the last fsync.
    func syncIfDirty() throws(CohortError) {
        try syncLock.withLock { () throws(CohortError) in
            let (fd, path, wasDirty) = state.withLock { () -> (Int32, String, Bool) in
                defer { dirty = false }
                return (self.fd, self.path, dirty)
            }
            guard wasDirty else { return }
            guard fdatasync(fd) == 0 else { throw .err("cannot fsync \(path): \(FileIO.reason())") }
        }
    }

    /// The file of a generation made ready by `prepare`, not yet written to.
    struct PreparedGeneration {
        let fd: Int32
        let path: String
        let generation: UInt64
    }

    /// A rotation in three steps, so that the engine's lock is held only for the cheap
    /// middle one (a snapshot's stall is what readers see):
    /// 1. `prepare(next)`, no lock held: creates generation `next`'s file, writes its
    ///    header and fsyncs it and its directory entry (all the slow disk work of a new
    ///    file, done before any record can go to it);
    /// 2. `switchTo(_:)`, under the engine's write lock: writes the pending records to
    ///    the old file and swaps the descriptor (no fsync, except for pending records
    ///    under `always`, which must be on disk before their commit returns);
    /// 3. `retire(_:)`, no engine lock: fsyncs and closes the old file, under `syncLock`
    ///    so no background fsync races it.
    func prepare(_ next: UInt64) throws(CohortError) -> PreparedGeneration {
        let nextPath = directory + "/" + JournalFormat.fileName(next)
        return PreparedGeneration(fd: try Journal.openFile(nextPath, generation: next, validLength: nil, directory: directory), path: nextPath, generation: next)
    }

    /// Step 2 of a rotation (see `prepare`); returns the old file to `retire`.
    func switchTo(_ next: PreparedGeneration) throws(CohortError) -> (fd: Int32, path: String) {
        try state.withLock { () throws(CohortError) -> (fd: Int32, path: String) in
            if !buffer.isEmpty {
                try writePending()
                if policy == .always { guard fdatasync(fd) == 0 else { throw .err("cannot fsync \(path): \(FileIO.reason())") } }
            }
            let old = (fd, path)
            fd = next.fd
            path = next.path
            generation = next.generation
            dirty = false
            return old
        }
    }

    /// Step 3 of a rotation: makes the old file durable and closes it.
    func retire(_ old: (fd: Int32, path: String)) throws(CohortError) {
        try syncLock.withLock { () throws(CohortError) in
            defer { close(old.fd) }
            try FileIO.sync(old.fd, path: old.path)
        }
    }

    /// Abandons a prepared generation that was never switched to.
    func discard(_ prepared: PreparedGeneration) {
        close(prepared.fd)
        FileIO.remove(prepared.path)
    }

    /// Stops the timer, fsyncs and closes the file.
    func finish() throws(CohortError) {
        timer?.cancel()
        timer = nil
        try syncLock.withLock { () throws(CohortError) in
            try state.withLock { () throws(CohortError) in
                guard fd >= 0 else { return }
                defer {
                    _ = Glibc.close(fd)
                    fd = -1
                }
                if !buffer.isEmpty { try writePending() }
                try FileIO.sync(fd, path: path)
            }
        }
    }

    deinit {
        timer?.cancel()
        if fd >= 0 { _ = Glibc.close(fd) }
    }
}
