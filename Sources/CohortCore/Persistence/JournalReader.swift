/// Reads one journal file record by record, for replay at start-up.
///
/// A record that is cut short or fails its checksum is a torn tail when nothing but
/// the end of the file (or zero bytes, as a crash can leave) follows it: it is dropped
/// and reported with its byte offset. A bad record followed by more data is corruption
/// and fails, because skipping it would lose or reorder acknowledged writes.
enum JournalReader {
    struct Outcome {
        /// Records replayed.
        var records = 0
        /// Length of the file up to the end of its last good record.
        var validLength = 0
        /// Set when a torn tail was dropped.
        var warning: String?
    }

    /// Calls `apply` with each record's words and commit time (nil in records written
    /// before commit times were journaled), in order.
    static func read(
        path: String, generation: UInt64, _ apply: (_ words: [String], _ time: Int64?, _ offset: Int) throws(CohortError) -> Void
    ) throws(CohortError) -> Outcome {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        var outcome = Outcome()
        func torn(_ offset: Int, _ what: String) -> Outcome {
            outcome.validLength = offset
            outcome.warning =
                "journal \(path): \(what) at byte \(offset); dropping it and the \(bytes.count - offset) bytes after it (an unfinished write at a crash)"
            return outcome
        }
        guard bytes.count >= JournalFormat.headerSize else {
            outcome.validLength = 0
            outcome.warning = "journal \(path): header cut short (\(bytes.count) bytes); starting the file afresh"
            return outcome
        }
        guard bytes.prefix(8).elementsEqual(JournalFormat.magic) else { throw .err("\(path) is not a Cohort journal (wrong magic bytes)") }
        let stored = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard stored == generation else {
            throw .err("journal \(path) says it is generation \(stored), its name says \(generation); the file was renamed or copied in")
        }
        var offset = JournalFormat.headerSize
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            func onlyZerosFollow() -> Bool { !rest.contains { $0 != 0 } }
            guard rest.count >= JournalFormat.recordHeaderSize else { return torn(offset, "a record header cut short") }
            let length = Int(UInt32(littleEndian: rest.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
            let checksum = UInt32(littleEndian: rest.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            let end = JournalFormat.recordHeaderSize + length
            guard end <= rest.count else { return torn(offset, "a record cut short") }
            let payload = UnsafeRawBufferPointer(rebasing: rest[JournalFormat.recordHeaderSize..<end])
            guard length >= 4, CRC32C.checksum(payload) == checksum else {
                if end == rest.count || onlyZerosFollow() { return torn(offset, "a record with a bad checksum at the end") }
                throw .err(
                    "journal \(path) is corrupted at byte \(offset) (bad checksum) with records after it; refusing to start rather than lose them. Restore the file, or truncate it at byte \(offset) to keep what precedes"
                )
            }
            guard let (words, time) = decode(payload) else {
                throw .err("journal \(path) has a malformed record at byte \(offset) (its checksum is right: written by an incompatible build?)")
            }
            try apply(words, time, offset)
            outcome.records += 1
            offset += end
        }
        outcome.validLength = offset
        return outcome
    }

    private static func decode(_ payload: UnsafeRawBufferPointer) -> (words: [String], time: Int64?)? {
        var r = ByteReader(payload)
        guard let header = try? r.read(UInt32.self, "word count") else { return nil }
        let count = header & ~JournalFormat.timedFlag
        var time: Int64?
        if header & JournalFormat.timedFlag != 0 {
            guard let t = try? r.read(Int64.self, "commit time") else { return nil }
            time = t
        }
        guard Int(count) <= payload.count / 4 else { return nil }
        var words: [String] = []
        words.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let word = try? r.readString("word") else { return nil }
            words.append(word)
        }
        return r.isAtEnd ? (words, time) : nil
    }
}
