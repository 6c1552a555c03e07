/// Dictionary encoding of strings: each distinct string gets a dense `UInt32` code.
///
/// Invariant: `strings[code(s)] == s`; codes are assigned in first-seen order and never
/// change, so columns of codes stay valid as the dictionary grows. `UInt32.max` is
/// reserved for null. Lookup is one hash probe.
public struct StringDictionary: Equatable, Sendable {
    public private(set) var strings: ContiguousArray<String> = []
    private var codes: [String: UInt32] = [:]

    public init() {}

    public var count: Int { strings.count }
    public func code(of string: String) -> UInt32? { codes[string] }
    public func string(for code: UInt32) -> String { strings[Int(code)] }

    public mutating func encode(_ string: String) -> UInt32 {
        if let code = codes[string] { return code }
        let code = UInt32(strings.count)
        strings.append(string)
        codes[string] = code
        return code
    }

    public static func == (lhs: StringDictionary, rhs: StringDictionary) -> Bool { lhs.strings == rhs.strings }
}
