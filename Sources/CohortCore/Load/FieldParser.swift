/// Parsing of numeric and boolean CSV fields straight from bytes, without building a
/// String. Falls back to the standard library only for floats whose digits do not
/// fit the exact fast path.
enum FieldParser {
    static func int(_ b: UnsafeRawBufferPointer) -> Int64? {
        var i = 0
        var negative = false
        if b.count > 0, b[0] == UInt8(ascii: "-") || b[0] == UInt8(ascii: "+") {
            negative = b[0] == UInt8(ascii: "-")
            i = 1
        }
        guard i < b.count, b.count - i <= 19 else { return nil }
        var value: UInt64 = 0
        while i < b.count {
            let d = b[i] &- 48
            guard d < 10 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1, !o2 else { return nil }
            value = s
            i += 1
        }
        // Int64.min is the null sentinel, so the largest accepted magnitude is Int64.max.
        guard value <= UInt64(Int64.max) else { return nil }
        return negative ? -Int64(value) : Int64(value)
    }

    private static let exactPowers: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { r, _ in r * 10 } }

    /// Decimal floats. Fast path: plain `[-]digits[.digits]` with at most 15 significant
    /// digits and 22 fraction digits, where one division of two exactly representable
    /// doubles is correctly rounded. Anything else goes through the standard library.
    static func double(_ b: UnsafeRawBufferPointer) -> Double? {
        var i = 0
        var negative = false
        if b.count > 0, b[0] == UInt8(ascii: "-") {
            negative = true
            i = 1
        }
        var mantissa: Int64 = 0
        var significant = 0
        var fraction = 0
        var sawDigit = false
        var seenDot = false
        var simple = true
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "."), !seenDot {
                seenDot = true
            } else if c &- 48 < 10 {
                sawDigit = true
                mantissa = mantissa &* 10 &+ Int64(c &- 48)
                if mantissa != 0 { significant += 1 }
                if seenDot { fraction += 1 }
                if significant > 15 || fraction > 22 {
                    simple = false
                    break
                }
            } else {
                simple = false
                break
            }
            i += 1
        }
        if simple, sawDigit {
            let v = Double(mantissa) / exactPowers[fraction]
            return negative ? -v : v
        }
        guard let text = String(validating: b, as: UTF8.self), let v = Double(text), v.isFinite else { return nil }
        return v
    }

    static func bool(_ b: UnsafeRawBufferPointer) -> Bool? {
        if b.elementsEqual("true".utf8) { return true }
        if b.elementsEqual("false".utf8) { return false }
        return nil
    }

    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    /// True when `b` is valid UTF-8 (an ASCII scan first; the full check only for
    /// non-ASCII bytes).
    static func isValidUTF8(_ b: UnsafeRawBufferPointer) -> Bool {
        var ascii = true
        for c in b where c >= 0x80 {
            ascii = false
            break
        }
        return ascii || String(validating: UnsafeBufferPointer(start: b.baseAddress?.assumingMemoryBound(to: UInt8.self), count: b.count), as: UTF8.self) != nil
    }

    /// ASCII fast check of DESIGN's user id rule; non-ASCII ids go through `UserTable.validate`.
    static func isPlainASCIIUserID(_ b: UnsafeRawBufferPointer) -> Bool {
        guard b.count >= 1, b.count <= 256 else { return false }
        for c in b where c <= 0x20 || c >= 0x7F { return false }
        return true
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
