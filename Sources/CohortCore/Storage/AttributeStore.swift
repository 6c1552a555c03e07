/// Every attribute column, grouped by physical representation.
///
/// Columns of one representation sit in one array (`int` and `time` share `int64s`),
/// so a predicate reaches its column through an index without existential dispatch.
/// `slots[attributeID]` says where each declared attribute lives. Invariant: there is
/// one slot per `Schema.attributes` entry, in the same order.
public struct AttributeStore: Sendable {
    /// Where an attribute's column lives.
    public enum Slot: Equatable, Sendable {
        case int64(Int)
        case double(Int)
        case bool(Int)
        case string(Int)
        case tags(Int)
    }

    public private(set) var slots: [Slot] = []
    public internal(set) var int64s: [Int64Column] = []
    public internal(set) var doubles: [DoubleColumn] = []
    public internal(set) var bools: [BoolColumn] = []
    public internal(set) var strings: [StringColumn] = []
    public internal(set) var tags: [TagsColumn] = []

    public init() {}

    /// Adds the column of a newly declared attribute (all null).
    mutating func addColumn(for type: AttributeType) {
        switch type {
        case .int, .time:
            slots.append(.int64(int64s.count))
            int64s.append(Int64Column())
        case .float:
            slots.append(.double(doubles.count))
            doubles.append(DoubleColumn())
        case .bool:
            slots.append(.bool(bools.count))
            bools.append(BoolColumn())
        case .string:
            slots.append(.string(strings.count))
            strings.append(StringColumn())
        case .tags:
            slots.append(.tags(tags.count))
            tags.append(TagsColumn())
        }
    }

    /// The value of attribute `definition` for `row`, typed as declared.
    public func value(_ definition: AttributeDefinition, row: UInt32) -> Value {
        switch slots[definition.id] {
        case .int64(let i):
            guard let v = int64s[i].value(row) else { return .null }
            return definition.type == .time ? .time(v) : .int(v)
        case .double(let i): return doubles[i].value(row).map(Value.float) ?? .null
        case .bool(let i): return bools[i].value(row).map(Value.bool) ?? .null
        case .string(let i): return strings[i].value(row).map(Value.string) ?? .null
        case .tags(let i): return tags[i].value(row).map(Value.tags) ?? .null
        }
    }

    /// Stores `value`, which the caller has already checked against the attribute's type.
    mutating func set(_ definition: AttributeDefinition, row: UInt32, _ value: Value) {
        switch (slots[definition.id], value) {
        case (.int64(let i), .null): int64s[i].set(row, nil)
        case (.int64(let i), .int(let v)), (.int64(let i), .time(let v)): int64s[i].set(row, v)
        case (.double(let i), .null): doubles[i].set(row, nil)
        case (.double(let i), .float(let v)): doubles[i].set(row, v)
        case (.bool(let i), .null): bools[i].set(row, nil)
        case (.bool(let i), .bool(let v)): bools[i].set(row, v)
        case (.string(let i), .null): strings[i].set(row, nil)
        case (.string(let i), .string(let v)): strings[i].set(row, v)
        case (.tags(let i), .null): tags[i].set(row, nil)
        case (.tags(let i), .tags(let v)): tags[i].set(row, v)
        default: preconditionFailure("value \(value) does not fit attribute '\(definition.name)'; callers check types first")
        }
    }

    /// Nulls every attribute of `row` and removes it from every index.
    mutating func clear(row: UInt32) {
        for i in int64s.indices { int64s[i].set(row, nil) }
        for i in doubles.indices { doubles[i].set(row, nil) }
        for i in bools.indices { bools[i].set(row, nil) }
        for i in strings.indices { strings[i].set(row, nil) }
        for i in tags.indices { tags[i].set(row, nil) }
    }

    /// Approximate heap bytes held by the columns and their indexes.
    public var memoryBytes: Int {
        var total = 0
        for c in int64s { total += c.values.memoryBytes }
        for c in doubles { total += c.values.memoryBytes }
        for c in bools { total += c.trues.memoryBytes + c.falses.memoryBytes }
        for c in strings { total += c.codes.memoryBytes + c.postings.reduce(0) { $0 + $1.memoryBytes } + c.dictionary.count * 32 }
        for c in tags { total += c.postings.reduce(0) { $0 + $1.memoryBytes } + c.dictionary.count * 32 }
        return total
    }
}
