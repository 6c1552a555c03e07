import Dispatch

/// Reads a snapshot file into a `Database`, or fails without loading anything.
///
/// Order of trust: the header's magic, version and checksum; then each section
/// header's checksum and every length in it against the file's size; then, as the
/// decoder (`SnapshotCodec`, sections in parallel) asks for each section, each block's
/// checksum before it is decompressed (`SnapshotSections`); then the pieces are
/// cross-checked, and a section nobody asked for is an error. Any failure names the file and the
/// section. The file is memory-mapped, so the compressed bytes are never copied.
public enum SnapshotReader {
    public static func read(path: String) throws(CohortError) -> (Database, SnapshotMeta) {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        func fail(_ section: String, _ message: String) -> CohortError {
            .err("snapshot \(path) is unusable: section '\(section)': \(message)")
        }

        // Header.
        guard bytes.count >= SnapshotFormat.headerSize else {
            throw .err(
                "snapshot \(path) is unusable: section 'header': truncated (\(bytes.count) bytes, the header alone is \(SnapshotFormat.headerSize))")
        }
        guard bytes.prefix(8).elementsEqual(SnapshotFormat.magic) else {
            throw .err("\(path) is not a Cohort snapshot (wrong magic bytes)")
        }
        var header = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[8..<SnapshotFormat.headerSize]))
        let version = (try? header.read(UInt32.self, "version")) ?? 0
        let sectionCount = Int((try? header.read(UInt32.self, "section count")) ?? 0)
        _ = try? header.read(Int64.self, "created at")
        let flags = (try? header.read(UInt32.self, "flags")) ?? 0
        let headerCRC = (try? header.read(UInt32.self, "checksum")) ?? 0
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<28])) == headerCRC else {
            throw fail("header", "checksum mismatch (the file is corrupted)")
        }
        guard version >= SnapshotFormat.version else {
            throw .err(
                "snapshot \(path) has format version \(version), written by an earlier development build this one cannot read; recreate the data directory with cohort load"
            )
        }
        guard version <= SnapshotFormat.version else {
            throw .err(
                "snapshot \(path) has format version \(version), written by a newer Cohort; this build reads up to version \(SnapshotFormat.version)")
        }
        guard flags & SnapshotFormat.littleEndianFlag != 0 else { throw fail("header", "big-endian columns are not supported") }

        // Section headers: where each section's blocks are.
        var sections: [LocatedSection] = []
        var offset = SnapshotFormat.headerSize
        for index in 0..<sectionCount {
            var r = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            let label = "#\(index + 1)"
            do {
                let magic = try r.read(UInt32.self, "section magic")
                guard withUnsafeBytes(of: magic.littleEndian, { $0.elementsEqual(SnapshotFormat.sectionMagic) }) else {
                    throw fail(label, "no section starts at byte \(offset) (the file is corrupted)")
                }
                let nameLength = Int(try r.read(UInt16.self, "name length"))
                guard nameLength <= r.remaining else { throw fail(label, "truncated at byte \(bytes.count)") }
                let nameBytes = UnsafeRawBufferPointer(rebasing: r.bytes[r.offset..<r.offset + nameLength])
                let name = String(decoding: nameBytes, as: UTF8.self)
                var named = ByteReader(UnsafeRawBufferPointer(rebasing: r.bytes[(r.offset + nameLength)...]))
                let length = try named.readCount("length")
                let blockCount = Int(try named.read(UInt32.self, "block count"))
                guard blockCount <= named.remaining / 12 else { throw fail(name, "truncated in its block table") }
                var blocks: [SnapshotFormat.Block] = []
                blocks.reserveCapacity(blockCount)
                for _ in 0..<blockCount {
                    blocks.append(
                        SnapshotFormat.Block(
                            compressedLength: try named.read(UInt32.self, "block"), uncompressedLength: try named.read(UInt32.self, "block"),
                            checksum: try named.read(UInt32.self, "block")))
                }
                let headerEnd = offset + r.offset + nameLength + named.offset
                let storedCRC = try named.read(UInt32.self, "header checksum")
                guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[offset..<headerEnd])) == storedCRC else {
                    throw fail(name, "header checksum mismatch (the file is corrupted)")
                }
                // Lengths: every block but the last is full, they add up, and fit the file.
                var total = 0
                var compressedTotal = 0
                for (k, block) in blocks.enumerated() {
                    let full = k + 1 < blocks.count
                    guard Int(block.uncompressedLength) <= LZ4.maxBlockSize, !full || Int(block.uncompressedLength) == LZ4.maxBlockSize,
                        Int(block.compressedLength) <= LZ4.bound(Int(block.uncompressedLength))
                    else { throw fail(name, "block \(k) has impossible lengths") }
                    total += Int(block.uncompressedLength)
                    compressedTotal += Int(block.compressedLength)
                }
                guard total == length, blockCount > 0 else { throw fail(name, "blocks hold \(total) bytes, the section says \(length)") }
                let dataStart = headerEnd + 4
                guard compressedTotal <= bytes.count - dataStart else {
                    throw fail(name, "truncated: the file ends at byte \(bytes.count), the section needs \(dataStart + compressedTotal)")
                }
                guard !sections.contains(where: { $0.name == name }) else { throw fail(name, "appears twice") }
                sections.append(LocatedSection(name: name, length: length, blocks: blocks, dataStart: dataStart))
                offset = dataStart + compressedTotal
            } catch let error as ByteReader.Malformed {
                throw fail(sections.count == index ? label : sections.last!.name, "truncated at byte \(bytes.count) (\(error.what))")
            } catch let error as CohortError {
                throw error
            } catch {
                throw fail(label, "\(error)")
            }
        }
        guard offset == bytes.count else {
            throw fail(sections.last?.name ?? "header", "\(bytes.count - offset) unexpected bytes after the last section")
        }

        // Decode; each section is verified and decompressed when the decoder asks for it.
        let source = SnapshotSections(file: file, sections: sections)
        do throws(SectionError) {
            let result = try SnapshotCodec.database(from: source)
            if let unused = source.unused.first { throw SectionError(section: unused, message: "unexpected section (not part of this schema)") }
            return result
        } catch {
            throw fail(error.section, error.message)
        }
    }
}

/// Where one section's compressed blocks are in the file.
struct LocatedSection: Sendable {
    let name: String
    let length: Int
    let blocks: [SnapshotFormat.Block]
    let dataStart: Int
}

/// A validated snapshot's sections, decompressed on demand for `SnapshotCodec`: asking
/// for a section marks it used (one nobody asks for is reported as unexpected).
///
/// Each block's checksum is verified before it is decompressed; a section's blocks are
/// decompressed in parallel (Dispatch), each worker writing only its own 4 MiB of the
/// destination. A raw column is decompressed straight into the array that keeps it, so
/// the data is written to memory once. Thread-safe: the map is read-only; `lock` guards
/// the payloads kept alive and the set of sections used.
final class SnapshotSections: @unchecked Sendable {
    private let file: MappedFile
    private let sections: [String: LocatedSection]
    private let lock = Lock()
    /// Guarded by `lock`.
    private var used: Set<String> = []
    private var payloads: [UnsafeMutableRawBufferPointer] = []

    init(file: MappedFile, sections: [LocatedSection]) {
        self.file = file
        var byName: [String: LocatedSection] = [:]
        for section in sections { byName[section.name] = section }
        self.sections = byName
    }

    deinit { for p in payloads { p.deallocate() } }

    /// Sections the decoder never asked for.
    var unused: [String] { lock.withLock { sections.keys.filter { !used.contains($0) }.sorted() } }

    /// Whether the file has section `name` (for sections later builds added).
    func contains(_ name: String) -> Bool { sections[name] != nil }

    private func take(_ name: String) throws(SectionError) -> LocatedSection {
        guard let section = sections[name] else { throw SectionError(section: name, message: "section is missing") }
        lock.withLock { _ = used.insert(name) }
        return section
    }

    func payload(_ name: String) throws(SectionError) -> UnsafeRawBufferPointer {
        let section = try take(name)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(section.length, 1), alignment: 16)
        lock.withLock { payloads.append(buffer) }
        let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<section.length])
        try decompress(section, into: bytes)
        return UnsafeRawBufferPointer(bytes)
    }

    func array<T: BitwiseCopyable>(_ name: String, of type: T.Type) throws(SectionError) -> ContiguousArray<T> {
        let section = try take(name)
        let stride = MemoryLayout<T>.stride
        guard section.length % stride == 0 else {
            throw SectionError(section: name, message: "\(section.length) bytes is not a whole number of \(stride)-byte values")
        }
        let count = section.length / stride
        var failure: SectionError?
        // On failure the array holds garbage bit patterns of a trivial type and is dropped.
        let array = ContiguousArray<T>(filling: count) { buffer in
            HugePages.advise(UnsafeMutableRawPointer(buffer.baseAddress), byteCount: section.length)
            do throws(SectionError) {
                try decompress(section, into: UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
            }
        }
        // An empty column has nothing to fill, but its (empty) block is still verified.
        if count == 0 { try decompress(section, into: UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
        if let failure { throw failure }
        return array
    }

    /// Verifies and decompresses every block of `section` into `destination`
    /// (`section.length` bytes), in parallel.
    private func decompress(_ section: LocatedSection, into destination: UnsafeMutableRawBufferPointer) throws(SectionError) {
        var starts: [Int] = []
        var source = section.dataStart
        for block in section.blocks {
            starts.append(source)
            source += Int(block.compressedLength)
        }
        let failures = UnsafeMutableBufferPointer<String?>.allocate(capacity: section.blocks.count)
        failures.initialize(repeating: nil)
        defer {
            failures.deinitialize()
            failures.deallocate()
        }
        nonisolated(unsafe) let failed = failures
        nonisolated(unsafe) let output = destination
        // The map is read-only while the workers run; `file` keeps it mapped.
        nonisolated(unsafe) let mapped = file.bytes
        let blocks = section.blocks
        let work = starts
        DispatchQueue.concurrentPerform(iterations: blocks.count) { k in
            let block = blocks[k]
            let input = UnsafeRawBufferPointer(rebasing: mapped[work[k]..<work[k] + Int(block.compressedLength)])
            guard CRC32C.checksum(input) == block.checksum else {
                failed[k] = "block \(k) checksum mismatch (the file is corrupted)"
                return
            }
            let start = k * LZ4.maxBlockSize
            let target = UnsafeMutableRawBufferPointer(rebasing: output[start..<start + Int(block.uncompressedLength)])
            if !LZ4.decompress(input, into: target) { failed[k] = "block \(k) does not decompress (the file is corrupted)" }
        }
        if let failure = failures.first(where: { $0 != nil }) ?? nil { throw SectionError(section: section.name, message: failure) }
    }
}
