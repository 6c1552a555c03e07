/// The byte layout of a snapshot file (version 4). FORMAT.md next to this file is the
/// prose version; both describe the same bytes.
///
/// ```
/// file     := header section{sectionCount}
/// header   := magic "COHORTSN" (8) | version u32 | sectionCount u32 | createdAt i64
///             | flags u32 (bit 0: little-endian columns, always set) | crc32c u32 of the 28 bytes before
/// section  := "SECT" | nameLength u16 | name (UTF-8) | uncompressedLength u64 | blockCount u32
///             | blockCount × (compressedLength u32 | uncompressedLength u32 | crc32c u32 of the compressed bytes)
///             | crc32c u32 of everything from "SECT" to here
///             | the compressed blocks, back to back
/// ```
///
/// All integers are little-endian. Each block is an independent LZ4 block of at most
/// `LZ4.maxBlockSize` uncompressed bytes; every block but a section's last is exactly
/// that size, so block k of a section starts at k × maxBlockSize in its payload. A
/// reader checks the header checksum, then each section header's checksum and lengths,
/// then each block's checksum before decompressing it: nothing is trusted unverified.
enum SnapshotFormat {
    static let magic: [UInt8] = Array("COHORTSN".utf8)
    /// 2: large columns in raw sections and id tables with their hash slots. Version 1
    /// files came from development builds only and are refused with a clear message.
    static let version: UInt32 = 4
    static let headerSize = 32
    static let sectionMagic: [UInt8] = Array("SECT".utf8)
    static let littleEndianFlag: UInt32 = 1

    /// One block's entry in a section header.
    struct Block: Sendable {
        var compressedLength: UInt32
        var uncompressedLength: UInt32
        var checksum: UInt32
    }

    static func encodeHeader(sectionCount: Int, createdAt: Int64) -> [UInt8] {
        var w = ByteWriter(capacity: headerSize)
        w.append(raw: magic.withUnsafeBytes { $0 })
        w.append(version)
        w.append(UInt32(sectionCount))
        w.append(createdAt)
        w.append(littleEndianFlag)
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum($0) }
        w.append(crc)
        return w.bytes
    }

    static func encodeSectionHeader(name: String, uncompressedLength: Int, blocks: [Block]) -> [UInt8] {
        var w = ByteWriter(capacity: 32 + name.utf8.count + blocks.count * 12)
        w.append(raw: sectionMagic.withUnsafeBytes { $0 })
        w.append(UInt16(name.utf8.count))
        w.append(raw: Array(name.utf8).withUnsafeBytes { $0 })
        w.append(UInt64(uncompressedLength))
        w.append(UInt32(blocks.count))
        for block in blocks {
            w.append(block.compressedLength)
            w.append(block.uncompressedLength)
            w.append(block.checksum)
        }
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum($0) }
        w.append(crc)
        return w.bytes
    }
}
