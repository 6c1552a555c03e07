/// CRC-32C (Castagnoli, polynomial 0x1EDC6F41 reflected as 0x82F63B78), the checksum of
/// snapshot blocks and journal records.
///
/// Slicing-by-8: eight 256-entry tables let the loop consume 8 bytes per step, about
/// 1.5–2 GB/s per core in release builds, far above what the disk or LZ4 deliver.
/// `CRC32C.checksum("123456789")` is 0xE3069283 (the standard check value).
public enum CRC32C {
    /// `table[k * 256 + b]`: the CRC of byte `b` followed by `k` zero bytes.
    private static let table: ContiguousArray<UInt32> = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for b in 0..<256 {
            var crc = UInt32(b)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][b] = crc
        }
        for b in 0..<256 {
            for k in 1..<8 { tables[k][b] = (tables[k - 1][b] >> 8) ^ tables[0][Int(tables[k - 1][b] & 0xFF)] }
        }
        return ContiguousArray(tables.joined())
    }()

    /// The CRC-32C of `bytes`, continuing from `seed` (the CRC of what came before).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return seed }
        return table.withUnsafeBufferPointer { t -> UInt32 in
            var i = 0
            while i + 8 <= n {
                // Little-endian load of 8 bytes; the low 4 fold with the running CRC.
                let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
                let lo = UInt32(truncatingIfNeeded: word) ^ crc
                let hi = UInt32(truncatingIfNeeded: word >> 32)
                crc =
                    t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                crc = t[Int((crc ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                i += 1
            }
            return ~crc
        }
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
