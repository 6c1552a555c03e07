/// Appends little-endian fixed-width values, length-prefixed strings and raw arrays to a
/// byte buffer: the encoding inside snapshot sections and journal records.
///
/// Every variable-length item is preceded by its count (UInt64 for arrays, UInt32 for
/// strings), so a reader can check a length against what is left before copying.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ string: String) {
        append(UInt32(string.utf8.count))
        bytes.append(contentsOf: string.utf8)
    }

    /// A count, then the elements' bytes as they are in memory (little-endian hosts only:
    /// the snapshot header records this).
    mutating func append<T: BitwiseCopyable>(array: ContiguousArray<T>) {
        append(UInt64(array.count))
        array.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    mutating func append(bitmap: Bitmap) {
        append(UInt64(bitmap.serializedSize))
        bitmap.serialize(into: &bytes)
    }

    mutating func append(table: ByteStringTable) {
        let parts = table.flattened()
        append(array: parts.bytes)
        append(array: parts.starts)
        append(array: parts.slots)
    }

    mutating func append(raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }
}

/// Reads what `ByteWriter` wrote, checking every length against the bytes that are left.
///
/// Every failure throws `ByteReader.Malformed` with what was being read; the
/// caller turns it into an error naming the file and section. Never traps on bad input.
struct ByteReader {
    struct Malformed: Error {
        let what: String
    }

    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ n: Int, _ what: String) throws(Malformed) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else {
            throw Malformed(what: "\(what) needs \(n) bytes at offset \(offset), only \(remaining) left")
        }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n])
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(Malformed) -> T {
        let raw = try take(MemoryLayout<T>.size, what)
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }

    mutating func readString(_ what: String) throws(Malformed) -> String {
        let n = Int(try read(UInt32.self, what))
        let raw = try take(n, what)
        guard let s = String(validating: raw, as: UTF8.self) else { throw Malformed(what: "\(what) is not valid UTF-8") }
        return s
    }

    mutating func readCount(_ what: String) throws(Malformed) -> Int {
        let n = try read(UInt64.self, what)
        guard n <= UInt64(Int.max) else { throw Malformed(what: "\(what) has an impossible count \(n)") }
        return Int(n)
    }

    mutating func readArray<T: BitwiseCopyable>(of _: T.Type, _ what: String) throws(Malformed) -> ContiguousArray<T> {
        let count = try readCount(what)
        let (size, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        guard !overflow else { throw Malformed(what: "\(what) has an impossible count \(count)") }
        let raw = try take(size, what)
        return ContiguousArray(filling: count) { buffer in
            HugePages.advise(UnsafeMutableRawPointer(buffer.baseAddress), byteCount: size)
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
        }
    }

    mutating func readBitmap(_ what: String) throws(Malformed) -> Bitmap {
        let size = try readCount(what)
        let raw = try take(size, what)
        guard let (bitmap, used) = Bitmap.deserialize(raw), used == size else {
            throw Malformed(what: "\(what) is not a valid bitmap")
        }
        return bitmap
    }

    mutating func readTable(_ what: String) throws(Malformed) -> ByteStringTable {
        let bytes = try readArray(of: UInt8.self, "\(what) bytes")
        let starts = try readArray(of: UInt64.self, "\(what) offsets")
        let slots = try readArray(of: UInt32.self, "\(what) hash slots")
        guard let table = ByteStringTable(bytes: bytes, starts: starts, slots: slots) else {
            throw Malformed(what: "\(what) offsets or hash slots are inconsistent")
        }
        return table
    }

    func expectEnd(_ what: String) throws(Malformed) {
        guard isAtEnd else { throw Malformed(what: "\(remaining) unexpected bytes after \(what)") }
    }
}
