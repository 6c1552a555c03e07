/// Redis's glob patterns for `PSUBSCRIBE` and `PUBSUB CHANNELS` (`stringmatchlen`):
/// `*` any run, `?` one byte, `[...]` a set (`^` negates, `a-z` ranges), `\` escapes.
/// Matched bytewise; cost O(pattern × text) at worst.
enum GlobPattern {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8)
        let s = Array(text.utf8)
        return match(p[...], s[...])
    }

    private static func match(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        var p = p
        var s = s
        while let c = p.first {
            switch c {
            case UInt8(ascii: "*"):
                while p.first == UInt8(ascii: "*") { p = p.dropFirst() }
                if p.isEmpty { return true }
                while true {
                    if match(p, s) { return true }
                    if s.isEmpty { return false }
                    s = s.dropFirst()
                }
            case UInt8(ascii: "?"):
                guard !s.isEmpty else { return false }
                s = s.dropFirst()
                p = p.dropFirst()
            case UInt8(ascii: "["):
                guard let ch = s.first else { return false }
                p = p.dropFirst()
                let negate = p.first == UInt8(ascii: "^")
                if negate { p = p.dropFirst() }
                var matched = false
                while let q = p.first, q != UInt8(ascii: "]") {
                    if q == UInt8(ascii: "\\"), p.count >= 2 {
                        p = p.dropFirst()
                        if p.first == ch { matched = true }
                        p = p.dropFirst()
                    } else if p.count >= 3, p[p.startIndex + 1] == UInt8(ascii: "-") {
                        let (a, b) = (q, p[p.startIndex + 2])
                        if min(a, b) <= ch, ch <= max(a, b) { matched = true }
                        p = p.dropFirst(3)
                    } else {
                        if q == ch { matched = true }
                        p = p.dropFirst()
                    }
                }
                p = p.dropFirst()  // the closing "]" (or nothing at the end)
                guard matched != negate else { return false }
                s = s.dropFirst()
            case UInt8(ascii: "\\") where p.count >= 2:
                p = p.dropFirst()
                guard s.first == p.first else { return false }
                s = s.dropFirst()
                p = p.dropFirst()
            default:
                guard s.first == c else { return false }
                s = s.dropFirst()
                p = p.dropFirst()
            }
        }
        return s.isEmpty
    }
}
