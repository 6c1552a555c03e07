import CMalloc
import Dispatch

/// The process's memory, as `--maxmemory` and INFO's `# Memory` read it: `used` is what
/// the allocator has handed out and not had back (glibc's `mallinfo2`: in-use arena
/// chunks plus mmapped blocks), Redis's `used_memory`. The allocator's figure, unlike RSS,
/// falls as soon as memory is freed (RSS waits for the allocator to give pages back), so
/// writes resume once data is deleted. Under an allocator glibc does not see (a
/// sanitizer's, or a preloaded one) `mallinfo2` reports nothing; then RSS stands in.
///
/// Thread-safe: the sample is cached behind a mutex and refreshed at most every
/// `maxAge` (a `mallinfo2` call walks the allocator's arenas: microseconds, too much per
/// write but nothing per 100 ms).
public final class MemoryGauge: @unchecked Sendable {
    private let lock = Lock()
    /// Protected by `lock`.
    private var sampledAt: UInt64 = 0
    private var cached = 0
    private let maxAge: UInt64

    public init(maxAgeNanoseconds: UInt64 = 100_000_000) { self.maxAge = maxAgeNanoseconds }

    /// Bytes in use by the allocator, at most `maxAge` old.
    public var used: Int {
        let now = DispatchTime.now().uptimeNanoseconds
        return lock.withLock {
            if sampledAt == 0 || now &- sampledAt >= maxAge {
                cached = ProcessMemory.usedBytes()
                sampledAt = now
            }
            return cached
        }
    }

}

extension ProcessMemory {
    /// Returns the allocator's free pages to the kernel (glibc `malloc_trim`): RSS falls back
    /// towards `usedBytes`. Costs a walk of the heaps (milliseconds); for after a large
    /// transient allocation, off any request's path.
    public static func returnFreePages() { _ = malloc_trim(0) }

    /// Bytes in use by the allocator now (glibc `mallinfo2`: in-use chunks plus mmapped
    /// blocks), or RSS when glibc's allocator is not the one in use (it reports 0).
    public static func usedBytes() -> Int {
        let info = mallinfo2()
        let allocated = Int(info.uordblks) + Int(info.hblkhd)
        return allocated > 0 ? allocated : residentBytes()
    }
}
