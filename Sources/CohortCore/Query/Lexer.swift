/// A lexical token of the expression language (DESIGN §3), with its position: the
/// 1-based index of its first character in the source.
struct Token: Equatable {
    enum Kind: Equatable {
        case identifier(String)
        case keyword(String)
        /// An integer literal (written without a fraction), exact.
        case integer(Int64)
        /// A number literal with a fraction.
        case number(Double)
        /// A duration literal in seconds (`90d`, `12h`).
        case duration(Int64)
        case string(String)
        /// One of `( ) , . = != < <= > >= + - * /`.
        case symbol(String)
        case end
    }

    let kind: Kind
    let position: Int

    var text: String {
        switch kind {
        case .identifier(let s), .keyword(let s), .symbol(let s): s
        case .integer(let v): String(v)
        case .number(let v): String(v)
        case .duration(let s): "\(s)s"
        case .string(let s): "\"\(s)\""
        case .end: "end of expression"
        }
    }
}

/// Splits an expression into tokens. Errors name the position.
enum Lexer {
    static let keywords: Set<String> = Schema.keywords

    static func tokenize(_ source: String) throws(CohortError) -> [Token] {
        let chars = Array(source)
        var tokens: [Token] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let position = i + 1
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                i += 1
            } else if c.isASCII && (c.isLetter || c == "_") {
                var j = i
                while j < chars.count, chars[j].isASCII, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                let word = String(chars[i..<j])
                tokens.append(Token(kind: keywords.contains(word) ? .keyword(word) : .identifier(word), position: position))
                i = j
            } else if c.isASCII && c.isNumber {
                var j = i
                while j < chars.count, chars[j].isASCII, chars[j].isNumber { j += 1 }
                var isInteger = true
                if j + 1 < chars.count, chars[j] == ".", chars[j + 1].isASCII, chars[j + 1].isNumber {
                    isInteger = false
                    j += 1
                    while j < chars.count, chars[j].isASCII, chars[j].isNumber { j += 1 }
                }
                let text = String(chars[i..<j])
                guard let value = Double(text) else { throw .err("syntax error at \(position): bad number '\(text)'") }
                if j < chars.count, let unit = durationUnit(chars[j]) {
                    let after = j + 1
                    if after < chars.count, chars[after].isASCII, chars[after].isLetter || chars[after].isNumber || chars[after] == "_" {
                        throw .err("syntax error at \(position): bad duration '\(String(chars[i...after]))' (use s, m, h, d or w, as in 90d)")
                    }
                    let seconds = value * Double(unit)
                    guard seconds.magnitude < 9e15 else { throw .err("syntax error at \(position): duration too large") }
                    tokens.append(Token(kind: .duration(Int64(seconds.rounded())), position: position))
                    i = after
                } else if j < chars.count, chars[j].isASCII, chars[j].isLetter || chars[j] == "_" {
                    throw .err("syntax error at \(position): unexpected '\(chars[j])' after number (a duration unit is one of s, m, h, d, w)")
                } else {
                    if isInteger {
                        guard let exact = Int64(text) else { throw .err("syntax error at \(position): number too large (ints are 64-bit)") }
                        tokens.append(Token(kind: .integer(exact), position: position))
                    } else {
                        tokens.append(Token(kind: .number(value), position: position))
                    }
                    i = j
                }
            } else if c == "\"" {
                var j = i + 1
                var text = ""
                var closed = false
                while j < chars.count {
                    let d = chars[j]
                    if d == "\\" {
                        guard j + 1 < chars.count, chars[j + 1] == "\"" || chars[j + 1] == "\\" else {
                            throw .err("syntax error at \(j + 1): only \\\" and \\\\ escapes are allowed in strings")
                        }
                        text.append(chars[j + 1])
                        j += 2
                    } else if d == "\"" {
                        closed = true
                        j += 1
                        break
                    } else {
                        text.append(d)
                        j += 1
                    }
                }
                guard closed else { throw .err("syntax error at \(position): unterminated string") }
                tokens.append(Token(kind: .string(text), position: position))
                i = j
            } else {
                let two = i + 1 < chars.count ? String(chars[i...(i + 1)]) : ""
                if ["!=", "<=", ">="].contains(two) {
                    tokens.append(Token(kind: .symbol(two), position: position))
                    i += 2
                } else if "(),.=<>+-*/".contains(c) {
                    tokens.append(Token(kind: .symbol(String(c)), position: position))
                    i += 1
                } else {
                    throw .err("syntax error at \(position): unexpected character '\(c)'")
                }
            }
        }
        tokens.append(Token(kind: .end, position: chars.count + 1))
        return tokens
    }

    static func durationUnit(_ c: Character) -> Int64? {
        switch c {
        case "s": 1
        case "m": 60
        case "h": 3600
        case "d": 86_400
        case "w": 604_800
        default: nil
        }
    }
}
