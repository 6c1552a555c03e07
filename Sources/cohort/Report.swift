import ArgumentParser
import CohortCore
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one self-contained HTML page about a data directory: segments, overlap, funnels, splits, active users.",
        discussion: """
            Every segment with its size and a 30-day daily size chart, the overlap of the segments as a heatmap,
            each --funnel as bars with drop-off rates, each split with its arms (with --convert: rates, intervals and
            p-values), and the daily active users of --active (default app_open when defined). Charts are inline SVG;
            the page loads nothing. Example:
              cohort report --data-dir d --now 2026-07-01 --out report.html \\
                --funnel "3 registration_started registration_completed ride WITHIN 7d FROM 2026-06-01 TO 2026-06-08" \\
                --convert "EVENT purchase WITHIN 7d"
            """
    )

    @Option(help: "Data directory; default: the demo dataset.") var dataDir: String?
    @Option(help: "The report's time (Unix seconds or ISO-8601); default: the clock.") var now: TimeOption?
    @Option(help: "Output file.") var out = "report.html"
    @Option(help: "A funnel, as FUNNEL's arguments (repeatable).") var funnel: [String] = []
    @Option(help: "The conversion of every split, as SPLIT.REPORT's words after CONVERT.") var convert: String?
    @Option(help: "The event whose daily users are the active users.") var active: String?

    func run() throws {
        let (directory, engine, temporary) = try openDataDirectoryOrDemo(dataDir, demo: nil, create: false, now: now?.seconds)
        defer { if let temporary { removeTemporaryDirectory(temporary) } }
        var options = ReportPage.Options(now: engine.environment.now)
        options.funnels = funnel
        options.conversion = convert
        options.activeEvent = active
        let html: String
        do {
            html = try ReportPage(engine: engine, options: options).html()
        } catch {
            try? closeDataDirectory(directory)
            throw CLIError(error)
        }
        try closeDataDirectory(directory)
        do { try html.write(toFile: out, atomically: true, encoding: .utf8) } catch { throw CLIError("cannot write \(out): \(error.localizedDescription)") }
        note("wrote \(out) (\(html.utf8.count) bytes)")
    }
}
