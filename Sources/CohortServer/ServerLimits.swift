import NIOCore

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

/// One class of Redis's `client-output-buffer-limit HARD SOFT SECONDS`: a connection
/// whose unsent output passes `hardBytes`, or stays above `softBytes` for `softSeconds`,
/// is closed (counted in INFO). For replies (`normal`), `softBytes` is also where the
/// connection stops being read and its requests stop being run until the client reads
/// what it was sent: a client that pipelines without reading costs at most about the soft
/// limit plus one batch, and never a thread. For pushes (`pubsub`, FEATURES §1.3) the
/// limits apply to pub/sub messages only, counted in `pubsub_slow_disconnects`.
public struct OutputBufferLimit: Sendable, Equatable {
    public var hardBytes: Int
    public var softBytes: Int
    public var softSeconds: Double

    public init(hardBytes: Int, softBytes: Int, softSeconds: Double) {
        self.hardBytes = hardBytes
        self.softBytes = softBytes
        self.softSeconds = softSeconds
    }

    /// Replies: 256 MiB hard, 64 MiB soft for 60 s (Redis's replica class; Redis's own
    /// normal class is unlimited, which is how one client took 5 GB in issue 11).
    public static let normal = OutputBufferLimit(hardBytes: 256 << 20, softBytes: 64 << 20, softSeconds: 60)
    /// Pub/sub messages: Redis's defaults, 32 MiB hard, 8 MiB soft for 60 s.
    public static let pubsub = OutputBufferLimit(hardBytes: 32 << 20, softBytes: 8 << 20, softSeconds: 60)

    /// Whether output of `pending` unsent bytes, above the soft limit since `since`, must
    /// be closed at `now`.
    func isExceeded(_ pending: Int, overSoftSince since: NIODeadline?, now: NIODeadline) -> Bool {
        if pending > hardBytes { return true }
        guard pending > softBytes, let since else { return false }
        return now - since >= .nanoseconds(Int64(softSeconds * 1e9))
    }
}
