import Foundation

/// Inline SVG charts for the report page: self-contained markup, no scripts or fonts,
/// every figure also present as text (a `<title>` per mark, numbers next to bars).
enum SVGChart {
    /// Escapes text for HTML and SVG content and attributes.
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    static func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(format: "%.1f", x) }

    /// A column chart of `values` with a label under the first, middle and last column.
    static func columns(_ values: [Double], labels: [String], width: Int = 560, height: Int = 140, color: String = "#3b6fb6") -> String {
        guard !values.isEmpty else { return "<p>(no data)</p>" }
        let top = max(values.max() ?? 0, 1)
        let plotHeight = Double(height - 30)
        let step = Double(width - 40) / Double(values.count)
        var marks = ""
        for (i, v) in values.enumerated() {
            let h = plotHeight * v / top
            let x = 30 + Double(i) * step
            marks += "<rect x=\"\(f(x))\" y=\"\(f(plotHeight - h + 5))\" width=\"\(f(max(1, step - 2)))\" height=\"\(f(h))\" fill=\"\(color)\">"
            marks += "<title>\(escape(labels[i])): \(number(v))</title></rect>"
        }
        var axis = "<text x=\"2\" y=\"12\" font-size=\"10\">\(number(top))</text><text x=\"2\" y=\"\(f(plotHeight + 5))\" font-size=\"10\">0</text>"
        for i in Set([0, values.count / 2, values.count - 1]).sorted() {
            // The last label ends at its column's right edge, inside the chart.
            let (x, anchor) = i == values.count - 1 ? (30 + Double(i + 1) * step, "end") : (30 + Double(i) * step, "start")
            axis += "<text x=\"\(f(x))\" y=\"\(height - 8)\" font-size=\"10\" text-anchor=\"\(anchor)\">\(escape(labels[i]))</text>"
        }
        return "<svg role=\"img\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" xmlns=\"http://www.w3.org/2000/svg\">\(marks)\(axis)</svg>"
    }

    /// A sparkline of `values` (a polyline), for a table cell.
    static func sparkline(_ values: [Double], width: Int = 160, height: Int = 32) -> String {
        guard values.count > 1 else { return "" }
        let (low, high) = (values.min()!, values.max()!)
        let span = max(high - low, 1)
        let points = values.enumerated().map { i, v in
            "\(f(Double(i) * Double(width - 4) / Double(values.count - 1) + 2)),\(f(Double(height - 2) - (v - low) / span * Double(height - 4)))"
        }
        return "<svg role=\"img\" width=\"\(width)\" height=\"\(height)\" xmlns=\"http://www.w3.org/2000/svg\"><title>from \(number(values.first!)) to \(number(values.last!)), low \(number(low)), high \(number(high))</title>"
            + "<polyline fill=\"none\" stroke=\"#3b6fb6\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/></svg>"
    }

    /// Horizontal bars with their value and a caption, one per row (funnel steps, arms).
    static func bars(_ rows: [(label: String, value: Double, caption: String)], width: Int = 760) -> String {
        let top = max(rows.map(\.value).max() ?? 0, 1)
        let rowHeight = 26
        var marks = ""
        for (i, row) in rows.enumerated() {
            let y = i * rowHeight
            let w = Double(width - 420) * row.value / top
            marks += "<text x=\"0\" y=\"\(y + 17)\" font-size=\"12\">\(escape(row.label))</text>"
            marks += "<rect x=\"180\" y=\"\(y + 4)\" width=\"\(f(max(w, 1)))\" height=\"18\" fill=\"#3b6fb6\"><title>\(escape(row.label)): \(number(row.value))</title></rect>"
            marks += "<text x=\"\(f(186 + w))\" y=\"\(y + 17)\" font-size=\"12\">\(number(row.value)) \(escape(row.caption))</text>"
        }
        let height = rows.count * rowHeight + 4
        return "<svg role=\"img\" width=\"\(width)\" height=\"\(height)\" xmlns=\"http://www.w3.org/2000/svg\">\(marks)</svg>"
    }

    /// A heatmap of `cells` (row-major, `names.count` squared), darker for larger
    /// shares of the row's own size, each cell showing its number.
    static func heatmap(_ names: [String], _ cells: [[Int]]) -> String {
        let n = names.count
        let cell = 64
        let left = 170
        let width = left + n * cell + 10
        let height = 130 + n * cell
        var marks = ""
        for (j, name) in names.enumerated() {
            let x = left + j * cell + cell / 2
            marks += "<text transform=\"translate(\(x),120) rotate(-45)\" font-size=\"11\">\(escape(name))</text>"
        }
        for i in 0..<n {
            let y = 125 + i * cell
            marks += "<text x=\"0\" y=\"\(y + cell / 2 + 4)\" font-size=\"11\">\(escape(names[i]))</text>"
            let own = max(cells[i][i], 1)
            for j in 0..<n {
                let share = Double(cells[i][j]) / Double(own)
                let shade = Int(255 - 200 * min(share, 1))
                marks += "<rect x=\"\(left + j * cell)\" y=\"\(y)\" width=\"\(cell - 2)\" height=\"\(cell - 2)\" fill=\"rgb(\(shade),\(shade),255)\">"
                marks += "<title>\(escape(names[i])) and \(escape(names[j])): \(cells[i][j])</title></rect>"
                marks += "<text x=\"\(left + j * cell + 4)\" y=\"\(y + cell / 2 + 4)\" font-size=\"11\">\(cells[i][j])</text>"
            }
        }
        return "<svg role=\"img\" width=\"\(width)\" height=\"\(height)\" xmlns=\"http://www.w3.org/2000/svg\">\(marks)</svg>"
    }

    private static func f(_ x: Double) -> String { String(format: "%.1f", x) }
}
