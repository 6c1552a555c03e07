import ArgumentParser
import CohortCore
import Dispatch
import Foundation

/// `cohort snapshot-benchmark`: times reading and writing a data directory's snapshot and
/// exports the uncompressed section bytes, so Benchmarks/persistence.sh can time the
/// `lz4` tool on exactly the same input. Not part of the contract; hidden from help.
struct SnapshotBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot-benchmark", abstract: "Time snapshot load and write (benchmarks).", shouldDisplay: false)

    @Option(help: "Data directory with a snapshot.") var dataDir: String
    @Option(help: "Write the uncompressed section bytes here.") var uncompressedOut: String?

    func run() throws {
        let path = dataDir + "/snapshot.cohort"
        let start = DispatchTime.now().uptimeNanoseconds
        let (db, meta) = try SnapshotReader.read(path: path)
        let readSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let out = NSTemporaryDirectory() + "cohort-snapshot-benchmark-\(getpid()).cohort"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let report = try SnapshotWriter.write(db, meta: meta, to: out)
        if let uncompressedOut {
            let bytes = SnapshotWriter.uncompressedBytes(of: db)
            guard FileManager.default.createFile(atPath: uncompressedOut, contents: Data(bytes)) else {
                throw CLIError("cannot write \(uncompressedOut)")
            }
        }
        print(
            String(format: "read_s %.3f write_s %.3f", readSeconds, report.seconds)
                + " file_bytes \(report.fileBytes) uncompressed_bytes \(report.uncompressedBytes) users \(db.users.liveCount) events \(db.events.liveCount)"
        )
    }
}
