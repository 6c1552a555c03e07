import CohortCore
import NIOConcurrencyHelpers

/// Pub/sub and blocked `XREAD`s: who listens to which `segment:<name>` channel, pattern or
/// stream key, and the hand-off of the change feed's entries to them (FEATURES §1.3, §1.5.6).
///
/// The engine calls `publish` under its write lock with the entries of one commit; the
/// hub only groups them per connection and hands each group to that connection's event
/// loop (`Listener.deliver`), so a slow subscriber never slows a writer: its frames queue
/// on its own channel, where the output-buffer limits apply (`ConnectionHandler`).
///
/// Concurrency: `state` (a lock) guards every table; listener callbacks are called after
/// it is released.
final class FeedHub: Sendable {
    /// One connection's way in: both callbacks hop to its event loop.
    struct Listener: Sendable {
        /// Pub/sub messages: each notice with the pattern it matched (nil: the channel).
        let deliver: @Sendable ([(FeedNotice, pattern: String?)]) -> Void
        /// A stream key this connection waits on (`XREAD BLOCK`) got entries.
        let wake: @Sendable () -> Void
    }

    private struct State {
        var listeners: [Int: Listener] = [:]
        var channels: [String: Set<Int>] = [:]
        var patterns: [String: Set<Int>] = [:]
        var waiters: [String: Set<Int>] = [:]
    }

    private let state = NIOLockedValueBox(State())
    /// Connections closed for exceeding the pub/sub output-buffer limits.
    let slowDisconnects = NIOLockedValueBox(0)

    func register(_ id: Int, _ listener: Listener) { state.withLockedValue { $0.listeners[id] = listener } }

    /// Forgets the connection everywhere (it closed).
    func unregister(_ id: Int) {
        state.withLockedValue { s in
            s.listeners[id] = nil
            for key in Array(s.channels.keys) { Self.remove(id, key, from: &s.channels) }
            for key in Array(s.patterns.keys) { Self.remove(id, key, from: &s.patterns) }
            for key in Array(s.waiters.keys) { Self.remove(id, key, from: &s.waiters) }
        }
    }

    func subscribe(_ id: Int, channel: String) { state.withLockedValue { _ = $0.channels[channel, default: []].insert(id) } }
    func unsubscribe(_ id: Int, channel: String) { state.withLockedValue { Self.remove(id, channel, from: &$0.channels) } }
    func subscribe(_ id: Int, pattern: String) { state.withLockedValue { _ = $0.patterns[pattern, default: []].insert(id) } }
    func unsubscribe(_ id: Int, pattern: String) { state.withLockedValue { Self.remove(id, pattern, from: &$0.patterns) } }

    /// Waits on `keys` until `stopWaiting` (one wake per commit that touches them).
    func wait(_ id: Int, keys: [String]) { state.withLockedValue { s in for k in keys { s.waiters[k, default: []].insert(id) } } }
    func stopWaiting(_ id: Int, keys: [String]) { state.withLockedValue { s in for k in keys { Self.remove(id, k, from: &s.waiters) } } }

    private static func remove(_ id: Int, _ key: String, from table: inout [String: Set<Int>]) {
        guard table[key]?.remove(id) != nil else { return }
        if table[key]!.isEmpty { table[key] = nil }
    }

    /// `PUBSUB CHANNELS [pattern]`: channels with at least one subscriber.
    func channels(matching pattern: String?) -> [String] {
        state.withLockedValue { s in s.channels.keys.filter { pattern == nil || GlobPattern.matches(pattern!, $0) }.sorted() }
    }

    func subscriberCount(_ channel: String) -> Int { state.withLockedValue { $0.channels[channel]?.count ?? 0 } }
    /// Distinct patterns subscribed by anyone (`PUBSUB NUMPAT`).
    var patternCount: Int { state.withLockedValue { $0.patterns.count } }
    var channelCount: Int { state.withLockedValue { $0.channels.count } }

    /// Hands one commit's entries to their subscribers and wakes blocked readers.
    /// Called under the engine's write lock: O(entries × (1 + patterns)) here, the
    /// encoding and writing happen on each subscriber's event loop.
    func publish(_ notices: [FeedNotice]) {
        var deliveries: [Int: [(FeedNotice, pattern: String?)]] = [:]
        var woken = Set<Int>()
        let listeners: [Int: Listener] = state.withLockedValue { s in
            guard !s.channels.isEmpty || !s.patterns.isEmpty || !s.waiters.isEmpty else { return [:] }
            var matchedPatterns: [String: [String]] = [:]
            for notice in notices {
                let channel = notice.channel
                for id in s.channels[channel] ?? [] { deliveries[id, default: []].append((notice, nil)) }
                if !s.patterns.isEmpty {
                    let matched = matchedPatterns[channel] ?? s.patterns.keys.filter { GlobPattern.matches($0, channel) }.sorted()
                    matchedPatterns[channel] = matched
                    for pattern in matched { for id in s.patterns[pattern]! { deliveries[id, default: []].append((notice, pattern)) } }
                }
                woken.formUnion(s.waiters[channel] ?? [])
            }
            return s.listeners
        }
        for (id, items) in deliveries { listeners[id]?.deliver(items) }
        for id in woken { listeners[id]?.wake() }
    }
}
