import CLZ4

/// The one place that calls liblz4 (block format).
///
/// Blocks are independent: each is compressed on its own so that sections compress and
/// decompress in parallel and a checksum failure names one block. Inputs are capped at
/// `maxBlockSize`, far below `LZ4_MAX_INPUT_SIZE` (about 2 GB).
enum LZ4 {
    /// Largest uncompressed block the snapshot format uses.
    static let maxBlockSize = 4 << 20

    /// Worst-case compressed size of `count` input bytes.
    static func bound(_ count: Int) -> Int { Int(LZ4_compressBound(Int32(count))) }

    /// Compresses `source` (at most `maxBlockSize` bytes) into `destination`, which must
    /// hold `bound(source.count)` bytes; returns the compressed length. Acceleration 1
    /// is LZ4's default, what `lz4 -1` uses.
    static func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Int {
        precondition(source.count <= maxBlockSize && destination.count >= bound(source.count))
        guard source.count > 0 else { return 0 }
        let written = LZ4_compress_default(
            source.baseAddress!.assumingMemoryBound(to: CChar.self), destination.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        // LZ4 only fails when the destination is smaller than the bound, excluded above.
        precondition(written > 0, "LZ4_compress_default failed")
        return Int(written)
    }

    /// Decompresses `source` into exactly `destination.count` bytes; false when the input
    /// is malformed or does not produce exactly that many bytes. Safe on any input:
    /// `LZ4_decompress_safe` never reads or writes out of bounds.
    static func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        if destination.count == 0 { return source.count == 0 }
        guard source.count > 0 else { return false }
        let produced = LZ4_decompress_safe(
            source.baseAddress!.assumingMemoryBound(to: CChar.self), destination.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        return Int(produced) == destination.count
    }
}
