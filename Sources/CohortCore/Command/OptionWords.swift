/// Walks the option words of a command (`WITHIN 7d FROM a TO b AT t`): the keyword at
/// the cursor and the values after it, with errors that quote the command's usage when
/// it has one. One home for how options read times, ranges, durations, cursors and
/// counts (SEGMENT.MEMBERS, FUNNEL, SERIES.*, SPLIT.*).
struct OptionWords {
    let args: Arguments
    /// Quoted after syntax errors; nil for none.
    let usage: String?
    /// The word being looked at.
    private(set) var index: Int

    init(_ args: Arguments, from index: Int, usage: String?) {
        (self.args, self.index, self.usage) = (args, index, usage)
    }

    var hasMore: Bool { index < args.count }
    /// The keyword at the cursor, upper-cased; `next()` moves past it.
    var keyword: String { args[index].uppercased() }

    /// Moves past the keyword (and its values, read with `value()`).
    mutating func next() { index += 1 }

    private var inUsage: String { usage.map { " (\($0))" } ?? "" }

    /// The word after the cursor, which becomes the cursor.
    mutating func value() throws(CohortError) -> String {
        guard index + 1 < args.count else { throw .syntax("expected a value after \(args[index])\(inUsage)") }
        index += 1
        return args[index]
    }

    /// A time word (Unix seconds or ISO-8601) after `option`.
    static func time(_ text: String, after option: String) throws(CohortError) -> Int64 {
        guard let t = TimeFormat.parse(text) else {
            throw .err("invalid time '\(text)' after \(option): use Unix seconds or ISO-8601 (2026-06-30T12:00:00Z)")
        }
        return t
    }

    mutating func time() throws(CohortError) -> Int64 {
        let option = args[index].uppercased()
        return try Self.time(try value(), after: option)
    }

    /// `FROM a TO b` at the cursor (on FROM).
    mutating func range() throws(CohortError) -> (Int64, Int64) {
        let a = try time()
        guard index + 1 < args.count, args[index + 1].uppercased() == "TO" else { throw .syntax("FROM time must be followed by TO time\(inUsage)") }
        index += 1
        return (a, try time())
    }

    mutating func duration() throws(CohortError) -> Int64 {
        let option = args[index]
        let text = try value()
        guard let d = FeedCommands.duration(text), d >= 0 else { throw .err("\(option) needs a duration (as 7d or seconds), got '\(text)'") }
        return d
    }

    /// A `CURSOR c` value: the row a page resumes from.
    mutating func cursor() throws(CohortError) -> UInt32 {
        let text = try value()
        guard let c = UInt32(text) else { throw .err("invalid cursor '\(text)'") }
        return c
    }

    /// A `COUNT n` value, positive.
    /// A page's `COUNT`: positive, and at most `limit` (`Limits.pageSize`).
    mutating func positiveCount(atMost limit: Int) throws(CohortError) -> Int {
        let text = try value()
        guard let n = Int(text), n > 0 else { throw .err("COUNT must be a positive integer, got '\(text)'") }
        guard n <= limit else { throw .err("COUNT \(n) is past the page limit of \(limit) (--max-page-size); page with CURSOR") }
        return n
    }

    func unexpected() -> CohortError { .syntax("unexpected '\(args[index])'\(inUsage)") }
}
