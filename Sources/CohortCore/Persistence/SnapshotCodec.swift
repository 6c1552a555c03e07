import Dispatch

/// What a snapshot records besides the database itself.
public struct SnapshotMeta: Equatable, Sendable {
    /// When the snapshot was taken (Unix seconds).
    public var createdAt: Int64
    /// The first journal generation whose records are not in the snapshot: recovery
    /// replays journals from this generation on.
    public var journalGeneration: UInt64

    public init(createdAt: Int64, journalGeneration: UInt64) {
        self.createdAt = createdAt
        self.journalGeneration = journalGeneration
    }
}

/// A failure inside one section's payload.
struct SectionError: Error {
    let section: String
    let message: String
}

/// Turns a compacted `Database` into named section payloads and back (the contents
/// of the snapshot format's sections; see FORMAT.md for what each holds).
///
/// Encoding copies each column once into its payload; decoding copies it once out of
/// the decompressed payload. Sections are built and decoded in parallel with Dispatch:
/// each worker reads the shared immutable database or its own payload and writes
/// only its own result slot.
enum SnapshotCodec {
    /// One section to write: its name, its uncompressed length, and access to its bytes.
    /// Structured sections are encoded into a buffer; a large column is a raw section
    /// whose bytes are the column's own memory (no copy), read in place while compressing.
    struct Section: Sendable {
        let name: String
        let byteCount: Int
        let withBytes: @Sendable (_ body: (UnsafeRawBufferPointer) -> Void) -> Void

        static func encoded(_ name: String, _ bytes: [UInt8]) -> Section {
            Section(name: name, byteCount: bytes.count, withBytes: { body in bytes.withUnsafeBytes(body) })
        }

        static func raw<T: BitwiseCopyable & Sendable>(_ name: String, _ array: ContiguousArray<T>) -> Section {
            Section(name: name, byteCount: array.count * MemoryLayout<T>.stride, withBytes: { body in array.withUnsafeBytes(body) })
        }
    }
}
