/// A compressed set of `UInt32` (user rows, event positions), backed by a CRoaring bitmap.
///
/// Value semantics with copy-on-write: copying a `Bitmap` costs one reference-count
/// increment; the first mutation of a shared copy clones the CRoaring bitmap (O(size)).
/// The CRoaring handle is freed exactly once, when the last copy goes away.
///
/// Concurrency: a `Bitmap` may be read from many threads at once (CRoaring's read
/// functions do not mutate); mutation needs exclusive access like any Swift value.
public struct Bitmap: @unchecked Sendable {
    /// Owns one CRoaring handle. Never shared mutably: `Bitmap` clones before writing
    /// whenever the box is not uniquely referenced.
    final class Box {
        let handle: Roaring.Handle
        init(_ handle: Roaring.Handle) { self.handle = handle }
        deinit { Roaring.free(handle) }
    }

    private var box: Box

    var handle: Roaring.Handle { box.handle }

    private var mutableHandle: Roaring.Handle {
        mutating get {
            if !isKnownUniquelyReferenced(&box) { box = Box(Roaring.copy(box.handle)) }
            return box.handle
        }
    }

    private init(owning handle: Roaring.Handle) { box = Box(handle) }

    /// The empty set.
    public init() { self.init(owning: Roaring.create()) }

    /// Every value in `range`.
    public init(range: Range<UInt32>) {
        self.init()
        Roaring.addRange(box.handle, UInt64(range.lowerBound)..<UInt64(range.upperBound))
    }

    /// The given values, in any order, duplicates allowed.
    public init<S: Sequence>(_ values: S) where S.Element == UInt32 {
        self.init()
        let array = ContiguousArray(values)
        array.withUnsafeBufferPointer { Roaring.addMany(box.handle, $0) }
    }

    /// Adds values in bulk; fastest when they are sorted.
    public mutating func add(contentsOf values: UnsafeBufferPointer<UInt32>) {
        Roaring.addMany(mutableHandle, values)
    }

    // MARK: Elements

    public var count: Int { Int(Roaring.cardinality(handle)) }
    public var isEmpty: Bool { Roaring.isEmpty(handle) }
    public var min: UInt32? { isEmpty ? nil : Roaring.minimum(handle) }
    public var max: UInt32? { isEmpty ? nil : Roaring.maximum(handle) }

    public func contains(_ value: UInt32) -> Bool { Roaring.contains(handle, value) }
    public mutating func insert(_ value: UInt32) { Roaring.add(mutableHandle, value) }
    public mutating func remove(_ value: UInt32) { Roaring.remove(mutableHandle, value) }
    public mutating func insert(range: Range<UInt32>) {
        Roaring.addRange(mutableHandle, UInt64(range.lowerBound)..<UInt64(range.upperBound))
    }
    public mutating func remove(range: Range<UInt32>) {
        Roaring.removeRange(mutableHandle, UInt64(range.lowerBound)..<UInt64(range.upperBound))
    }
    public mutating func removeAll() { self = Bitmap() }
    /// How many values fall in `range`.
    public func count(in range: Range<UInt32>) -> Int {
        Int(Roaring.rangeCardinality(handle, UInt64(range.lowerBound)..<UInt64(range.upperBound)))
    }

    // MARK: Set algebra

    public func intersection(_ other: Bitmap) -> Bitmap { Bitmap(owning: Roaring.and(handle, other.handle)) }
    public func union(_ other: Bitmap) -> Bitmap { Bitmap(owning: Roaring.or(handle, other.handle)) }
    /// The union of `bitmaps`, in one pass: cheaper than folding `union` over many.
    public static func union(of bitmaps: [Bitmap]) -> Bitmap {
        if bitmaps.isEmpty { return Bitmap() }
        return withExtendedLifetime(bitmaps) { Bitmap(owning: Roaring.orMany(bitmaps.map(\.handle))) }
    }
    public func subtracting(_ other: Bitmap) -> Bitmap { Bitmap(owning: Roaring.andNot(handle, other.handle)) }
    public func symmetricDifference(_ other: Bitmap) -> Bitmap { Bitmap(owning: Roaring.xor(handle, other.handle)) }

    public mutating func formIntersection(_ other: Bitmap) { Roaring.andInPlace(mutableHandle, other.handle) }
    public mutating func formUnion(_ other: Bitmap) { Roaring.orInPlace(mutableHandle, other.handle) }
    public mutating func subtract(_ other: Bitmap) { Roaring.andNotInPlace(mutableHandle, other.handle) }
    public mutating func formSymmetricDifference(_ other: Bitmap) { Roaring.xorInPlace(mutableHandle, other.handle) }

    /// The values of `universe` that are not in `self`.
    public func complement(in universe: Bitmap) -> Bitmap { universe.subtracting(self) }

    /// `self ∩ other` counted without materialising it.
    public func intersectionCount(_ other: Bitmap) -> Int { Int(Roaring.andCardinality(handle, other.handle)) }
    public func intersects(_ other: Bitmap) -> Bool { Roaring.intersects(handle, other.handle) }

    /// Converts dense stretches to run containers; call once a bitmap stops changing.
    public mutating func optimize() {
        Roaring.runOptimize(mutableHandle)
        _ = Roaring.shrinkToFit(mutableHandle)
    }

    /// Bytes of heap the bitmap holds.
    public var memoryBytes: Int { Roaring.sizeInBytes(handle) }

    // MARK: Export

    /// All values in increasing order.
    public func toArray() -> ContiguousArray<UInt32> {
        ContiguousArray(filling: count) { Roaring.copyOut(handle, into: $0) }
    }

    /// Up to `limit` values that are `>= start`, in increasing order.
    public func values(from start: UInt32, limit: Int) -> ContiguousArray<UInt32> {
        var result = ContiguousArray<UInt32>()
        guard limit > 0 else { return result }
        var cursor = Roaring.makeCursor(handle)
        guard cursor.has_value, Roaring.seek(&cursor, to: start) else { return result }
        result.reserveCapacity(Swift.min(limit, 4096))
        while cursor.has_value, result.count < limit {
            result.append(cursor.current_value)
            _ = Roaring.advance(&cursor)
        }
        return result
    }

    // MARK: Serialization

    /// Bytes `serialize(into:)` writes: CRoaring's portable format.
    public var serializedSize: Int { Roaring.portableSize(handle) }

    /// Appends the portable serialization to `bytes`.
    public func serialize(into bytes: inout [UInt8]) {
        let size = serializedSize
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: size))
        bytes.withUnsafeMutableBytes { raw in
            let written = Roaring.portableSerialize(handle, into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]))
            precondition(written == size, "CRoaring wrote \(written) bytes, announced \(size)")
        }
    }

    /// Reads one bitmap from the front of `bytes`, returning it and the bytes consumed;
    /// nil when the bytes are not a portable bitmap that fits.
    ///
    /// Only pass bytes covered by a verified checksum (CRoaring 0.2.66 cannot validate
    /// container contents).
    public static func deserialize(_ bytes: UnsafeRawBufferPointer) -> (Bitmap, Int)? {
        guard let (handle, size) = Roaring.portableDeserialize(bytes) else { return nil }
        return (Bitmap(owning: handle), size)
    }
}

extension Bitmap: Equatable {
    public static func == (lhs: Bitmap, rhs: Bitmap) -> Bool {
        lhs.box === rhs.box || Roaring.equals(lhs.handle, rhs.handle)
    }
}

extension Bitmap: Sequence {
    /// Iterates in increasing order; the iterator keeps the bitmap alive.
    public struct Iterator: IteratorProtocol {
        private let box: Box
        private var cursor: Roaring.Cursor
        private var started = false

        init(_ box: Box) {
            self.box = box
            cursor = Roaring.makeCursor(box.handle)
        }

        public mutating func next() -> UInt32? {
            if started { _ = Roaring.advance(&cursor) } else { started = true }
            return cursor.has_value ? cursor.current_value : nil
        }
    }

    public func makeIterator() -> Iterator { Iterator(box) }
    public var underestimatedCount: Int { count }
}

extension Bitmap: CustomStringConvertible {
    public var description: String {
        let shown = values(from: 0, limit: 16).map(String.init).joined(separator: ", ")
        return "Bitmap(\(count): [\(shown)\(count > 16 ? ", …" : "")])"
    }
}
