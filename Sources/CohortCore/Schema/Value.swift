/// A single typed value as it crosses the engine's boundary: parsed from a request
/// or a CSV field, returned in a reply. Columns never store `Value`s; they store
/// their native representation.
public enum Value: Equatable, Sendable {
    case null
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    /// Unix seconds, UTC.
    case time(Int64)
    /// A set of strings, sorted and without duplicates.
    case tags([String])

    public var isNull: Bool { if case .null = self { return true } else { return false } }
}

/// The type of an attribute column (DESIGN §2).
public enum AttributeType: String, CaseIterable, Sendable {
    case int, float, bool, string, time, tags
}

/// The type of an event property (DESIGN §2); a subset of the attribute types.
public enum PropertyType: String, CaseIterable, Sendable {
    case int, float, bool, string

    public var attributeType: AttributeType {
        switch self {
        case .int: .int
        case .float: .float
        case .bool: .bool
        case .string: .string
        }
    }
}

extension AttributeType {
    /// Parses `text` as a value of this type, as written in a request or a CSV field.
    ///
    /// An empty string is null for every type (the CSV rule). `bool` is `true`/`false`,
    /// `time` is Unix seconds or ISO-8601, `tags` is `|`-separated. Fails with a message
    /// naming the expected type; never coerces.
    public func parse(_ text: Substring) throws(CohortError) -> Value {
        if text.isEmpty { return .null }
        switch self {
        case .int:
            guard let v = Int64(text), v != NullSentinel.int else { throw .err("expected an int, got '\(text)'") }
            return .int(v)
        case .float:
            guard let v = Double(text), v.isFinite else { throw .err("expected a float, got '\(text)'") }
            return .float(v)
        case .bool:
            switch text {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: throw .err("expected a bool (true or false), got '\(text)'")
            }
        case .string:
            return .string(String(text))
        case .time:
            guard let t = TimeFormat.parse(text) else {
                throw .err("expected a time (Unix seconds or ISO-8601 such as 2026-06-30T12:00:00Z), got '\(text)'")
            }
            return .time(t)
        case .tags:
            var tags = Set<String>()
            for part in text.split(separator: "|", omittingEmptySubsequences: true) { tags.insert(String(part)) }
            return tags.isEmpty ? .null : .tags(tags.sorted())
        }
    }

    public func parse(_ text: String) throws(CohortError) -> Value { try parse(text[...]) }
}

/// The in-column representation of null for types stored in plain arrays.
///
/// Invariant: a parsed value never equals its type's sentinel (`Int64.min` is rejected
/// on input, non-finite floats are rejected), so a sentinel always means null.
public enum NullSentinel {
    public static let int = Int64.min
    public static let time = Int64.min
    public static let stringCode = UInt32.max
    public static let bool: UInt8 = 2
    public static var float: Double { .nan }
}
