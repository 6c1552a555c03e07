/// The words of one command after its name, with typed accessors that fail with
/// protocol-style messages.
///
/// A view over the words as received (name first), so handing a command its arguments
/// copies nothing; `prefix(count)` narrows the view (a trailing `AT time` removed)
/// without copying either. Indices run from 0 (the first argument) to `count`.
public struct Arguments: RandomAccessCollection, Sendable {
    /// The command's canonical name (upper case, as in the command table).
    public let command: String
    /// The command's words as received, name first; the arguments are `received[1...endIndex]`.
    private let received: [String]
    public let endIndex: Int
    public var startIndex: Int { 0 }

    public init(command: String, received: [String]) {
        self.command = command
        self.received = received
        endIndex = Swift.max(0, received.count - 1)
    }

    private init(command: String, received: [String], endIndex: Int) {
        self.command = command
        self.received = received
        self.endIndex = endIndex
    }

    public subscript(_ i: Int) -> String { received[i + 1] }

    /// The first `count` arguments.
    public func prefix(_ count: Int) -> Arguments {
        Arguments(command: command, received: received, endIndex: Swift.min(count, endIndex))
    }

    /// What to journal for this command unchanged: the canonical name, then the arguments.
    public var journal: [String] {
        var words = Array(received[0...endIndex])
        words[0] = command
        return words
    }

    /// Words `from...` taken as name/value pairs; an odd count is an arity error.
    public func pairs(from start: Int) throws(CohortError) -> [(name: String, value: Substring)] {
        let rest = count - start
        guard rest >= 0, rest % 2 == 0 else { throw .wrongArity(command) }
        return stride(from: start, to: count, by: 2).map { (self[$0], self[$0 + 1][...]) }
    }

    public func integer(_ i: Int, name: String) throws(CohortError) -> Int {
        guard let v = Int(self[i]) else { throw .err("\(name) must be an integer, got '\(self[i])'") }
        return v
    }
}
