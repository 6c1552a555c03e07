/// One change of one user's recorded membership in one watched segment (FEATURES §1.4).
///
/// Stored by value in a stream's `EntryLog` (16 bytes with the user's row, not its id:
/// rows are never reused and the id of a deleted row stays readable, `UserTable`).
struct FeedEntry: Sendable, BitwiseCopyable {
    /// The second the recorded membership changed.
    var at: Int64
    /// Entries of the stream appended before this one with the same `at`.
    var seq: UInt32
    var row: UInt32
    /// Absolute log index of the same user's previous entry in this stream, or `FeedEntry.none`.
    var previousOfUser: UInt32
    var change: Change
    var cause: Cause
    /// Removed by `USER.DEL` (as `XDEL` would): skipped by every read.
    var removed: Bool

    static let none = UInt32.max

    var id: StreamID { StreamID(ms: UInt64(at) * 1000, seq: UInt64(seq)) }
}

/// Whether the user entered or exited.
public enum Change: UInt8, Sendable, BitwiseCopyable {
    case entered, exited

    public var name: String { self == .entered ? "entered" : "exited" }
}

/// What made the engine evaluate (FEATURES §1.4): the trigger, not the reason.
public enum Cause: UInt8, Sendable, BitwiseCopyable, CaseIterable {
    case write, time, delete, define, watch, load

    public var name: String {
        switch self {
        case .write: "write"
        case .time: "time"
        case .delete: "delete"
        case .define: "define"
        case .watch: "watch"
        case .load: "load"
        }
    }
}
