extension ContiguousArray where Element: BitwiseCopyable {
    /// An array of exactly `count` elements written by `fill` into uninitialized storage.
    ///
    /// Unlike calling `init(unsafeUninitializedCapacity:initializingWith:)` directly, an
    /// empty array never runs the initializer: with capacity 0 the standard library writes
    /// the count into the storage shared by all empty arrays, a race when arrays are built
    /// on several threads at once (found by the thread sanitizer in parallel snapshot
    /// decoding). `fill` must write every element.
    init(filling count: Int, _ fill: (UnsafeMutableBufferPointer<Element>) -> Void) {
        guard count > 0 else {
            self = []
            return
        }
        self.init(unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(buffer)
            initialized = count
        }
    }
}
