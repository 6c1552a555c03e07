/// Dictionary encoding of strings: each distinct string gets a dense `UInt32` code.
///
/// Invariant: `string(for: code(of: s)!) == s`; codes are assigned in first-seen order
/// and never change, so columns of codes stay valid as the dictionary grows.
/// `UInt32.max` is reserved for null. Lookup by `String` or by raw bytes is one hash
/// probe over a `ByteStringTable`.
public struct StringDictionary: Equatable, Sendable {
    public private(set) var table = ByteStringTable()

    public init() {}

    init(table: ByteStringTable) { self.table = table }

    public var count: Int { table.count }
    public func code(of string: String) -> UInt32? { table.code(of: string) }
    public func code(of bytes: UnsafeRawBufferPointer) -> UInt32? { table.code(of: bytes) }
    public func string(for code: UInt32) -> String { table.string(for: code) }
    public var strings: [String] { (0..<UInt32(count)).map(string(for:)) }

    public mutating func encode(_ string: String) -> UInt32 { table.insert(string).code }
    /// Encodes already-validated UTF-8 bytes.
    public mutating func encode(bytes: UnsafeRawBufferPointer) -> UInt32 { table.insert(bytes).code }

    public static func == (lhs: StringDictionary, rhs: StringDictionary) -> Bool {
        let (l, r) = (lhs.table.flattened(), rhs.table.flattened())
        return l.bytes == r.bytes && l.starts == r.starts
    }
}
