/// Splits an inline command line into words, by Redis's rules (`sdssplitargs`):
/// words separated by spaces or tabs; `"..."` with the escapes `\"`, `\\`, `\n`, `\r`,
/// `\t`, `\b`, `\a` and `\xHH`; `'...'` with only `\'`; a closing quote must be followed
/// by a separator or the end of the line.
///
/// Works on bytes so that `\xHH` can produce any byte; words must still be UTF-8.
public enum InlineCommand {
    public static func split(_ line: String) throws(CohortError) -> [String] {
        try split(bytes: Array(line.utf8)[...])
    }

    public static func split(bytes line: ArraySlice<UInt8>) throws(CohortError) -> [String] {
        var words: [String] = []
        var i = line.startIndex
        let end = line.endIndex
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C }
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 48...57: b - 48
            case 97...102: b - 87
            case 65...70: b - 55
            default: nil
            }
        }
        while true {
            while i < end, isSpace(line[i]) { i += 1 }
            guard i < end else { break }
            var word: [UInt8] = []
            var inDouble = false
            var inSingle = false
            var done = false
            while !done {
                if inDouble {
                    guard i < end else { throw .err("Protocol error: unbalanced quotes in request") }
                    let b = line[i]
                    if b == UInt8(ascii: "\\"), i + 3 < end, line[i + 1] == UInt8(ascii: "x"), let h = hex(line[i + 2]), let l = hex(line[i + 3]) {
                        word.append(h << 4 | l)
                        i += 3
                    } else if b == UInt8(ascii: "\\"), i + 1 < end {
                        i += 1
                        switch line[i] {
                        case UInt8(ascii: "n"): word.append(0x0A)
                        case UInt8(ascii: "r"): word.append(0x0D)
                        case UInt8(ascii: "t"): word.append(0x09)
                        case UInt8(ascii: "b"): word.append(0x08)
                        case UInt8(ascii: "a"): word.append(0x07)
                        default: word.append(line[i])
                        }
                    } else if b == UInt8(ascii: "\"") {
                        // The closing quote must be followed by a space or nothing.
                        if i + 1 < end, !isSpace(line[i + 1]) { throw .err("Protocol error: unbalanced quotes in request") }
                        done = true
                    } else {
                        word.append(b)
                    }
                    i += 1
                } else if inSingle {
                    guard i < end else { throw .err("Protocol error: unbalanced quotes in request") }
                    let b = line[i]
                    if b == UInt8(ascii: "\\"), i + 1 < end, line[i + 1] == UInt8(ascii: "'") {
                        word.append(UInt8(ascii: "'"))
                        i += 1
                    } else if b == UInt8(ascii: "'") {
                        if i + 1 < end, !isSpace(line[i + 1]) { throw .err("Protocol error: unbalanced quotes in request") }
                        done = true
                    } else {
                        word.append(b)
                    }
                    i += 1
                } else {
                    if i >= end || isSpace(line[i]) {
                        done = true
                    } else if line[i] == UInt8(ascii: "\"") {
                        inDouble = true
                        i += 1
                    } else if line[i] == UInt8(ascii: "'") {
                        inSingle = true
                        i += 1
                    } else {
                        word.append(line[i])
                        i += 1
                    }
                }
            }
            guard let text = String(validating: word, as: UTF8.self) else { throw .err("Protocol error: argument is not valid UTF-8") }
            words.append(text)
        }
        return words
    }
}

/// Runs a definitions script (`schema.cohort`, DESIGN §6): one protocol command a
/// line, blank lines and `#` comments ignored.
public enum DefinitionsScript {
    /// Commands a definitions file may contain.
    public static let allowed: Set<String> = ["ATTR.DEFINE", "EVENT.DEFINE", "SEGMENT.DEFINE", "AGG.DEFINE"]

    /// What running a script did.
    public struct Outcome: Sendable {
        public var executed = 0
    }

    /// True for the lines a script skips (DESIGN §6): blank lines and `#` comments. The
    /// one rule, used here and by `cohort run` on standard input.
    public static func isBlankOrComment<S: StringProtocol>(_ line: S) -> Bool {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        return trimmed.isEmpty || trimmed.first == "#" || trimmed == "\r"
    }

    /// Executes every line through `engine`; stops at the first failure, naming the
    /// file and line.
    @discardableResult
    public static func run(_ text: String, file: String, on engine: Engine) throws(CohortError) -> Outcome {
        var outcome = Outcome()
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if isBlankOrComment(line) { continue }
            let words: [String]
            do { words = try InlineCommand.split(String(line)) } catch { throw .err("\(file) line \(index + 1): \(error.message)") }
            guard let name = words.first else { continue }
            guard allowed.contains(name.uppercased()) else {
                throw .err("\(file) line \(index + 1): '\(name)' is not a definition (use \(allowed.sorted().joined(separator: ", ")))")
            }
            if case .error(let error) = engine.execute(words) { throw .err("\(file) line \(index + 1): \(error.message)") }
            outcome.executed += 1
        }
        return outcome
    }
}
