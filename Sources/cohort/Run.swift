import ArgumentParser
import CohortCore
import Dispatch
import Foundation

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one protocol command (or each line of standard input) against the embedded engine.",
        discussion: "Replies are printed as redis-cli prints them when not on a terminal. With no --data-dir, the demo dataset in data/ is loaded."
    )

    @Option(help: "Data directory; mutations are journaled there. Without it, the demo dataset is used in a temporary one.")
    var dataDir: String?
    @Option(help: "Fix the evaluation time (Unix seconds or ISO-8601).") var now: TimeOption?
    @Option(help: "Directory of the demo dataset used without --data-dir (default: data/, else generated).") var demo: String?
    @Flag(help: "Print each command's execution time to standard error.") var timing = false
    @Option(help: "Merge an event type's delta into its sorted base in the background once it holds this many events.")
    var mergeThreshold = 65_536
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.") var command: [String] = []

    func validate() throws {
        guard mergeThreshold > 0 else { throw ValidationError("--merge-threshold must be a positive number of events") }
    }

    func run() throws {
        let (directory, engine, temporary) = try openDataDirectoryOrDemo(dataDir, demo: demo, create: false, now: now?.seconds)
        engine.mergeThreshold = mergeThreshold
        defer { if let temporary { removeTemporaryDirectory(temporary) } }
        var failed = false
        if command.isEmpty {
            while let line = readLine(strippingNewline: true) {
                // A definitions file is a valid script (DESIGN §6): `#` lines are comments.
                if DefinitionsScript.isBlankOrComment(line) { continue }
                let words: [String]
                do { words = try InlineCommand.split(line) } catch {
                    print(error.description)
                    failed = true
                    continue
                }
                if words.isEmpty { continue }
                failed = ReplyPrinter.print(execute(engine, words)) || failed
                // A reply on stdout means acknowledged: hand it over now, not at exit.
                fflush(nil)
            }
        } else {
            failed = ReplyPrinter.print(execute(engine, command))
        }
        try closeDataDirectory(directory)
        if failed { throw ExitCode(1) }
    }
}

extension Run {
    func execute(_ engine: Engine, _ words: [String]) -> Reply {
        let start = DispatchTime.now().uptimeNanoseconds
        let reply = engine.execute(words)
        if timing {
            let micros = Double(DispatchTime.now().uptimeNanoseconds - start) / 1000
            note(String(format: "time_us %.1f %@", micros, words.prefix(2).joined(separator: " ")))
        }
        return reply
    }
}

enum DemoData {
    /// data/ of the package, found from the working directory or the executable path;
    /// nil when neither has it (an installed binary): then the demo is generated.
    static var defaultDirectory: String? {
        let candidates =
            [FileManager.default.currentDirectoryPath + "/data"]
            + [
                URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
                    .appendingPathComponent("../../../data").standardized.path
            ]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/schema.cohort") }
    }

    /// How data/ was made: the same generator run gives the same bytes anywhere.
    static let generator = GeneratorOptions(users: 3000, seed: 42)
}

/// Prints replies the way redis-cli does when its output is not a terminal.
enum ReplyPrinter {
    /// Prints `reply`; returns true when it was an error.
    @discardableResult
    static func print(_ reply: Reply) -> Bool {
        var lines: [String] = []
        let failed = render(reply, into: &lines)
        for line in lines { Swift.print(line) }
        return failed
    }

    static func render(_ reply: Reply, into lines: inout [String]) -> Bool {
        switch reply {
        case .status(let s), .bulk(let s): lines.append(s)
        case .error(let e):
            lines.append(e.description)
            return true
        case .integer(let v): lines.append(String(v))
        case .null, .nullArray: lines.append("")
        case .double(let v): lines.append(Reply.format(v))
        case .bool(let v): lines.append(v ? "1" : "0")
        case .array(let items), .push(let items), .frames(let items):
            for item in items { _ = render(item, into: &lines) }
        case .map(let entries), .pairs(let entries):
            for entry in entries {
                _ = render(entry.key, into: &lines)
                _ = render(entry.value, into: &lines)
            }
        }
        return false
    }
}
