import ArgumentParser
import CohortCore

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gen",
        abstract: "Write a deterministic synthetic population: DIR/schema.cohort, DIR/users.csv, DIR/events.csv."
    )

    @Option(help: "Number of users.") var users: Int
    @Option(help: "Random seed: the same seed gives the same bytes.") var seed: UInt64 = 42
    @Option(help: "Days of activity before --end.") var days: Int = 180
    @Option(help: "End of the activity window (Unix seconds or ISO-8601).") var end: TimeOption?
    @Option(help: "Output directory (created if missing).") var out: String

    func run() throws {
        var options = GeneratorOptions(users: users, seed: seed, days: days)
        if let end { options.end = end.seconds }
        do {
            let report = try DatasetGenerator.write(options, to: out) { done, total in
                // About every 10%, and only for runs long enough to need it.
                let step = max(1, total / 10)
                if total >= 200_000, done % step < 16_384 || done == total { note("gen: \(done)/\(total) users") }
            }
            print(
                "wrote \(out)/schema.cohort, users.csv, events.csv: \(report.users) users, \(report.events) events, \(report.bytes / 1_048_576) MiB in \(String(format: "%.1f", report.seconds)) s"
            )
        } catch {
            throw CLIError(error)
        }
    }
}
