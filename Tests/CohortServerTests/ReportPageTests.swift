import CohortCore
import CohortTestSupport
import Foundation
import Testing

/// `cohort report`'s page in a real browser: Debian's headless Chromium (installed by
/// scripts/setup.sh) renders it to a screenshot, kept in .build/test-artifacts/, and
/// its DOM must hold the sections and the figures the engine answers, with no console
/// errors and nothing loaded from anywhere.
struct ReportPageTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func chromium() -> String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs Chromium headless on `arguments`; its standard output and error.
    func browser(_ arguments: [String]) throws -> (out: String, err: String) {
        let profile = TemporaryDirectory("cohort-chromium")
        defer { profile.remove() }
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile.path)", "--enable-logging=stderr", "--v=0"]
        let result = try runChild(Self.chromium()!, flags + arguments)
        #expect(result.finished, "chromium did not finish within 60 s")
        return (result.out, result.err)
    }

    @Test func theReportRendersInHeadlessChromium() throws {
        guard Self.chromium() != nil else {
            Issue.record("chromium is missing: run scripts/test.sh (scripts/setup.sh installs it)")
            return
        }
        let directory = TemporaryDirectory("cohort-report")
        defer { directory.remove() }
        let now = demoNow
        let engine = Engine(fixedNow: now, clock: { now })
        try loadGeneratedDemo(users: 2000, directory: directory.path, into: engine)
        #expect(engine.execute(["SPLIT.DEFINE", "welcome_test", "new_users", "ARMS", "control", "50", "treatment", "50"]) == .ok)
        var options = ReportPage.Options(now: now)
        options.funnels = ["3 registration_started registration_completed ride WITHIN 7d FROM 2026-06-01 TO 2026-06-08"]
        options.conversion = "EVENT purchase WITHIN 7d"
        let html = try ReportPage(engine: engine, options: options).html()
        // Self-contained: nothing to fetch, nothing to run.
        for forbidden in ["<script", "<link", "src=", "@import", "url("] { #expect(!html.contains(forbidden), "\(forbidden)") }
        let page = directory.file("report.html")
        try html.write(toFile: page, atomically: true, encoding: .utf8)

        let artifacts = Self.packageRoot.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts.appendingPathComponent("report.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        let shot = try browser(["--screenshot=\(screenshot)", "--window-size=1280,2800", "file://\(page)"])
        let size = (try? FileManager.default.attributesOfItem(atPath: screenshot)[.size] as? Int) ?? 0
        #expect(size > 20_000, "no screenshot (\(size) bytes): \(shot.err.suffix(2000))")
        #expect(!shot.err.contains("CONSOLE"), "console messages: \(shot.err.suffix(2000))")

        let dom = try browser(["--dump-dom", "file://\(page)"]).out
        for heading in ["Cohort report", "Segments", "Overlap", "Funnels", "Splits", "Daily active users"] {
            #expect(dom.contains(heading), "\(heading)")
        }
        for name in ["premium_eligible", "dormant_riders", "welcome_test", "control", "treatment"] { #expect(dom.contains(name), "\(name)") }
        let users = engine.read { $0.users.liveCount }
        guard case .integer(let premium) = engine.execute(["SEGMENT.COUNT", "premium_eligible"]) else {
            Issue.record("SEGMENT.COUNT failed")
            return
        }
        #expect(dom.contains("id=\"size-premium_eligible\">\(premium)<"), "the size of premium_eligible as the engine counts it")
        #expect(dom.contains("<span id=\"users\">\(users)</span>"))
        guard case .array(let steps) = engine.execute(try InlineCommand.split("FUNNEL \(options.funnels[0])")), case .array(let first) = steps[0],
            case .integer(let entered) = first[0]
        else {
            Issue.record("FUNNEL failed")
            return
        }
        #expect(dom.contains("registration_started</td><td class=\"num\">\(entered)</td>"))
    }
}
