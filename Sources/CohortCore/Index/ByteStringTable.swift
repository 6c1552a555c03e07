/// Interning of byte strings to dense codes: an arena of bytes plus an open-addressing
/// hash table, looked up by raw bytes without building a `String`.
///
/// Layout: entry `code` is `bytes[starts[code] ..< starts[code + 1]]`; `slots` is a
/// power-of-two table of `code + 1` (0 = empty, `tombstone` = removed) probed linearly.
/// Invariants: codes are dense and never reused; a removed entry keeps its bytes (so
/// `string(for:)` still answers) but is no longer found by lookup; the table is at most
/// half full counting tombstones. Lookup: one hash over the bytes, then a few probes
/// each comparing lengths and bytes. Memory: the bytes, 8 bytes of offset per entry,
/// 8 to 16 bytes of slots per entry.
///
/// All three parts are `ChunkedArray`s: the user id table is written by every write
/// that creates a user while readers hold copies of it, and a write after a copy
/// duplicates one chunk of each part it touches, not the table (24 MB at 1M users).
/// Rehashing when the table fills is O(entries), amortised over the inserts since the
/// last one.
public struct ByteStringTable: Sendable {
    private var arena = ChunkedArray<UInt8>()
    private var offsets = ChunkedArray<UInt64>(repeating: 0, count: 1)
    private var table = ChunkedArray<UInt32>(repeating: 0, count: 16)
    private(set) var occupied = 0
    private static let tombstone = UInt32.max

    public init() {}

    /// Restores a table exactly as it was saved, hash slots included, so nothing is
    /// rehashed (a snapshot of 10M user ids loads without 10M hash probes). Nil unless the
    /// parts are consistent: `starts` begins at 0, never decreases and ends at `bytes.count`, a power-of-two slot
    /// table whose entries are empty, tombstones or codes below `count`, with at least one
    /// empty slot (so every probe ends) and `occupied` counting the non-empty ones.
    init?(bytes: ContiguousArray<UInt8>, starts: ContiguousArray<UInt64>, slots: ContiguousArray<UInt32>) {
        guard let first = starts.first, first == 0, starts.last == UInt64(bytes.count) else { return nil }
        for i in 1..<starts.count where starts[i] < starts[i - 1] { return nil }
        guard slots.count >= 16, slots.count & (slots.count - 1) == 0 else { return nil }
        let count = UInt32(starts.count - 1)
        var used = 0
        for slot in slots where slot != 0 {
            guard slot == Self.tombstone || slot - 1 < count else { return nil }
            used += 1
        }
        guard used < slots.count, used * 2 <= slots.count else { return nil }
        arena = ChunkedArray(bytes)
        offsets = ChunkedArray(starts)
        table = ChunkedArray(slots)
        occupied = used
    }

    /// The parts as contiguous arrays, as `init?(bytes:starts:slots:)` takes them: what
    /// a snapshot saves. O(bytes + entries): background work only.
    public func flattened() -> (bytes: ContiguousArray<UInt8>, starts: ContiguousArray<UInt64>, slots: ContiguousArray<UInt32>) {
        (arena.flattened(), offsets.flattened(), table.flattened())
    }

    /// Entries ever inserted, removed ones included.
    public var count: Int { offsets.count - 1 }

    public func code(of key: UnsafeRawBufferPointer) -> UInt32? {
        let mask = table.count - 1
        var i = Int(truncatingIfNeeded: Self.hash(key)) & mask
        while true {
            let slot = table[i]
            if slot == 0 { return nil }
            if slot != Self.tombstone, matches(Int(slot - 1), key) { return slot - 1 }
            i = (i + 1) & mask
        }
    }

    public func code(of string: String) -> UInt32? {
        var string = string
        return string.withUTF8 { code(of: UnsafeRawBufferPointer($0)) }
    }

    /// The code of `key`, inserting it when absent.
    public mutating func insert(_ key: UnsafeRawBufferPointer) -> (code: UInt32, inserted: Bool) {
        if (occupied + 1) * 2 > table.count { rehash(capacity: table.count * 2) }
        let mask = table.count - 1
        var i = Int(truncatingIfNeeded: Self.hash(key)) & mask
        var firstFree = -1
        while true {
            let slot = table[i]
            if slot == 0 { break }
            if slot == Self.tombstone {
                if firstFree < 0 { firstFree = i }
            } else if matches(Int(slot - 1), key) {
                return (slot - 1, false)
            }
            i = (i + 1) & mask
        }
        let code = UInt32(count)
        arena.append(contentsOf: key.assumingMemoryBound(to: UInt8.self))
        offsets.append(UInt64(arena.count))
        if firstFree >= 0 {
            table[firstFree] = code + 1
        } else {
            table[i] = code + 1
            occupied += 1
        }
        return (code, true)
    }

    public mutating func insert(_ string: String) -> (code: UInt32, inserted: Bool) {
        var string = string
        return string.withUTF8 { insert(UnsafeRawBufferPointer($0)) }
    }

    /// Makes room for `count` entries without rehashing.
    public mutating func reserveCapacity(_ count: Int) {
        var capacity = table.count
        while capacity < count * 2 { capacity *= 2 }
        if capacity > table.count { rehash(capacity: capacity) }
    }

    /// Makes `code` unfindable (its slot becomes a tombstone). The code is not reused.
    public mutating func remove(_ code: UInt32) {
        let mask = table.count - 1
        var i: Int = withBytes(code) { Int(truncatingIfNeeded: Self.hash($0)) } & mask
        while table[i] != 0 {
            if table[i] == code + 1 {
                table[i] = Self.tombstone
                return
            }
            i = (i + 1) & mask
        }
    }

    public func string(for code: UInt32) -> String {
        withBytes(code) { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with the bytes of entry `code` (contiguous; copied when they cross a
    /// chunk of the arena).
    public func withBytes<T>(_ code: UInt32, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        arena.withContiguous(Int(offsets[Int(code)])..<Int(offsets[Int(code) + 1])) { body(UnsafeRawBufferPointer($0)) }
    }

    public var memoryBytes: Int { arena.memoryBytes + offsets.memoryBytes + table.memoryBytes }

    /// Per part (bytes, offsets, hash slots), the chunks this table has and how many it
    /// shares with `other`: what a copy-on-write test checks.
    func chunks(sharedWith other: ByteStringTable) -> [(count: Int, shared: Int)] {
        [(arena.chunkCount, arena.sharedChunks(with: other.arena)), (offsets.chunkCount, offsets.sharedChunks(with: other.offsets)),
         (table.chunkCount, table.sharedChunks(with: other.table))]
    }

    @inline(__always)
    private func matches(_ code: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        let start = Int(offsets[code])
        let length = Int(offsets[code + 1]) - start
        guard length == key.count else { return false }
        if length == 0 { return true }
        return arena.withContiguous(start..<(start + length)) { memcmp($0.baseAddress!, key.baseAddress!, length) == 0 }
    }

    private mutating func rehash(capacity: Int) {
        var fresh = ChunkedArray<UInt32>(repeating: 0, count: capacity)
        let mask = capacity - 1
        var live = 0
        for k in 0..<table.count {
            let slot = table[k]
            guard slot != 0 && slot != Self.tombstone else { continue }
            var i: Int = withBytes(slot - 1) { Int(truncatingIfNeeded: Self.hash($0)) } & mask
            while fresh[i] != 0 { i = (i + 1) & mask }
            fresh[i] = slot
            live += 1
        }
        table = fresh
        occupied = live
    }

    /// A fast 64-bit hash of bytes: 8-byte words folded by multiply-xorshift, then the
    /// SplitMix64 finalizer so that the low bits (the table index) are well mixed.
    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(key.count)
        var i = 0
        let n = key.count
        while i + 8 <= n {
            h = (h ^ key.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(key[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* 0x9E37_79B9_7F4A_7C15
        }
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
