#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The members file of `cohort recompute`: one user id a line, sorted bytewise (by
/// UTF-8 bytes, as `LC_ALL=C sort` orders them), written atomically (temporary file,
/// fsync, rename).
public enum MembersFile {
    public static func write(_ members: Bitmap, of users: UserTable, to path: String) throws(CohortError) {
        var rows = Array(members)
        let ids = users.ids
        let parts = ids.flattened()
        parts.bytes.withUnsafeBytes { arena in
            parts.starts.withUnsafeBufferPointer { starts in
                rows.sort { a, b in
                    let (sa, ea) = (Int(starts[Int(a)]), Int(starts[Int(a) + 1]))
                    let (sb, eb) = (Int(starts[Int(b)]), Int(starts[Int(b) + 1]))
                    let common = min(ea - sa, eb - sb)
                    let c = common == 0 ? 0 : memcmp(arena.baseAddress! + sa, arena.baseAddress! + sb, common)
                    return c != 0 ? c < 0 : (ea - sa) < (eb - sb)
                }
            }
        }
        var text: [UInt8] = []
        text.reserveCapacity(rows.count * 12)
        for row in rows {
            ids.withBytes(row) { text.append(contentsOf: $0) }
            text.append(UInt8(ascii: "\n"))
        }
        let temporary = path + ".tmp"
        let fd = try FileIO.open(temporary, O_WRONLY | O_CREAT | O_TRUNC)
        do throws(CohortError) {
            defer { _ = close(fd) }
            try FileIO.writeAll(fd, text, path: temporary)
            try FileIO.sync(fd, path: temporary)
        } catch {
            FileIO.remove(temporary)
            throw error
        }
        try FileIO.rename(temporary, path)
        try FileIO.syncDirectory(SnapshotWriter.directory(of: path))
    }
}
