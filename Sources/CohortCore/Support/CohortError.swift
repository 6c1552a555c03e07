/// An error a user can act on: what was wrong, where, and what to do.
///
/// The `kind` is the Redis-style error prefix the protocol sends (`ERR`, `WRONGTYPE`,
/// `NOAUTH`, `NOPROTO`); `message` is the text after it. Every failure the engine
/// reports for bad input is one of these: nothing in the engine traps on user input.
public struct CohortError: Error, Equatable, Sendable, CustomStringConvertible {
    public struct Kind: RawRepresentable, Equatable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let err = Kind(rawValue: "ERR")
        public static let wrongType = Kind(rawValue: "WRONGTYPE")
        public static let noAuth = Kind(rawValue: "NOAUTH")
        public static let noProto = Kind(rawValue: "NOPROTO")
        public static let oom = Kind(rawValue: "OOM")
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind = .err, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The protocol's rendering: prefix, space, message (`ERR unknown attribute 'x'`).
    public var description: String { "\(kind.rawValue) \(message)" }

    public static func err(_ message: String) -> CohortError { CohortError(.err, message) }
    public static func wrongType(_ message: String) -> CohortError { CohortError(.wrongType, message) }

    public static func wrongArity(_ command: String) -> CohortError {
        .err("wrong number of arguments for '\(command.lowercased())' command")
    }
    public static func syntax(_ detail: String) -> CohortError { .err("syntax error: \(detail)") }
}
