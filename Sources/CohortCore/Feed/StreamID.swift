/// A stream entry ID, `<ms>-<seq>` as Redis writes them (FEATURES §1.4, §1.6).
///
/// Cohort derives IDs from the change: `ms = at × 1000` and `seq` counts the entries
/// appended to the stream before it with the same `at`, so IDs are strictly increasing
/// within a stream and identical on every replay. Ordered by `(ms, seq)`.
public struct StreamID: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var ms: UInt64
    public var seq: UInt64

    public init(ms: UInt64, seq: UInt64) {
        self.ms = ms
        self.seq = seq
    }

    public static let zero = StreamID(ms: 0, seq: 0)
    public static let max = StreamID(ms: .max, seq: .max)

    public var description: String { "\(ms)-\(seq)" }

    public static func < (a: StreamID, b: StreamID) -> Bool { (a.ms, a.seq) < (b.ms, b.seq) }

    /// Parses `ms-seq`, or `ms` alone with `seq = missingSeq` (Redis's incomplete IDs).
    public static func parse(_ text: String, missingSeq: UInt64) -> StreamID? {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let ms = UInt64(parts[0]) else { return nil }
        if parts.count == 1 { return StreamID(ms: ms, seq: missingSeq) }
        guard let seq = UInt64(parts[1]) else { return nil }
        return StreamID(ms: ms, seq: seq)
    }

    /// The next ID in order (nil past the last one).
    var successor: StreamID? {
        if seq < .max { return StreamID(ms: ms, seq: seq + 1) }
        return ms < .max ? StreamID(ms: ms + 1, seq: 0) : nil
    }

    /// The previous ID in order (nil before 0-0).
    var predecessor: StreamID? {
        if seq > 0 { return StreamID(ms: ms, seq: seq - 1) }
        return ms > 0 ? StreamID(ms: ms - 1, seq: .max) : nil
    }
}
