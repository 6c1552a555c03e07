/// Reading and writing times: Unix seconds on the inside, ISO-8601 UTC on the outside.
///
/// Accepted input: an integer (Unix seconds, may be negative), `YYYY-MM-DD`,
/// `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `T` or a space, followed by nothing (UTC), `Z`,
/// or an offset `±HH:MM` / `±HHMM` / `±HH`. Fractional seconds are truncated toward the
/// earlier second. Output is always `YYYY-MM-DDTHH:MM:SSZ`.
///
/// Pure arithmetic on bytes (no Foundation, no allocation): the CSV loader calls this
/// once per event row.
public enum TimeFormat {
    public static func parse(_ text: Substring) -> Int64? {
        var text = text
        return text.withUTF8 { parse(bytes: UnsafeRawBufferPointer($0)) }
    }

    public static func parse(_ text: String) -> Int64? { parse(text[...]) }

    public static func parse(bytes: UnsafeRawBufferPointer) -> Int64? {
        let n = bytes.count
        guard n > 0 else { return nil }
        // Unix seconds: optional minus sign then digits only.
        if n < 8 || bytes[4] != UInt8(ascii: "-") {
            var i = 0
            var negative = false
            if bytes[0] == UInt8(ascii: "-") {
                negative = true
                i = 1
            }
            guard i < n, n - i <= 18 else { return nil }
            var value: Int64 = 0
            while i < n {
                let d = bytes[i] &- 48
                guard d < 10 else { return nil }
                value = value * 10 + Int64(d)
                i += 1
            }
            return negative ? -value : value
        }
        // ISO-8601
        guard n >= 10, bytes[7] == UInt8(ascii: "-") else { return nil }
        guard let year = digits(bytes, 0, 4), let month = digits(bytes, 5, 2), let day = digits(bytes, 8, 2) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month) else { return nil }
        var seconds = daysFromCivil(year: year, month: month, day: day) * 86_400
        var i = 10
        if i == n { return seconds }
        guard bytes[i] == UInt8(ascii: "T") || bytes[i] == UInt8(ascii: " "), n >= i + 6 else { return nil }
        guard let hour = digits(bytes, i + 1, 2), bytes[i + 3] == UInt8(ascii: ":"), let minute = digits(bytes, i + 4, 2),
            hour < 24, minute < 60
        else { return nil }
        seconds += hour * 3600 + minute * 60
        i += 6
        if i + 3 <= n, bytes[i] == UInt8(ascii: ":") {
            guard let second = digits(bytes, i + 1, 2), second < 61 else { return nil }
            seconds += min(second, 59)
            i += 3
            if i < n, bytes[i] == UInt8(ascii: ".") {
                i += 1
                let start = i
                while i < n, bytes[i] &- 48 < 10 { i += 1 }
                guard i > start else { return nil }
            }
        }
        if i == n { return seconds }
        switch bytes[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            return i + 1 == n ? seconds : nil
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = bytes[i] == UInt8(ascii: "+") ? 1 : -1
            guard let oh = digits(bytes, i + 1, 2), oh < 24 else { return nil }
            var om: Int64 = 0
            let rest = n - (i + 3)
            if rest == 3, bytes[i + 3] == UInt8(ascii: ":"), let m = digits(bytes, i + 4, 2) {
                om = m
            } else if rest == 2, let m = digits(bytes, i + 3, 2) {
                om = m
            } else if rest != 0 {
                return nil
            }
            guard om < 60 else { return nil }
            // Local time = UTC + offset, so UTC = local - offset.
            return seconds - sign * (oh * 3600 + om * 60)
        default:
            return nil
        }
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    public static func format(_ seconds: Int64) -> String {
        var bytes = [UInt8](repeating: 0, count: 20)
        let count = bytes.withUnsafeMutableBufferPointer { write(seconds, into: $0) }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }

    /// Writes the ISO form into `buffer` (at least 20 bytes, more for years past 9999),
    /// returning the bytes written.
    @discardableResult
    public static func write(_ seconds: Int64, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let days = floorDiv(seconds, 86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civilFromDays(days)
        var i = 0
        func put(_ value: Int64, width: Int) {
            var v = value
            var k = width - 1
            while k >= 0 {
                buffer[i + k] = UInt8(48 + v % 10)
                v /= 10
                k -= 1
            }
            i += width
        }
        func char(_ c: Character) {
            buffer[i] = c.asciiValue!
            i += 1
        }
        if year < 0 || year > 9999 {
            // Outside ISO's four digits: write the plain number of seconds instead.
            let text = Array(String(seconds).utf8)
            for (k, b) in text.enumerated() { buffer[k] = b }
            return text.count
        }
        put(year, width: 4)
        char("-")
        put(month, width: 2)
        char("-")
        put(day, width: 2)
        char("T")
        put(secondOfDay / 3600, width: 2)
        char(":")
        put(secondOfDay / 60 % 60, width: 2)
        char(":")
        put(secondOfDay % 60, width: 2)
        char("Z")
        return i
    }

    // MARK: Calendar arithmetic (proleptic Gregorian; H. Hinnant's days_from_civil)

    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (month <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, month, day)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    @inline(__always)
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    @inline(__always)
    private static func digits(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ count: Int) -> Int64? {
        guard start + count <= bytes.count else { return nil }
        var value: Int64 = 0
        for k in start..<(start + count) {
            let d = bytes[k] &- 48
            guard d < 10 else { return nil }
            value = value * 10 + Int64(d)
        }
        return value
    }
}
