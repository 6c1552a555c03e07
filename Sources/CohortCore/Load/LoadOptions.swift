/// How a bulk load behaves on bad rows and how it reports progress.
public struct LoadOptions: Sendable {
    /// With a file, bad rows are written there (`RejectsFile`'s format) and the load goes
    /// on (`--skip-bad-rows FILE`); without, the first bad row fails the load.
    public var rejects: RejectsFile?
    /// Called every `progressInterval` rows and once at the end.
    public var progress: (@Sendable (LoadProgress) -> Void)?
    public var progressInterval = 1_000_000

    public init(rejects: RejectsFile? = nil, progress: (@Sendable (LoadProgress) -> Void)? = nil) {
        self.rejects = rejects
        self.progress = progress
    }
}

/// A progress report of a running load.
public struct LoadProgress: Sendable {
    public let file: String
    public let rows: Int
    public let bytesRead: Int
    public let totalBytes: Int
    public let seconds: Double
    public var rowsPerSecond: Double { seconds > 0 ? Double(rows) / seconds : 0 }
}

/// What a finished load did.
public struct LoadReport: Sendable, Equatable {
    public let file: String
    public let rows: Int
    public let rejected: Int
    /// The reasons of the first rejected rows (at most 10), `line N: reason`.
    public let firstRejections: [String]
    public let seconds: Double
}
