/// External user ids and the dense row numbers the engine works with.
///
/// Invariants: a live user has exactly one row, and the id table's entry `row` is its
/// external id (the table's codes are the rows); `live` holds exactly the rows of live
/// users. Rows are never reused: a deleted user's row stays dead so that nothing still
/// pointing at it (an event awaiting compaction, a stored membership) can resurrect
/// data, and a returning id gets a new row. Lookup by id is one hash probe over its
/// bytes (no `String` is built on the load path); by row, one arena read.
public struct UserTable: Sendable {
    /// External ids; the code of an id is its row.
    public private(set) var ids = ByteStringTable()
    /// Rows of users that exist now.
    public private(set) var live = Bitmap()
    public private(set) var liveCount = 0

    public init() {}

    /// The table as a snapshot saved it: `table` with deleted rows already unfindable,
    /// and `live` the existing users.
    init(restoring table: ByteStringTable, live: Bitmap) {
        ids = table
        self.live = live
        liveCount = live.count
    }

    /// Number of rows ever allocated, dead ones included.
    public var rowCount: Int { ids.count }

    public func row(of id: String) -> UInt32? { ids.code(of: id) }
    public func row(of id: UnsafeRawBufferPointer) -> UInt32? { ids.code(of: id) }
    /// The external id of `row` (also answers for a dead row: its last id).
    public func id(of row: UInt32) -> String { ids.string(for: row) }
    public func isLive(_ row: UInt32) -> Bool { live.contains(row) }

    /// The row of `id`, allocating one (and reporting `created`) for a new user.
    /// The id must already be validated with `UserTable.validate`.
    public mutating func rowCreating(_ id: String) -> (row: UInt32, created: Bool) {
        var id = id
        return id.withUTF8 { rowCreating(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// As `rowCreating(_:)` for an id given as validated UTF-8 bytes.
    public mutating func rowCreating(bytes: UnsafeRawBufferPointer) -> (row: UInt32, created: Bool) {
        let (row, inserted) = ids.insert(bytes)
        if inserted {
            live.insert(row)
            liveCount += 1
        }
        return (row, inserted)
    }

    /// Removes the user; its row becomes dead for good.
    public mutating func delete(_ row: UInt32) {
        guard live.contains(row) else { return }
        ids.remove(row)
        live.remove(row)
        liveCount -= 1
    }

    public var memoryBytes: Int { ids.memoryBytes + live.memoryBytes }

    /// Makes room for `count` users without rehashing.
    public mutating func reserveCapacity(_ count: Int) { ids.reserveCapacity(count) }

    /// Checks DESIGN §2's rule for user ids: 1–256 bytes of UTF-8 without whitespace
    /// or control characters.
    public static func validate(_ id: String) throws(CohortError) {
        let count = id.utf8.count
        guard count >= 1, count <= 256 else {
            throw .err("invalid user id '\(id.prefix(40))': must be 1 to 256 bytes, is \(count)")
        }
        // ASCII ids (nearly all) are checked byte by byte: the Unicode property lookups
        // below cost more than the rest of an EVENT.ADD.
        var id = id
        let ascii = id.withUTF8 { bytes in bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F } }
        if ascii { return }
        for scalar in id.unicodeScalars where scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
            throw .err("invalid user id '\(id.prefix(40))': whitespace and control characters are not allowed")
        }
    }
}
