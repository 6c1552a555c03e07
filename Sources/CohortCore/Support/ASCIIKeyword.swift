extension String {
    /// Whether this string is `keyword` (upper-case ASCII) in any ASCII case: `at`, `At`
    /// and `AT` all match `"AT"`. Compares the bytes in place, without building an
    /// upper-cased copy: the server matches keywords on every request.
    public func equalsIgnoringASCIICase(_ keyword: String) -> Bool {
        var word = self
        var keyword = keyword
        return word.withUTF8 { bytes in
            keyword.withUTF8 { expected in
                guard bytes.count == expected.count else { return false }
                for i in 0..<bytes.count {
                    let b = bytes[i]
                    if (b >= 97 && b <= 122 ? b - 32 : b) != expected[i] { return false }
                }
                return true
            }
        }
    }
}
