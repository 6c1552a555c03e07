import Foundation

/// What a child process printed and how it ended.
public struct ChildOutput {
    public let status: Int32
    public let out: String
    public let err: String
    /// False when it was still running at the deadline (then terminated).
    public let finished: Bool
}

/// Runs `executable` with `arguments` and waits at most `timeout` seconds. Output goes to
/// files, not pipes: a grandchild left behind would hold a pipe open and a read to its
/// end would never return.
public func runChild(_ executable: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> ChildOutput {
    let directory = TemporaryDirectory("cohort-child")
    defer { directory.remove() }
    let (out, err) = (directory.file("out"), directory.file("err"))
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    _ = FileManager.default.createFile(atPath: err, contents: nil)
    let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    defer {
        try? outHandle.close()
        try? errHandle.close()
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = outHandle
    process.standardError = errHandle
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(50_000) }
    let finished = !process.isRunning
    if !finished { process.terminate() }
    process.waitUntilExit()
    return ChildOutput(
        status: process.terminationStatus, out: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
        err: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "", finished: finished)
}
