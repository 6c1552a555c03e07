import CRoaring

/// The one place that calls CRoaring.
///
/// Every `roaring_*` call in the engine goes through these thin functions so that
/// ownership rules (who frees what) and failure modes (NULL from an allocation or a
/// malformed serialized bitmap) are handled once. `Bitmap` is the only client.
enum Roaring {
    typealias Handle = UnsafeMutablePointer<roaring_bitmap_t>

    static func create() -> Handle {
        guard let handle = roaring_bitmap_create() else { outOfMemory() }
        return handle
    }

    static func copy(_ handle: Handle) -> Handle {
        guard let copy = roaring_bitmap_copy(handle) else { outOfMemory() }
        return copy
    }

    static func free(_ handle: Handle) { roaring_bitmap_free(handle) }

    static func add(_ handle: Handle, _ value: UInt32) { roaring_bitmap_add(handle, value) }
    static func addMany(_ handle: Handle, _ values: UnsafeBufferPointer<UInt32>) {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        roaring_bitmap_add_many(handle, values.count, base)
    }
    /// Adds `range.lowerBound ..< range.upperBound`.
    static func addRange(_ handle: Handle, _ range: Range<UInt64>) {
        guard !range.isEmpty else { return }
        roaring_bitmap_add_range_closed(handle, UInt32(range.lowerBound), UInt32(range.upperBound - 1))
    }
    static func removeRange(_ handle: Handle, _ range: Range<UInt64>) {
        guard !range.isEmpty else { return }
        roaring_bitmap_remove_range_closed(handle, UInt32(range.lowerBound), UInt32(range.upperBound - 1))
    }
    static func remove(_ handle: Handle, _ value: UInt32) { roaring_bitmap_remove(handle, value) }
    static func contains(_ handle: Handle, _ value: UInt32) -> Bool { roaring_bitmap_contains(handle, value) }
    static func cardinality(_ handle: Handle) -> UInt64 { roaring_bitmap_get_cardinality(handle) }
    static func rangeCardinality(_ handle: Handle, _ range: Range<UInt64>) -> UInt64 {
        roaring_bitmap_range_cardinality(handle, range.lowerBound, range.upperBound)
    }
    static func isEmpty(_ handle: Handle) -> Bool { roaring_bitmap_is_empty(handle) }
    static func equals(_ a: Handle, _ b: Handle) -> Bool { roaring_bitmap_equals(a, b) }
    static func minimum(_ handle: Handle) -> UInt32 { roaring_bitmap_minimum(handle) }
    static func maximum(_ handle: Handle) -> UInt32 { roaring_bitmap_maximum(handle) }

    static func and(_ a: Handle, _ b: Handle) -> Handle {
        guard let result = roaring_bitmap_and(a, b) else { outOfMemory() }
        return result
    }
    static func or(_ a: Handle, _ b: Handle) -> Handle {
        guard let result = roaring_bitmap_or(a, b) else { outOfMemory() }
        return result
    }
    /// The union of `handles` in one pass (CRoaring's lazy unions, one repair at the end).
    static func orMany(_ handles: [Handle]) -> Handle {
        var pointers: [UnsafePointer<roaring_bitmap_t>?] = handles.map { UnsafePointer($0) }
        guard let result = pointers.withUnsafeMutableBufferPointer({ roaring_bitmap_or_many($0.count, $0.baseAddress) }) else { outOfMemory() }
        return result
    }
    static func andNot(_ a: Handle, _ b: Handle) -> Handle {
        guard let result = roaring_bitmap_andnot(a, b) else { outOfMemory() }
        return result
    }
    static func xor(_ a: Handle, _ b: Handle) -> Handle {
        guard let result = roaring_bitmap_xor(a, b) else { outOfMemory() }
        return result
    }
    static func andInPlace(_ a: Handle, _ b: Handle) { roaring_bitmap_and_inplace(a, b) }
    static func orInPlace(_ a: Handle, _ b: Handle) { roaring_bitmap_or_inplace(a, b) }
    static func andNotInPlace(_ a: Handle, _ b: Handle) { roaring_bitmap_andnot_inplace(a, b) }
    static func xorInPlace(_ a: Handle, _ b: Handle) { roaring_bitmap_xor_inplace(a, b) }
    static func andCardinality(_ a: Handle, _ b: Handle) -> UInt64 { roaring_bitmap_and_cardinality(a, b) }
    static func intersects(_ a: Handle, _ b: Handle) -> Bool { roaring_bitmap_intersect(a, b) }
    static func flipInPlace(_ handle: Handle, _ range: Range<UInt64>) {
        roaring_bitmap_flip_inplace(handle, range.lowerBound, range.upperBound)
    }
    static func runOptimize(_ handle: Handle) { _ = roaring_bitmap_run_optimize(handle) }
    static func shrinkToFit(_ handle: Handle) -> Int { roaring_bitmap_shrink_to_fit(handle) }
    static func sizeInBytes(_ handle: Handle) -> Int { roaring_bitmap_size_in_bytes(handle) }

    static func copyOut(_ handle: Handle, into buffer: UnsafeMutableBufferPointer<UInt32>) {
        guard let base = buffer.baseAddress else { return }
        roaring_bitmap_to_uint32_array(handle, base)
    }

    // MARK: Iteration

    typealias Cursor = roaring_uint32_iterator_t

    static func makeCursor(_ handle: Handle) -> Cursor {
        var cursor = roaring_uint32_iterator_t()
        roaring_init_iterator(handle, &cursor)
        return cursor
    }
    static func advance(_ cursor: inout Cursor) -> Bool { roaring_advance_uint32_iterator(&cursor) }
    static func seek(_ cursor: inout Cursor, to value: UInt32) -> Bool {
        roaring_move_uint32_iterator_equalorlarger(&cursor, value)
    }
    static func read(_ cursor: inout Cursor, into buffer: UnsafeMutableBufferPointer<UInt32>) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        return Int(roaring_read_uint32_iterator(&cursor, base, UInt32(buffer.count)))
    }

    // MARK: Serialization (the portable format, readable by every Roaring implementation)

    static func portableSize(_ handle: Handle) -> Int { roaring_bitmap_portable_size_in_bytes(handle) }
    static func portableSerialize(_ handle: Handle, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        return roaring_bitmap_portable_serialize(handle, base.assumingMemoryBound(to: CChar.self))
    }
    /// Deserializes a portable bitmap of at most `buffer.count` bytes.
    ///
    /// CRoaring 0.2.66 checks bounds here but does not validate container contents,
    /// so callers pass only bytes whose checksum they have already verified.
    static func portableDeserialize(_ buffer: UnsafeRawBufferPointer) -> (Handle, Int)? {
        guard let base = buffer.baseAddress else { return nil }
        let chars = base.assumingMemoryBound(to: CChar.self)
        let size = roaring_bitmap_portable_deserialize_size(chars, buffer.count)
        guard size > 0, size <= buffer.count, let handle = roaring_bitmap_portable_deserialize_safe(chars, buffer.count)
        else { return nil }
        return (handle, size)
    }

    private static func outOfMemory() -> Never {
        // Allocation failure inside CRoaring: nothing sensible can continue.
        preconditionFailure("CRoaring: out of memory")
    }
}
