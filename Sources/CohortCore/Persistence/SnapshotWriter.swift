import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What writing a snapshot did, for logs and benchmarks.
public struct SnapshotReport: Sendable {
    public let path: String
    public let sections: Int
    /// Payload bytes before compression.
    public let uncompressedBytes: Int
    /// Size of the file written.
    public let fileBytes: Int
    public let seconds: Double
}

/// Writes a `Database` as a snapshot file (layout: `SnapshotFormat`, FORMAT.md).
///
/// The database passed in is an immutable copy-on-write view, so the engine keeps
/// serving reads and writes while it is written (writers pay for copying what they
/// change, which for events is only the small delta). A view with delta events is
/// compacted here, in its own copy: the file holds the base layout only. Structured sections are encoded in parallel; large columns are compressed
/// straight from their own memory; every 4 MiB block of every section is compressed in
/// parallel (Dispatch `concurrentPerform`; each worker writes only its own block slot);
/// then the file is written sequentially to `path.tmp`, fsynced, renamed over `path`,
/// and the directory fsynced. A crash at any point leaves the old file or the new one.
/// Memory while writing: the small structured payloads plus the compressed blocks.
public enum SnapshotWriter {
    @discardableResult
    /// `workers` bounds the threads compaction and compression use (all cores by default).
    public static func write(_ db: Database, meta: SnapshotMeta, to path: String, workers: Int = .max) throws(CohortError) -> SnapshotReport {
        let start = DispatchTime.now().uptimeNanoseconds
        var db = db
        // The file holds the base layout only: the copy's indexes are not built.
        db.compactForEncoding(workers: workers)
        let sections = SnapshotCodec.sections(of: db, meta: meta, workers: workers)

        // Every block of every section, compressed in parallel.
        var jobs: [(section: Int, range: Range<Int>)] = []
        for (s, section) in sections.enumerated() {
            var offset = 0
            repeat {
                let end = min(offset + LZ4.maxBlockSize, section.byteCount)
                jobs.append((s, offset..<end))
                offset = end
            } while offset < section.byteCount
        }
        let work = jobs
        let compressed = parallelMap(work.count, workers: workers) { j -> (SnapshotFormat.Block, [UInt8]) in
            let (s, range) = work[j]
            var result = (SnapshotFormat.Block(compressedLength: 0, uncompressedLength: 0, checksum: 0), [UInt8]())
            sections[s].withBytes { payload in
                let source = UnsafeRawBufferPointer(rebasing: payload[range])
                var block = [UInt8](repeating: 0, count: LZ4.bound(source.count))
                let n = block.withUnsafeMutableBytes { LZ4.compress(source, into: $0) }
                block.removeLast(block.count - n)
                let crc = block.withUnsafeBytes { CRC32C.checksum($0) }
                result = (SnapshotFormat.Block(compressedLength: UInt32(n), uncompressedLength: UInt32(range.count), checksum: crc), block)
            }
            return result
        }

        // Sequential write of header, section headers and blocks.
        let temporary = path + ".tmp"
        let fd = try FileIO.open(temporary, O_WRONLY | O_CREAT | O_TRUNC)
        var closed = false
        defer { if !closed { close(fd) } }
        var fileBytes = 0
        func put(_ bytes: [UInt8]) throws(CohortError) {
            try FileIO.writeAll(fd, bytes, path: temporary)
            fileBytes += bytes.count
        }
        do throws(CohortError) {
            try put(SnapshotFormat.encodeHeader(sectionCount: sections.count, createdAt: meta.createdAt))
            var j = 0
            for (s, section) in sections.enumerated() {
                let first = j
                while j < jobs.count, jobs[j].section == s { j += 1 }
                let blocks = (first..<j).map { compressed[$0].0 }
                try put(SnapshotFormat.encodeSectionHeader(name: section.name, uncompressedLength: section.byteCount, blocks: blocks))
                for k in first..<j { try put(compressed[k].1) }
            }
            try FileIO.sync(fd, path: temporary)
            closed = true
            guard close(fd) == 0 else { throw CohortError.err("cannot close \(temporary): \(FileIO.reason())") }
            try FileIO.rename(temporary, path)
            try FileIO.syncDirectory(directory(of: path))
        } catch {
            FileIO.remove(temporary)
            throw error
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return SnapshotReport(
            path: path, sections: sections.count, uncompressedBytes: sections.reduce(0) { $0 + $1.byteCount }, fileBytes: fileBytes,
            seconds: seconds)
    }

    /// The sections' payloads, uncompressed and back to back: the bytes a snapshot
    /// compresses, for comparing against the `lz4` tool on the same input (benchmarks).
    public static func uncompressedBytes(of db: Database) -> [UInt8] {
        var bytes: [UInt8] = []
        for section in SnapshotCodec.sections(of: db, meta: SnapshotMeta(createdAt: 0, journalGeneration: 1)) {
            section.withBytes { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
