/// A stream's entries in append order, addressed by absolute index (never reused), in
/// chunks of 4,096 that are released from the front once retention has passed them.
///
/// Each chunk is its own copy-on-write buffer, so a snapshot holding a copy costs a later
/// append one chunk copy at most (64 KiB), never the log. Cost: read and append O(1);
/// `release` O(chunks).
struct EntryLog: Sendable {
    private static var shift: Int { 12 }
    private static var size: Int { 1 << shift }
    private var chunks: [ContiguousArray<FeedEntry>] = []
    /// Absolute index of `chunks[0][0]`: entries before it are gone.
    private(set) var released = 0
    /// One past the absolute index of the last entry.
    private(set) var end = 0

    init() {}

    subscript(i: Int) -> FeedEntry {
        get {
            let k = i - released
            return chunks[k >> Self.shift][k & (Self.size - 1)]
        }
        set {
            let k = i - released
            chunks[k >> Self.shift][k & (Self.size - 1)] = newValue
        }
    }

    mutating func append(_ entry: FeedEntry) {
        if (end - released) & (Self.size - 1) == 0 {
            var chunk = ContiguousArray<FeedEntry>()
            chunk.reserveCapacity(Self.size)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(entry)
        end += 1
    }

    /// Frees the whole chunks below absolute index `index`.
    mutating func release(before index: Int) {
        let whole = (index - released) >> Self.shift
        guard whole > 0 else { return }
        chunks.removeFirst(whole)
        released += whole << Self.shift
    }

    var memoryBytes: Int { chunks.count * Self.size * MemoryLayout<FeedEntry>.stride }
}
