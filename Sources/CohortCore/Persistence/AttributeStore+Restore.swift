/// One attribute's column, whatever its representation (what a snapshot section holds).
enum AttributeColumn {
    case int64(Int64Column)
    case double(DoubleColumn)
    case bool(BoolColumn)
    case string(StringColumn)
    case tags(TagsColumn)
}

extension AttributeStore {
    /// Replaces the (empty) column of attribute `id` with a restored one of the same kind.
    mutating func restore(_ column: AttributeColumn, attribute id: Int) {
        switch (slots[id], column) {
        case (.int64(let i), .int64(let c)): int64s[i] = c
        case (.double(let i), .double(let c)): doubles[i] = c
        case (.bool(let i), .bool(let c)): bools[i] = c
        case (.string(let i), .string(let c)): strings[i] = c
        case (.tags(let i), .tags(let c)): tags[i] = c
        default: preconditionFailure("restored column does not match attribute \(id)'s slot; the decoder reads by the schema's type")
        }
    }
}
