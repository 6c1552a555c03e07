/// The words of one command after its name, with typed accessors that fail with
/// protocol-style messages.
public struct Arguments: Sendable {
    public let command: String
    public let words: [String]

    public init(command: String, words: [String]) {
        self.command = command
        self.words = words
    }

    public var count: Int { words.count }
    public subscript(_ i: Int) -> String { words[i] }

    /// Words `from...` taken as name/value pairs; an odd count is an arity error.
    public func pairs(from start: Int) throws(CohortError) -> [(name: String, value: Substring)] {
        let rest = words.count - start
        guard rest >= 0, rest % 2 == 0 else { throw .wrongArity(command) }
        return stride(from: start, to: words.count, by: 2).map { (words[$0], words[$0 + 1][...]) }
    }

    public func integer(_ i: Int, name: String) throws(CohortError) -> Int {
        guard let v = Int(words[i]) else { throw .err("\(name) must be an integer, got '\(words[i])'") }
        return v
    }
}
