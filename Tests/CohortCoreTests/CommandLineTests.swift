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

    /// `cohort report` on a data directory: the page is written, with the given funnel and
    /// the split's conversion; a bad funnel is an error naming it, and no file is left.
    @Test func reportWritesThePage() throws {
        let executable = try #require(builtExecutable(named: "cohort"))
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let setup = try run(executable, ["run", "--data-dir", data, "--now", "2026-07-01"], in: directory.path, input: DemoSchema.text + """
            EVENT.ADD u1 registration_started 2026-06-02T10:00:00Z
            EVENT.ADD u1 registration_completed 2026-06-02T10:05:00Z
            USER.SET u1 signup_at 2026-06-25T00:00:00Z
            SPLIT.DEFINE welcome new_users ARMS control 50 treatment 50

            """)
        #expect(setup.status == 0, "\(setup)")
        let out = directory.path + "/report.html"
        let funnel = "2 registration_started registration_completed WITHIN 1d FROM 2026-06-01 TO 2026-06-08"
        let result = try run(
            executable, ["report", "--data-dir", data, "--now", "2026-07-01", "--out", out, "--funnel", funnel, "--convert", "EVENT purchase WITHIN 7d"],
            in: directory.path)
        #expect(result.status == 0, "\(result)")
        let page = try String(contentsOfFile: out, encoding: .utf8)
        for text in ["<h2>Funnels</h2>", "registration_completed</td><td class=\"num\">1</td>", "welcome", "EVENT purchase WITHIN 7d", "new_users"] {
            #expect(page.contains(text), "\(text)")
        }
        let bad = try run(executable, ["report", "--data-dir", data, "--out", directory.path + "/bad.html", "--funnel", "2 nope"], in: directory.path)
        #expect(bad.status != 0)
        #expect(bad.errors.contains("--funnel '2 nope'"), "\(bad.errors)")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/bad.html"))
    }
}
