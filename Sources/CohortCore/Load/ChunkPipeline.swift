import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parallel parsing with in-order application, shared by the CSV loads.
///
/// The body of a file is cut into chunks at record boundaries; chunks are parsed on
/// the global concurrent queue while the calling thread applies them strictly in file
/// order as each becomes ready, and frees each one once applied. So parsing runs on
/// every core, applying (which touches the shared database) stays single-threaded
/// and deterministic, and at most the chunks not yet applied are held in memory.
enum ChunkPipeline {
    /// Parses `ranges` with `parse` and hands the results to `apply` in order.
    ///
    /// Concurrency: each worker writes only its own slot; `ready[k]` orders that write
    /// before the applying thread reads it. Returns only after every worker has
    /// finished, also when `apply` throws.
    static func run<Chunk>(
        _ ranges: [Range<Int>], empty: Chunk, parse: @escaping @Sendable (Range<Int>) -> Chunk,
        apply: (Chunk) throws(CohortError) -> Void
    ) throws(CohortError) {
        let chunks = UnsafeMutableBufferPointer<Chunk>.allocate(capacity: ranges.count)
        chunks.initialize(repeating: empty)
        defer { chunks.deinitialize().deallocate() }
        nonisolated(unsafe) let slots = chunks
        let ready = ranges.map { _ in DispatchSemaphore(value: 0) }
        let parsing = DispatchGroup()
        for k in ranges.indices {
            DispatchQueue.global().async(group: parsing) {
                slots[k] = parse(ranges[k])
                ready[k].signal()
            }
        }
        defer { parsing.wait() }
        for k in chunks.indices {
            ready[k].wait()
            let chunk = chunks[k]
            chunks[k] = empty
            try apply(chunk)
        }
    }

    /// Enough chunks to keep every core busy and the pipeline fine-grained, none
    /// smaller than 1 MiB.
    static func chunkCount(_ bytes: Int) -> Int {
        let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return max(1, min(bytes / (1 << 20), max(cores * 4, bytes / (64 << 20))))
    }

    /// Cuts `bytes[start...]` into about `parts` ranges that each end at a record
    /// boundary: a newline outside quotes. Quote parity is tracked from `start` (every
    /// quote toggles it, `""` toggles twice), so quoted newlines never split a record.
    static func split(_ bytes: UnsafeRawBufferPointer, from start: Int, parts: Int) -> [Range<Int>] {
        let n = bytes.count
        guard parts > 1, n - start > parts else { return start < n ? [start..<n] : [] }
        var ranges: [Range<Int>] = []
        var lo = start
        var scanned = start
        var inQuotes = false
        for p in 1..<parts {
            let target = start + (n - start) / parts * p
            guard target > lo else { continue }
            while scanned < target {
                if bytes[scanned] == UInt8(ascii: "\"") { inQuotes.toggle() }
                scanned += 1
            }
            while scanned < n, inQuotes || bytes[scanned] != UInt8(ascii: "\n") {
                if bytes[scanned] == UInt8(ascii: "\"") { inQuotes.toggle() }
                scanned += 1
            }
            guard scanned < n else { break }
            scanned += 1
            ranges.append(lo..<scanned)
            lo = scanned
        }
        if lo < n { ranges.append(lo..<n) }
        return ranges
    }
}
