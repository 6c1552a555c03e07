/// Protocol limits (DESIGN §4). Past one, the server replies `-ERR Protocol error: ...`
/// and closes that connection only. Lengths are checked on the header, before anything
/// is buffered.
public struct ServerLimits: Sendable {
    /// Longest inline command line, in bytes (Redis's `PROTO_INLINE_MAX_SIZE`).
    public var inlineLine = 64 * 1024
    /// Longest bulk string, in bytes.
    public var bulkLength = 16 * 1024 * 1024
    /// Most elements in one RESP array.
    public var arrayLength = 1_048_576
    /// Most simultaneous connections.
    public var clients = 10_000

    public init() {}
}

/// Redis's `client-output-buffer-limit pubsub HARD SOFT SECONDS` (FEATURES §1.3): a
/// connection with subscriptions whose unsent pushes pass `hardBytes`, or stay above
/// `softBytes` for `softSeconds`, is closed and counted in INFO's `pubsub_slow_disconnects`.
public struct PubSubLimits: Sendable {
    public var hardBytes = 32 * 1024 * 1024
    public var softBytes = 8 * 1024 * 1024
    public var softSeconds = 60.0

    public init() {}
}
