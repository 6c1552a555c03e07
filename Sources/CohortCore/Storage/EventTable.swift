/// The events of one type, laid out for windowed per-user aggregation.
///
/// Layout (compressed sparse rows): the events of user row `u` are positions
/// `offsets[u] ..< offsets[u + 1]` of `times` and of every property column, sorted by
/// time, ties in arrival order. Rows at or past `offsets.count - 1` have no compacted
/// events. So a window over one user is two binary searches in a short contiguous
/// slice, and a chunk of users is a contiguous stretch of memory.
///
/// New events go to an arrival-ordered pending run (`pendingRows`, `pendingTimes`,
/// `pending`) and are merged in by `compact`, which readers call first (the engine
/// does it under its write lock). Cost per event: 4 bytes of time in the sorted part,
/// plus 4 bytes of offset per user row per event type; 8 bytes (row, time) while pending.
/// Times are `UInt32` Unix seconds (1970 to 2106).
public struct EventTable: Sendable {
    init() {}

    public private(set) var offsets: ContiguousArray<UInt32> = [0]
    public private(set) var times = ContiguousArray<UInt32>()
    public private(set) var properties = PropertyColumns()

    private(set) var pendingRows = ContiguousArray<UInt32>()
    private(set) var pendingTimes = ContiguousArray<UInt32>()
    private(set) var pending = PropertyColumns()

    /// Dictionaries of the string properties, indexed like `properties.strings`.
    public private(set) var dictionaries: [StringDictionary] = []
    /// Events of live users, compacted or pending.
    public private(set) var liveCount = 0
    /// True when deleted users' events still occupy the compacted part.
    private(set) var hasDeadEvents = false

    /// A compacted table from a snapshot; `properties` has the slots of the event's
    /// declared properties and `times.count` elements per column.
    init(offsets: ContiguousArray<UInt32>, times: ContiguousArray<UInt32>, properties: PropertyColumns, dictionaries: [StringDictionary]) {
        self.offsets = offsets
        self.times = times
        self.properties = properties
        self.dictionaries = dictionaries
        pending = properties.emptyCopy()
        liveCount = times.count
    }

    public var needsCompaction: Bool { !pendingRows.isEmpty || hasDeadEvents }
    /// Users covered by `offsets`.
    public var coveredRows: Int { offsets.count - 1 }

    mutating func addProperty(_ type: PropertyType) {
        properties.addProperty(type)
        pending.addProperty(type)
        if type == .string { dictionaries.append(StringDictionary()) }
    }

    func makeRawValues() -> RawPropertyValues { RawPropertyValues(shape: pending) }

    /// Converts a property value for storage (the caller has checked its type).
    mutating func encode(_ value: Value, property index: Int, into raw: inout RawPropertyValues) {
        switch (properties.slots[index], value) {
        case (.int(let i), .int(let v)): raw.ints[i] = v
        case (.float(let i), .float(let v)): raw.floats[i] = v
        case (.bool(let i), .bool(let v)): raw.bools[i] = v ? 1 : 0
        case (.string(let i), .string(let v)): raw.strings[i] = dictionaries[i].encode(v)
        case (.int(let i), .null): raw.ints[i] = NullSentinel.int
        case (.float(let i), .null): raw.floats[i] = NullSentinel.float
        case (.bool(let i), .null): raw.bools[i] = NullSentinel.bool
        case (.string(let i), .null): raw.strings[i] = NullSentinel.stringCode
        default: preconditionFailure("property value \(value) does not fit its column; callers check types first")
        }
    }

    /// The dictionary code of a string property value, adding it when new.
    mutating func encodeString(_ value: String, slot: Int) -> UInt32 { dictionaries[slot].encode(value) }
    mutating func encodeString(bytes: UnsafeRawBufferPointer, slot: Int) -> UInt32 { dictionaries[slot].encode(bytes: bytes) }

    /// Appends one event to the pending run. O(1) amortized.
    mutating func append(row: UInt32, time: UInt32, _ raw: RawPropertyValues) {
        pendingRows.append(row)
        pendingTimes.append(time)
        pending.append(raw)
        liveCount += 1
    }

    mutating func reservePending(_ n: Int) {
        pendingRows.reserveCapacity(pendingRows.count + n)
        pendingTimes.reserveCapacity(pendingTimes.count + n)
        pending.reserveCapacity(pending.count + n)
    }

    /// Forgets `row`'s events: they stop counting now and are purged by the next compaction.
    mutating func deleteEvents(of row: UInt32) {
        let compacted = range(of: row).count
        var pendingOfRow = 0
        for r in pendingRows where r == row { pendingOfRow += 1 }
        liveCount -= compacted + pendingOfRow
        if compacted > 0 { hasDeadEvents = true }
        if pendingOfRow > 0 {
            // Drop them from the pending run right away so a dead row never reaches `compact`'s merge.
            var keep = ContiguousArray<UInt32>()
            keep.reserveCapacity(pendingRows.count - pendingOfRow)
            for i in pendingRows.indices where pendingRows[i] != row { keep.append(UInt32(i)) }
            let empty = pending.emptyCopy()
            pendingTimes = gatherColumn(pendingTimes, [], keep)
            pendingRows = gatherColumn(pendingRows, [], keep)
            pending = PropertyColumns.gather(pending, empty, source: keep)
        }
    }

    /// The compacted positions of `row`'s events (empty when it has none).
    @inline(__always)
    public func range(of row: UInt32) -> Range<Int> {
        let r = Int(row)
        guard r + 1 < offsets.count else { return 0..<0 }
        return Int(offsets[r])..<Int(offsets[r + 1])
    }

    /// Merges the pending run into the sorted part and drops events of dead rows.
    ///
    /// Stable: among equal times, events keep arrival order (compacted ones arrived
    /// before pending ones; pending ones keep their order). O(events + rows) time,
    /// one extra copy of the columns in memory while it runs.
    mutating func compact(users: UserTable) {
        guard needsCompaction else { return }
        let rowCount = users.rowCount
        let baseCount = times.count

        // Pending events grouped by row, arrival order kept (counting sort).
        var pendingStart = ContiguousArray<UInt32>(repeating: 0, count: rowCount + 1)
        for r in pendingRows { pendingStart[Int(r) + 1] &+= 1 }
        for u in 0..<rowCount { pendingStart[u + 1] &+= pendingStart[u] }
        var byRow = ContiguousArray<UInt32>(repeating: 0, count: pendingRows.count)
        var fill = pendingStart
        for (i, r) in pendingRows.enumerated() {
            byRow[Int(fill[Int(r)])] = UInt32(i)
            fill[Int(r)] &+= 1
        }

        // The new order as indices into `times ++ pendingTimes`.
        var newOffsets = ContiguousArray<UInt32>(repeating: 0, count: rowCount + 1)
        var source = ContiguousArray<UInt32>()
        source.reserveCapacity(liveCount)
        var scratch: [UInt32] = []
        for u in 0..<rowCount {
            defer { newOffsets[u + 1] = UInt32(source.count) }
            guard users.isLive(UInt32(u)) else { continue }
            let base = range(of: UInt32(u))
            let p = Int(pendingStart[u])..<Int(pendingStart[u + 1])
            if p.isEmpty {
                for k in base { source.append(UInt32(k)) }
                continue
            }
            // Stable sort of this user's pending events by time (indices grow with arrival).
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: byRow[p])
            scratch.sort { (pendingTimes[Int($0)], $0) < (pendingTimes[Int($1)], $1) }
            var b = base.lowerBound
            var k = 0
            while b < base.upperBound || k < scratch.count {
                // On equal times the compacted event arrived first.
                if k == scratch.count || (b < base.upperBound && times[b] <= pendingTimes[Int(scratch[k])]) {
                    source.append(UInt32(b))
                    b += 1
                } else {
                    source.append(UInt32(baseCount) + scratch[k])
                    k += 1
                }
            }
        }

        times = gatherColumn(times, pendingTimes, source)
        properties = PropertyColumns.gather(properties, pending, source: source)
        offsets = newOffsets
        pendingRows = []
        pendingTimes = []
        pending = pending.emptyCopy()
        hasDeadEvents = false
        liveCount = times.count
    }

    /// Heap bytes of the time, offset and property columns.
    public var memoryBytes: Int {
        offsets.capacity * 4 + times.capacity * 4 + properties.memoryBytes + pendingRows.capacity * 4 + pendingTimes.capacity * 4
            + pending.memoryBytes
    }

    /// Heap bytes of the (user, time) part alone: offsets, times, pending rows and times.
    public var userTimeBytes: Int { offsets.count * 4 + times.count * 4 + pendingRows.count * 8 }
}
