/// Walks the option words of a command (`WITHIN 7d FROM a TO b AT t`): the keyword at
/// the cursor and the values after it, with errors that quote the command's usage. One
/// home for how options read times, ranges, durations and counts (FUNNEL, SERIES.*).
struct OptionWords {
    let args: Arguments
    let usage: String
    /// The word being looked at.
    private(set) var index: Int

    init(_ args: Arguments, from index: Int, usage: String) {
        (self.args, self.index, self.usage) = (args, index, usage)
    }

    var hasMore: Bool { index < args.count }
    /// The keyword at the cursor, upper-cased; `next()` moves past it.
    var keyword: String { args[index].uppercased() }

    /// Moves past the keyword (and its values, read with `value()`).
    mutating func next() { index += 1 }

    /// The word after the cursor, which becomes the cursor.
    mutating func value() throws(CohortError) -> String {
        guard index + 1 < args.count else { throw .syntax("expected a value after \(args[index]) (\(usage))") }
        index += 1
        return args[index]
    }

    mutating func time() throws(CohortError) -> Int64 {
        let option = args[index]
        let text = try value()
        guard let t = TimeFormat.parse(text) else {
            throw .err("invalid time '\(text)' after \(option): use Unix seconds or ISO-8601 (2026-06-30T12:00:00Z)")
        }
        return t
    }

    /// `FROM a TO b` at the cursor (on FROM).
    mutating func range() throws(CohortError) -> (Int64, Int64) {
        let a = try time()
        guard index + 1 < args.count, args[index + 1].uppercased() == "TO" else { throw .syntax("FROM time must be followed by TO time (\(usage))") }
        index += 1
        return (a, try time())
    }

    mutating func duration() throws(CohortError) -> Int64 {
        let option = args[index]
        let text = try value()
        guard let d = FeedCommands.duration(text), d >= 0 else { throw .err("\(option) needs a duration (as 7d or seconds), got '\(text)'") }
        return d
    }

    func unexpected() -> CohortError { .syntax("unexpected '\(args[index])' (\(usage))") }
}
