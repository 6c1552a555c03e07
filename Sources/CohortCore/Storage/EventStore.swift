import Dispatch

/// All event tables, one per declared event type, indexed by `EventDefinition.id`.
public struct EventStore: Sendable {
    public internal(set) var tables: [EventTable] = []

    public init() {}

    public var liveCount: Int { tables.reduce(0) { $0 + $1.liveCount } }
    public var needsCompaction: Bool { tables.contains { $0.needsCompaction } }
    public var memoryBytes: Int { tables.reduce(0) { $0 + $1.memoryBytes } }
    /// Heap bytes of the bases' indexes (part of `memoryBytes`): the recent copies, the
    /// timelines and the activity indexes.
    public var indexBytes: (recent: Int, timeline: Int, activity: Int) {
        tables.reduce((0, 0, 0)) {
            ($0.0 + ($1.recent?.memoryBytes ?? 0), $0.1 + ($1.timeline?.memoryBytes ?? 0), $0.2 + $1.activity.memoryBytes)
        }
    }

    /// Compacts the tables that need it, in parallel: tables are independent, and each
    /// worker mutates only its own element. `transient`: as `EventTable.compact`.
    mutating func compact(users: UserTable, workers: Int = .max, transient: Bool = false) {
        let dirty = tables.indices.filter { tables[$0].needsCompaction }
        guard !dirty.isEmpty else { return }
        tables.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let tables = buffer
            _ = parallelMap(dirty.count, workers: workers) { k in tables[dirty[k]].compact(live: users.live, rowCount: users.rowCount, transient: transient) }
        }
    }

    mutating func deleteEvents(of row: UInt32) {
        for i in tables.indices { tables[i].deleteEvents(of: row) }
    }
}

/// Event times are stored as `UInt32` Unix seconds.
public enum EventTime {
    public static let range: ClosedRange<Int64> = 0...Int64(UInt32.max)

    public static func stored(_ seconds: Int64) throws(CohortError) -> UInt32 {
        guard range.contains(seconds) else {
            throw .err("event time \(TimeFormat.format(seconds)) is out of range: events must fall between 1970-01-01 and 2106-02-07")
        }
        return UInt32(seconds)
    }
}
