import Foundation

/// `cohort report`: one self-contained HTML page (no network, no scripts, no external
/// fonts) of a database at a given now: every segment with its size and a 30-day daily
/// size chart, the segments' overlap as a heatmap, the given funnels as bars with
/// drop-off rates, each split with its arms (and, with a conversion, rates, intervals and
/// p-values), and daily active users. Every figure comes from the engine's own commands
/// (`SEGMENT.COUNT`, `SERIES.*`, `SEGMENT.OVERLAP`, `FUNNEL`, `SPLIT.*`), so the page
/// shows what a client would be told.
public struct ReportPage {
    public struct Options: Sendable {
        public var now: Int64
        /// `FUNNEL` arguments, one funnel each (`3 a b c WITHIN 7d FROM ... TO ...`).
        public var funnels: [String] = []
        /// A `SPLIT.REPORT` conversion for every split (`EVENT purchase WITHIN 7d`); nil
        /// shows the arms' sizes only.
        public var conversion: String?
        /// The event whose daily users are the active users; nil: `app_open` if defined.
        public var activeEvent: String?

        public init(now: Int64) { self.now = now }
    }

    let engine: Engine
    let options: Options

    public init(engine: Engine, options: Options) {
        (self.engine, self.options) = (engine, options)
    }

    /// Runs one command at the report's now; an error reply becomes a thrown error.
    func ask(_ words: [String]) throws(CohortError) -> Reply {
        let reply = engine.execute(words)
        if case .error(let e) = reply { throw CohortError.err("\(words.prefix(2).joined(separator: " ")): \(e.message)") }
        return reply
    }

    var at: [String] { ["AT", String(options.now)] }

    public func html() throws(CohortError) -> String {
        let (users, events, segments, splitNames, hasActive) = engine.read { db in
            (
                db.users.liveCount, db.events.liveCount, db.catalog.segments.values.map { ($0.name, $0.source) }.sorted { $0.0 < $1.0 },
                db.feed.list.flatMap { $0.splits.map(\.name) }.sorted(),
                db.schema.event(named: options.activeEvent ?? "app_open") != nil
            )
        }
        var body = "<h1>Cohort report</h1>"
        body += "<p class=\"meta\">At \(TimeFormat.format(options.now)): <span id=\"users\">\(users)</span> users, \(events) events, \(segments.count) segments.</p>"
        body += try segmentSection(segments)
        if segments.count >= 2 { body += try overlapSection(segments.map(\.0)) }
        if !options.funnels.isEmpty { body += try funnelSection() }
        if !splitNames.isEmpty { body += try splitSection(splitNames) }
        if hasActive { body += try activeSection() }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Cohort report</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1d2330; }
            h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #d5d9e0; }
            table { border-collapse: collapse; margin: .6rem 0; } td, th { padding: .3rem .7rem; text-align: left; border-bottom: 1px solid #eceef2; }
            td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; } code { font-size: .85rem; color: #4a5263; }
            .meta { color: #4a5263; }
            </style></head>
            <body>
            \(body)
            </body></html>

            """
    }

    // MARK: Sections

    /// `segments`: (name, definition) by name.
    func segmentSection(_ segments: [(String, String)]) throws(CohortError) -> String {
        var rows = ""
        for (name, definition) in segments {
            guard case .integer(let size) = try ask(["SEGMENT.COUNT", name] + at) else { continue }
            let series = try seriesValues(try ask(["SERIES.COUNT", name, "BY", "day", "LAST", "30"] + at))
            rows += "<tr><td>\(SVGChart.escape(name))</td><td class=\"num\" id=\"size-\(SVGChart.escape(name))\">\(size)</td>"
            rows += "<td>\(SVGChart.sparkline(series.map(\.1)))</td><td><code>\(SVGChart.escape(definition))</code></td></tr>"
        }
        return "<h2>Segments</h2><table><tr><th>segment</th><th class=\"num\">members</th><th>last 30 days</th><th>definition</th></tr>\(rows)</table>"
    }

    func overlapSection(_ names: [String]) throws(CohortError) -> String {
        guard case .array(let rows) = try ask(["SEGMENT.OVERLAP"] + names + at) else { return "" }
        let cells: [[Int]] = rows.map { row in
            guard case .array(let values) = row else { return [] }
            return values.map { if case .integer(let v) = $0 { Int(v) } else { 0 } }
        }
        return "<h2>Overlap</h2><p>Users in both the row's and the column's segment; the shade is the share of the row's segment.</p>"
            + SVGChart.heatmap(names, cells)
    }

    func funnelSection() throws(CohortError) -> String {
        var out = "<h2>Funnels</h2>"
        for spec in options.funnels {
            let words = try InlineCommand.split(spec)
            guard let n = words.first.flatMap(Int.init), words.count > n else { throw .err("--funnel '\(spec)': expected numsteps, the steps, WITHIN and FROM ... TO") }
            guard case .array(let steps) = try ask(["FUNNEL"] + words + at) else { continue }
            var bars: [(String, Double, String)] = []
            var rows = ""
            for (k, step) in steps.enumerated() {
                guard case .array(let cells) = step, case .integer(let users) = cells[0] else { continue }
                let fromFirst = rate(cells[1]), fromPrevious = rate(cells[2])
                let label = words[k + 1]
                bars.append((label, Double(users), k == 0 ? "" : "(\(fromPrevious) of the step before)"))
                rows += "<tr><td>\(k + 1). \(SVGChart.escape(label))</td><td class=\"num\">\(users)</td><td class=\"num\">\(fromFirst)</td><td class=\"num\">\(fromPrevious)</td></tr>"
            }
            out += "<h3>\(SVGChart.escape(spec))</h3>" + SVGChart.bars(bars)
            out += "<table><tr><th>step</th><th class=\"num\">users</th><th class=\"num\">of step 1</th><th class=\"num\">of the step before</th></tr>\(rows)</table>"
        }
        return out
    }

    func splitSection(_ names: [String]) throws(CohortError) -> String {
        var out = "<h2>Splits</h2>"
        for name in names {
            if let conversion = options.conversion {
                let words = ["SPLIT.REPORT", name, "CONVERT"] + (try InlineCommand.split(conversion)) + at
                guard case .array(let arms) = try ask(words) else { continue }
                var rows = ""
                for arm in arms {
                    guard case .array(let c) = arm else { continue }
                    let ci = c[6] == .null ? "" : "[\(rate(c[6], digits: 4)), \(rate(c[7], digits: 4))]"
                    rows += "<tr><td>\(text(c[0]))</td><td class=\"num\">\(text(c[1]))</td><td class=\"num\">\(text(c[2]))</td>"
                    rows += "<td class=\"num\">\(rate(c[3]))</td><td class=\"num\">\(rate(c[4]))</td><td class=\"num\">\(ci)</td><td class=\"num\">\(text(c[9]))</td></tr>"
                }
                out += "<h3>\(SVGChart.escape(name)) <small>(conversion: \(SVGChart.escape(conversion)))</small></h3>"
                out += "<table><tr><th>arm</th><th class=\"num\">assigned</th><th class=\"num\">converted</th><th class=\"num\">rate</th><th class=\"num\">lift</th>"
                out += "<th class=\"num\">difference, 95% interval</th><th class=\"num\">p-value</th></tr>\(rows)</table>"
            } else {
                guard case .array(let arms) = try ask(["SPLIT.COUNT", name] + at) else { continue }
                let bars = arms.compactMap { arm -> (String, Double, String)? in
                    guard case .array(let c) = arm, case .integer(let n) = c[1] else { return nil }
                    return (text(c[0]), Double(n), "assigned")
                }
                out += "<h3>\(SVGChart.escape(name))</h3>" + SVGChart.bars(bars)
            }
        }
        return out
    }

    func activeSection() throws(CohortError) -> String {
        let event = options.activeEvent ?? "app_open"
        let series = try seriesValues(try ask(["SERIES.EVENTS", "users(\(event))", "BY", "day", "LAST", "30"] + at))
        let last = series.last.map { "\(SVGChart.number($0.1)) on \($0.0) (so far)" } ?? ""
        return "<h2>Daily active users</h2><p>Users with a <code>\(SVGChart.escape(event))</code> event each day; the last day: \(last).</p>"
            + SVGChart.columns(series.map(\.1), labels: series.map(\.0))
    }

    // MARK: Values

    /// `[bucket_start, value, complete]` rows as (day, value).
    func seriesValues(_ reply: Reply) throws(CohortError) -> [(String, Double)] {
        guard case .array(let rows) = reply else { return [] }
        return rows.compactMap { row in
            guard case .array(let c) = row, case .bulk(let start) = c[0] else { return nil }
            let value: Double
            switch c[1] {
            case .integer(let v): value = Double(v)
            case .double(let v): value = v
            default: value = 0
            }
            return (String(start.prefix(10)), value)
        }
    }

    func rate(_ reply: Reply, digits: Int = 1) -> String {
        guard case .double(let v) = reply else { return "" }
        return digits == 1 ? String(format: "%.1f%%", v * 100) : String(format: "%.\(digits)f", v)
    }

    func text(_ reply: Reply) -> String {
        switch reply {
        case .bulk(let s), .status(let s): SVGChart.escape(s)
        case .integer(let v): String(v)
        case .double(let v): Reply.format(v)
        default: ""
        }
    }
}
