/// External user ids and the dense row numbers the engine works with.
///
/// Invariants: a live user has exactly one row, and `ids[row]` is its external id;
/// `live` holds exactly the rows of live users. Rows are never reused: a deleted
/// user's row stays dead (its id slot emptied) so that nothing still pointing at the
/// old row (an event awaiting compaction, a stored membership) can resurrect data.
/// Lookup by id is one hash probe; by row, one array read.
public struct UserTable: Sendable {
    public private(set) var ids: ContiguousArray<String> = []
    private var rowsByID: [String: UInt32] = [:]
    /// Rows of users that exist now.
    public private(set) var live = Bitmap()

    public init() {}

    /// Number of rows ever allocated, dead ones included: every column has this length.
    public var rowCount: Int { ids.count }
    public var liveCount: Int { rowsByID.count }

    public func row(of id: String) -> UInt32? { rowsByID[id] }
    public func id(of row: UInt32) -> String { ids[Int(row)] }
    public func isLive(_ row: UInt32) -> Bool { Int(row) < ids.count && !ids[Int(row)].isEmpty }

    /// The row of `id`, allocating one (and reporting `created`) for a new user.
    /// The id must already be validated with `UserTable.validate`.
    public mutating func rowCreating(_ id: String) -> (row: UInt32, created: Bool) {
        if let row = rowsByID[id] { return (row, false) }
        let row = UInt32(ids.count)
        ids.append(id)
        rowsByID[id] = row
        live.insert(row)
        return (row, true)
    }

    /// Removes the user; its row becomes dead for good.
    public mutating func delete(_ row: UInt32) {
        let id = ids[Int(row)]
        rowsByID[id] = nil
        ids[Int(row)] = ""
        live.remove(row)
    }

    /// Checks DESIGN §2's rule for user ids: 1–256 bytes of UTF-8 without whitespace
    /// or control characters.
    public static func validate(_ id: String) throws(CohortError) {
        let count = id.utf8.count
        guard count >= 1, count <= 256 else {
            throw .err("invalid user id '\(id.prefix(40))': must be 1 to 256 bytes, is \(count)")
        }
        for scalar in id.unicodeScalars where scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
            throw .err("invalid user id '\(id.prefix(40))': whitespace and control characters are not allowed")
        }
    }
}
