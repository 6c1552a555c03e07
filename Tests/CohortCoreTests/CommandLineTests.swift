import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// The `cohort` executable as a new user meets it: scripts piped into `run`, and a
/// binary started away from the repository.
struct CommandLineTests {
    /// Runs `executable arguments` in `directory` with `input` on standard input.
    func run(_ executable: String, _ arguments: [String], in directory: String, input: String = "") throws -> (
        status: Int32, output: String, errors: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let (stdin, stdout, stderr) = (Pipe(), Pipe(), Pipe())
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: errors, as: UTF8.self))
    }

    @Test func aDefinitionsFilePipedIntoRunSkipsCommentsAndExitsZero() throws {
        let executable = try #require(builtExecutable(named: "cohort"))
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let script = "# schema\n\nATTR.DEFINE plan string\n   # indented comment\nSEGMENT.DEFINE pros \"plan = \\\"pro\\\"\"\n"
        let result = try run(executable, ["run", "--data-dir", directory.path], in: directory.path, input: script)
        #expect(result.status == 0, "\(result)")
        #expect(result.output == "OK\nOK\n")
    }

    /// An installed binary (no data/ beside it or in the working directory) serves the
    /// demo dataset it generates, the same as data/.
    @Test func runWithoutDataDirWorksAwayFromTheRepository() throws {
        let executable = try #require(builtExecutable(named: "cohort"))
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let installed = directory.file("cohort")
        try FileManager.default.copyItem(atPath: executable, toPath: installed)
        let result = try run(installed, ["run", "--now", "2026-07-01", "SEGMENT.COUNT", "premium_eligible"], in: directory.path)
        #expect(result.status == 0, "\(result)")
        #expect(result.errors.contains("generated the demo dataset"))
        // The same answer as on data/ (the generator is deterministic per seed).
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let reference = try run(executable, ["run", "--now", "2026-07-01", "--demo", repository + "/data", "SEGMENT.COUNT", "premium_eligible"], in: repository)
        #expect(reference.status == 0 && result.output == reference.output, "\(result.output) vs \(reference.output)")
    }
}
