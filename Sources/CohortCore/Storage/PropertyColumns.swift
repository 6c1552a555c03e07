/// The property values of a run of events, one typed column per declared property.
///
/// Invariants: every column has exactly `count` elements; nulls are in-band sentinels
/// (`NullSentinel`): `Int64.min`, NaN, `2` for bools, `UInt32.max` for string codes.
/// String values are codes of the owning `EventTable`'s dictionaries. Properties are
/// stored at their natural width: 8 bytes for int and float, 4 for a string code, 1 for
/// a bool.
public struct PropertyColumns: Sendable {
    /// Where property number `i` of the event definition lives.
    public enum Slot: Hashable, Sendable {
        case int(Int)
        case float(Int)
        case bool(Int)
        case string(Int)
    }

    public private(set) var slots: [Slot] = []
    public internal(set) var ints: [ContiguousArray<Int64>] = []
    public internal(set) var floats: [ContiguousArray<Double>] = []
    public internal(set) var bools: [ContiguousArray<UInt8>] = []
    public internal(set) var strings: [ContiguousArray<UInt32>] = []
    public private(set) var count = 0

    init() {}

    /// Columns with the slots of `shape` holding the given arrays (each `count` long).
    init(
        shape: PropertyColumns, ints: [ContiguousArray<Int64>], floats: [ContiguousArray<Double>], bools: [ContiguousArray<UInt8>],
        strings: [ContiguousArray<UInt32>], count: Int
    ) {
        slots = shape.slots
        self.ints = ints
        self.floats = floats
        self.bools = bools
        self.strings = strings
        self.count = count
    }

    /// Adds a column for a newly declared property, null for the events already held.
    mutating func addProperty(_ type: PropertyType) {
        switch type {
        case .int:
            slots.append(.int(ints.count))
            ints.append(ContiguousArray(repeating: NullSentinel.int, count: count))
        case .float:
            slots.append(.float(floats.count))
            floats.append(ContiguousArray(repeating: NullSentinel.float, count: count))
        case .bool:
            slots.append(.bool(bools.count))
            bools.append(ContiguousArray(repeating: NullSentinel.bool, count: count))
        case .string:
            slots.append(.string(strings.count))
            strings.append(ContiguousArray(repeating: NullSentinel.stringCode, count: count))
        }
    }

    /// Appends one event's values, given in slot order as raw column values
    /// (sentinels for null, dictionary codes for strings).
    mutating func append(_ raw: RawPropertyValues) {
        for i in ints.indices { ints[i].append(raw.ints[i]) }
        for i in floats.indices { floats[i].append(raw.floats[i]) }
        for i in bools.indices { bools[i].append(raw.bools[i]) }
        for i in strings.indices { strings[i].append(raw.strings[i]) }
        count += 1
    }

    mutating func reserveCapacity(_ n: Int) {
        for i in ints.indices { ints[i].reserveCapacity(n) }
        for i in floats.indices { floats[i].reserveCapacity(n) }
        for i in bools.indices { bools[i].reserveCapacity(n) }
        for i in strings.indices { strings[i].reserveCapacity(n) }
    }

    /// The columns rearranged: element `k` of the result is element `source[k]` of the
    /// concatenation `first ++ second`. Both inputs have the same slots.
    static func gather(_ first: PropertyColumns, _ second: PropertyColumns, source: ContiguousArray<UInt32>, hugePages: Bool = true) -> PropertyColumns {
        var result = PropertyColumns()
        result.slots = first.slots
        result.count = source.count
        result.ints = zip(first.ints, second.ints).map { gatherColumn($0, $1, source, hugePages: hugePages) }
        result.floats = zip(first.floats, second.floats).map { gatherColumn($0, $1, source, hugePages: hugePages) }
        result.bools = zip(first.bools, second.bools).map { gatherColumn($0, $1, source, hugePages: hugePages) }
        result.strings = zip(first.strings, second.strings).map { gatherColumn($0, $1, source, hugePages: hugePages) }
        return result
    }

    /// An empty set of columns with the same slots.
    func emptyCopy() -> PropertyColumns {
        var copy = PropertyColumns()
        copy.slots = slots
        copy.ints = ints.map { _ in [] }
        copy.floats = floats.map { _ in [] }
        copy.bools = bools.map { _ in [] }
        copy.strings = strings.map { _ in [] }
        return copy
    }

    var memoryBytes: Int {
        ints.reduce(0) { $0 + $1.capacity * 8 } + floats.reduce(0) { $0 + $1.capacity * 8 }
            + bools.reduce(0) { $0 + $1.capacity } + strings.reduce(0) { $0 + $1.capacity * 4 }
    }
}

/// The property columns of an event table's delta: `PropertyColumns`' slots, each column
/// a `ChunkedArray`, so a write after a copy duplicates one chunk per column.
struct DeltaColumns: Sendable {
    var ints: [ChunkedArray<Int64>] = []
    var floats: [ChunkedArray<Double>] = []
    var bools: [ChunkedArray<UInt8>] = []
    var strings: [ChunkedArray<UInt32>] = []

    init() {}

    /// Empty columns with the slots of `shape`.
    init(shape: PropertyColumns) {
        ints = shape.ints.map { _ in ChunkedArray() }
        floats = shape.floats.map { _ in ChunkedArray() }
        bools = shape.bools.map { _ in ChunkedArray() }
        strings = shape.strings.map { _ in ChunkedArray() }
    }

    /// A column for a newly declared property, null for the `count` events already held.
    mutating func addProperty(_ type: PropertyType, count: Int) {
        func nulls<T>(_ value: T) -> ChunkedArray<T> {
            var column = ChunkedArray<T>()
            for _ in 0..<count { column.append(value) }
            return column
        }
        switch type {
        case .int: ints.append(nulls(NullSentinel.int))
        case .float: floats.append(nulls(NullSentinel.float))
        case .bool: bools.append(nulls(NullSentinel.bool))
        case .string: strings.append(nulls(NullSentinel.stringCode))
        }
    }

    mutating func append(_ raw: RawPropertyValues) {
        for i in ints.indices { ints[i].append(raw.ints[i]) }
        for i in floats.indices { floats[i].append(raw.floats[i]) }
        for i in bools.indices { bools[i].append(raw.bools[i]) }
        for i in strings.indices { strings[i].append(raw.strings[i]) }
    }

    /// Event `i`'s values as raw column values (what `append` takes).
    func raw(at i: Int) -> RawPropertyValues {
        var raw = RawPropertyValues()
        raw.ints = ints.map { $0[i] }
        raw.floats = floats.map { $0[i] }
        raw.bools = bools.map { $0[i] }
        raw.strings = strings.map { $0[i] }
        return raw
    }

    /// The `count` events' columns as contiguous `PropertyColumns` with `shape`'s slots.
    /// O(events).
    func flattened(shape: PropertyColumns, count: Int) -> PropertyColumns {
        PropertyColumns(
            shape: shape, ints: ints.map { $0.flattened() }, floats: floats.map { $0.flattened() }, bools: bools.map { $0.flattened() },
            strings: strings.map { $0.flattened() }, count: count)
    }

    var memoryBytes: Int {
        ints.reduce(0) { $0 + $1.memoryBytes } + floats.reduce(0) { $0 + $1.memoryBytes } + bools.reduce(0) { $0 + $1.memoryBytes }
            + strings.reduce(0) { $0 + $1.memoryBytes }
    }
}

/// One event's property values in column form, reused across appends to avoid
/// allocating per event.
struct RawPropertyValues {
    var ints: [Int64] = []
    var floats: [Double] = []
    var bools: [UInt8] = []
    var strings: [UInt32] = []

    init() {}

    init(shape: PropertyColumns) {
        reset(shape: shape)
    }

    /// Sets every value to null, sized for `shape`.
    mutating func reset(shape: PropertyColumns) {
        ints = Array(repeating: NullSentinel.int, count: shape.ints.count)
        floats = Array(repeating: NullSentinel.float, count: shape.floats.count)
        bools = Array(repeating: NullSentinel.bool, count: shape.bools.count)
        strings = Array(repeating: NullSentinel.stringCode, count: shape.strings.count)
    }

    mutating func clear() {
        for i in ints.indices { ints[i] = NullSentinel.int }
        for i in floats.indices { floats[i] = NullSentinel.float }
        for i in bools.indices { bools[i] = NullSentinel.bool }
        for i in strings.indices { strings[i] = NullSentinel.stringCode }
    }
}

/// `result[k] = (first ++ second)[source[k]]`, over raw buffers (no bounds checks in
/// the loop; `source` entries are valid by construction in `EventTable.compact`).
/// `hugePages`: back a large result with huge pages (`HugePages`); not for a short-lived one.
func gatherColumn<T: BitwiseCopyable>(
    _ first: ContiguousArray<T>, _ second: ContiguousArray<T>, _ source: ContiguousArray<UInt32>, hugePages: Bool = true
) -> ContiguousArray<T> {
    let split = first.count
    return ContiguousArray(filling: source.count) { out in
        if hugePages { HugePages.advise(UnsafeMutableRawPointer(out.baseAddress), byteCount: source.count * MemoryLayout<T>.stride) }
        first.withUnsafeBufferPointer { a in
            second.withUnsafeBufferPointer { b in
                source.withUnsafeBufferPointer { src in
                    for k in 0..<src.count {
                        let s = Int(src[k])
                        (out.baseAddress! + k).initialize(to: s < split ? a[s] : b[s - split])
                    }
                }
            }
        }
    }
}
