import ArgumentParser
import CohortCore
import Foundation

@main
struct CohortCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cohort",
        abstract: "Cohort: an in-memory segmentation and aggregation engine.",
        version: Cohort.version,
        subcommands: [Generate.self, Load.self, Run.self, Recompute.self, Report.self, Serve.self, SnapshotBenchmark.self]
    )
}

/// Parses a `--now`/`--end` style time option.
struct TimeOption: ExpressibleByArgument {
    let seconds: Int64
    init?(argument: String) {
        guard let seconds = TimeFormat.parse(argument) else { return nil }
        self.seconds = seconds
    }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// Prints to standard error.
func note(_ text: String) {
    FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
}

/// Turns an engine error into a failing exit with its message.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ error: CohortError) { description = error.message }
    init(_ message: String) { description = message }
}

func formatCount(_ n: Double) -> String {
    n >= 1e6 ? String(format: "%.2fM", n / 1e6) : n >= 1e3 ? String(format: "%.1fk", n / 1e3) : String(format: "%.0f", n)
}
