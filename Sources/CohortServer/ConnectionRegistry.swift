import NIOConcurrencyHelpers
import NIOCore

/// What INFO's `# Clients` section counts besides the open connections.
struct ClientStatistics: Sendable {
    /// Connections closed past the reply output-buffer limit (`--client-output-buffer-limit`).
    var outputBufferDisconnects = 0
    /// Connections closed idle (`--timeout`).
    var timeoutDisconnects = 0
    /// Connections not read now, until the client reads its replies (a gauge).
    var pausedClients = 0
}

/// The open connections: counted against the client limit, told to close on shutdown,
/// and their statistics.
///
/// Thread-safe: a lock guards the table, another the statistics; callbacks are called
/// outside both.
final class ConnectionRegistry: Sendable {
    let statistics = NIOLockedValueBox(ClientStatistics())

    private struct Entry {
        let channel: Channel
        let onShutdown: @Sendable () -> Void
    }

    private let entries = NIOLockedValueBox<[Int: Entry]>([:])
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Adds a connection; false when the client limit is reached.
    func register(_ id: Int, channel: Channel, onShutdown: @escaping @Sendable () -> Void) -> Bool {
        entries.withLockedValue { table in
            guard table.count < limit else { return false }
            table[id] = Entry(channel: channel, onShutdown: onShutdown)
            return true
        }
    }

    func unregister(_ id: Int) { _ = entries.withLockedValue { $0.removeValue(forKey: id) } }

    var count: Int { entries.withLockedValue { $0.count } }

    /// Asks every connection to close once its batch in flight is answered; returns
    /// futures that complete when each has closed.
    func closeAll() -> [EventLoopFuture<Void>] {
        let all = entries.withLockedValue { Array($0.values) }
        for entry in all { entry.onShutdown() }
        return all.map { $0.channel.closeFuture }
    }
}
