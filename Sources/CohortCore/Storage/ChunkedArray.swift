import CIntrinsics

/// An array stored as fixed chunks of 4,096 elements, each its own copy-on-write buffer.
///
/// What it is for: structures a write mutates while a reader may hold a copy (a scan
/// evaluating on its own copy of the database, a snapshot being written). Copying the
/// array shares every chunk; a later write duplicates only the chunk it touches
/// (32 KiB for 8-byte elements) and the small list of chunk references, never the
/// whole array. So a write's cost stays O(1) amortised whatever readers hold.
///
/// Cost: a read is two indexed loads; `append` is O(1) amortised; `flattened()` is
/// O(count) (for background work only).
struct ChunkedArray<Element: BitwiseCopyable & Sendable>: Sendable {
    static var chunkShift: Int { 12 }
    static var chunkSize: Int { 1 << chunkShift }
    private var chunks: [ContiguousArray<Element>] = []
    private(set) var count = 0

    init() {}

    /// The elements of `contiguous`, copied into chunks. O(count).
    init(_ contiguous: ContiguousArray<Element>) {
        chunks.reserveCapacity((contiguous.count + Self.chunkSize - 1) / Self.chunkSize)
        var start = 0
        while start < contiguous.count {
            let end = Swift.min(contiguous.count, start + Self.chunkSize)
            var chunk = ContiguousArray<Element>()
            chunk.reserveCapacity(Self.chunkSize)
            chunk.append(contentsOf: contiguous[start..<end])
            chunks.append(chunk)
            start = end
        }
        count = contiguous.count
    }

    /// `count` copies of `element`. O(count).
    init(repeating element: Element, count: Int) {
        var start = 0
        while start < count {
            chunks.append(ContiguousArray(repeating: element, count: Swift.min(Self.chunkSize, count - start)))
            start += Self.chunkSize
        }
        if !chunks.isEmpty { chunks[chunks.count - 1].reserveCapacity(Self.chunkSize) }
        self.count = count
    }

    var isEmpty: Bool { count == 0 }

    /// Appends every element of `elements`, in order.
    mutating func append(contentsOf elements: UnsafeBufferPointer<Element>) {
        for element in elements { append(element) }
    }

    /// Calls `body` with elements `range` as one contiguous buffer: in place when they
    /// lie in one chunk, else copied to a temporary one (a range across a chunk
    /// boundary: rare for short ranges).
    @inline(__always)
    func withContiguous<R>(_ range: Range<Int>, _ body: (UnsafeBufferPointer<Element>) -> R) -> R {
        if range.isEmpty { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        let c = range.lowerBound >> Self.chunkShift
        if (range.upperBound - 1) >> Self.chunkShift == c {
            let offset = range.lowerBound & (Self.chunkSize - 1)
            return chunks[c].withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[offset..<(offset + range.count)])) }
        }
        return withUnsafeTemporaryAllocation(of: Element.self, capacity: range.count) { copy in
            for (k, i) in range.enumerated() { copy[k] = self[i] }
            return body(UnsafeBufferPointer(copy))
        }
    }

    /// Appends `element` until the array holds `newCount` elements.
    mutating func grow(to newCount: Int, with element: Element) {
        while count < newCount { append(element) }
    }

    @inline(__always)
    subscript(i: Int) -> Element {
        get { chunks[i >> Self.chunkShift][i & (Self.chunkSize - 1)] }
        set { chunks[i >> Self.chunkShift][i & (Self.chunkSize - 1)] = newValue }
    }

    /// Starts loading element `i`'s cache line (a hint: no effect on the value). `i < count`.
    @inline(__always)
    func prefetch(_ i: Int) {
        chunks[i >> Self.chunkShift].withUnsafeBufferPointer { cohort_prefetch($0.baseAddress! + (i & (Self.chunkSize - 1))) }
    }

    mutating func append(_ element: Element) {
        if count & (Self.chunkSize - 1) == 0 {
            var chunk = ContiguousArray<Element>()
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(element)
        count += 1
    }

    /// Removes the last element. O(1).
    mutating func removeLast() {
        precondition(count > 0, "removeLast on an empty ChunkedArray")
        chunks[chunks.count - 1].removeLast()
        if chunks[chunks.count - 1].isEmpty { chunks.removeLast() }
        count -= 1
    }

    /// The elements as one contiguous array. O(count).
    func flattened() -> ContiguousArray<Element> {
        var result = ContiguousArray<Element>()
        result.reserveCapacity(count)
        for chunk in chunks { result.append(contentsOf: chunk) }
        return result
    }

    var memoryBytes: Int { chunks.count * Self.chunkSize * MemoryLayout<Element>.stride }

    /// How many chunks this array and `other` share (the same buffer, not equal
    /// contents): what a copy-on-write test checks.
    func sharedChunks(with other: ChunkedArray) -> Int {
        zip(chunks, other.chunks).reduce(0) { n, pair in
            let same = pair.0.withUnsafeBufferPointer { a in pair.1.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
            return n + (same ? 1 : 0)
        }
    }

    /// Chunks allocated.
    var chunkCount: Int { chunks.count }
}

/// A value per user row, stored in pages of 4,096 rows allocated on first write, each
/// its own copy-on-write buffer (see `ChunkedArray`): a write after a copy duplicates
/// one page. Rows never written read as `empty`. Memory: one page per 4,096-row range
/// that holds a non-empty value.
struct RowPages<Value: BitwiseCopyable & Sendable>: Sendable {
    static var pageShift: Int { 12 }
    static var pageSize: Int { 1 << pageShift }
    private var pages: [ContiguousArray<Value>?] = []
    let empty: Value
    private(set) var pageCount = 0

    init(empty: Value) { self.empty = empty }

    @inline(__always)
    subscript(row: UInt32) -> Value {
        get {
            let p = Int(row) >> Self.pageShift
            guard p < pages.count else { return empty }
            // Chained through the optional, not bound to a local: read in place, no
            // retain and release of the page per lookup.
            return pages[p]?[Int(row) & (Self.pageSize - 1)] ?? empty
        }
        set {
            let p = Int(row) >> Self.pageShift
            if p >= pages.count { pages.append(contentsOf: repeatElement(nil, count: p + 1 - pages.count)) }
            if pages[p] == nil {
                pages[p] = ContiguousArray(repeating: empty, count: Self.pageSize)
                pageCount += 1
            }
            pages[p]![Int(row) & (Self.pageSize - 1)] = newValue
        }
    }

    /// Starts loading `row`'s cache line, if its page exists (a hint: no effect on the value).
    @inline(__always)
    func prefetch(_ row: UInt32) {
        let p = Int(row) >> Self.pageShift
        guard p < pages.count else { return }
        pages[p]?.withUnsafeBufferPointer { cohort_prefetch($0.baseAddress! + (Int(row) & (Self.pageSize - 1))) }
    }

    var memoryBytes: Int { pageCount * Self.pageSize * MemoryLayout<Value>.stride + pages.count * 8 }
}
