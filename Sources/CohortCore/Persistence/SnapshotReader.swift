import Dispatch

/// Reads a snapshot file into a `Database`, or fails without loading anything.
///
/// Order of trust: the header's magic, version and checksum; then each section
/// header's checksum and every length in it against the file's size; then each
/// block's checksum before it is decompressed (in parallel, each worker writing only
/// its own block's bytes of its section's payload); then the payloads are decoded (in
/// parallel, see `SnapshotCodec`) and cross-checked. Any failure names the file and the
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
            throw .err("snapshot \(path) is unusable: section 'header': truncated (\(bytes.count) bytes, the header alone is \(SnapshotFormat.headerSize))")
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
        guard version <= SnapshotFormat.version else {
            throw .err(
                "snapshot \(path) has format version \(version), written by a newer Cohort; this build reads up to version \(SnapshotFormat.version)")
        }
        guard flags & SnapshotFormat.littleEndianFlag != 0 else { throw fail("header", "big-endian columns are not supported") }

        // Section headers: where each section's blocks are.
        struct Located {
            let name: String
            let length: Int
            let blocks: [SnapshotFormat.Block]
            let dataStart: Int
        }
        var sections: [Located] = []
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
                sections.append(Located(name: name, length: length, blocks: blocks, dataStart: dataStart))
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

        // Verify and decompress every block in parallel into per-section payloads.
        let payloads = sections.map {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max($0.length, 1), alignment: 16)
            HugePages.advise(buffer.baseAddress, byteCount: buffer.count)
            return buffer
        }
        defer { for p in payloads { p.deallocate() } }
        var jobs: [(section: Int, block: Int, source: Int, destination: Int)] = []
        for (s, section) in sections.enumerated() {
            var source = section.dataStart
            for (k, block) in section.blocks.enumerated() {
                jobs.append((s, k, source, k * LZ4.maxBlockSize))
                source += Int(block.compressedLength)
            }
        }
        let failures = UnsafeMutableBufferPointer<String?>.allocate(capacity: jobs.count)
        failures.initialize(repeating: nil)
        defer {
            failures.deinitialize()
            failures.deallocate()
        }
        nonisolated(unsafe) let failed = failures
        nonisolated(unsafe) let outputs = payloads
        let located = sections
        let work = jobs
        // The mapped file is read-only while the workers run; `file` keeps it mapped.
        nonisolated(unsafe) let mapped = bytes
        DispatchQueue.concurrentPerform(iterations: work.count) { j in
            let job = work[j]
            let block = located[job.section].blocks[job.block]
            let source = UnsafeRawBufferPointer(rebasing: mapped[job.source..<job.source + Int(block.compressedLength)])
            guard CRC32C.checksum(source) == block.checksum else {
                failed[j] = "block \(job.block) checksum mismatch (the file is corrupted)"
                return
            }
            let destination = UnsafeMutableRawBufferPointer(
                rebasing: outputs[job.section][job.destination..<job.destination + Int(block.uncompressedLength)])
            if !LZ4.decompress(source, into: destination) { failed[j] = "block \(job.block) does not decompress (the file is corrupted)" }
        }
        for (j, failure) in failures.enumerated() {
            if let failure { throw fail(sections[jobs[j].section].name, failure) }
        }

        var byName: [String: UnsafeRawBufferPointer] = [:]
        for (s, section) in sections.enumerated() {
            byName[section.name] = UnsafeRawBufferPointer(rebasing: payloads[s][0..<section.length])
        }
        do {
            let result = try SnapshotCodec.database(from: byName)
            withExtendedLifetime(file) {}
            return result
        } catch {
            throw fail(error.section, error.message)
        }
    }
}
