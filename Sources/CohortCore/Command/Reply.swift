/// A command's answer, independent of the wire encoding.
///
/// The server encodes it as RESP2 or RESP3 (a `map` is a flat array in RESP2, a
/// `double` a bulk string, a `bool` an integer); `cohort run` prints it like redis-cli.
public indirect enum Reply: Equatable, Sendable {
    case status(String)
    case error(CohortError)
    case integer(Int64)
    case bulk(String)
    case null
    /// "No array": `*-1` in RESP2 (what Redis's XREAD answers when nothing arrived), `_` in RESP3.
    case nullArray
    case double(Double)
    case bool(Bool)
    case array([Reply])
    case map([MapEntry])
    /// Keyed values that RESP3 sends as a map and RESP2 as an array of `[key, value]`
    /// arrays (XREAD's reply shape in Redis).
    case pairs([MapEntry])
    /// Out-of-band data (pub/sub): a `>` push frame in RESP3, an array in RESP2.
    case push([Reply])
    /// Several frames answering one request (`SUBSCRIBE a b` confirms each channel).
    case frames([Reply])

    public struct MapEntry: Equatable, Sendable {
        public let key: Reply
        public let value: Reply
        public init(_ key: Reply, _ value: Reply) {
            self.key = key
            self.value = value
        }
    }

    public static let ok = Reply.status("OK")

    /// A value as DESIGN §4 renders it: times as ISO-8601 UTC, tags as an array.
    public init(_ value: Value) {
        switch value {
        case .null: self = .null
        case .int(let v): self = .integer(v)
        case .float(let v): self = .double(v)
        case .bool(let v): self = .bool(v)
        case .string(let v): self = .bulk(v)
        case .time(let v): self = .bulk(TimeFormat.format(v))
        case .tags(let v): self = .array(v.map(Reply.bulk))
        }
    }

    public var isError: Bool { if case .error = self { return true } else { return false } }
}

extension Reply {
    /// How a double is written as text (RESP2 bulk, `cohort run`): the shortest form
    /// that reads back as the same double, without a trailing `.0` for integers.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
