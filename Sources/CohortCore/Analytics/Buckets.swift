/// The buckets of a time series (FEATURES §4.3): half-open `[start, end)` hours, days,
/// ISO weeks (Monday) or months, in UTC or a fixed offset, never clipped to the range
/// asked for, none after now.
struct Buckets: Sendable {
    enum Unit: String, Sendable {
        case hour, day, week, month
    }

    struct Bucket: Sendable, Equatable {
        let start: Int64
        let end: Int64
        /// The second a bucket is evaluated at: its last, or now while it is open.
        func now(_ now: Int64) -> Int64 { min(end - 1, now) }
        func complete(_ now: Int64) -> Bool { now >= end }
    }

    static let maxCount = 1000

    let unit: Unit
    /// Seconds east of UTC of the local boundaries (`OFFSET +02:00` is 7200).
    let offset: Int64

    /// The start (a UTC instant) of the bucket containing `t`.
    func start(containing t: Int64) -> Int64 {
        let local = t + offset
        let floor: Int64
        switch unit {
        case .hour: floor = TimeFormat.floorDiv(local, 3600) * 3600
        case .day: floor = TimeFormat.floorDiv(local, 86_400) * 86_400
        case .week:
            // 1970-01-05 (day 4) was a Monday.
            floor = TimeFormat.floorDiv(local - 4 * 86_400, 604_800) * 604_800 + 4 * 86_400
        case .month:
            let (y, m, _) = TimeFormat.civilFromDays(TimeFormat.floorDiv(local, 86_400))
            floor = TimeFormat.daysFromCivil(year: y, month: m, day: 1) * 86_400
        }
        return floor - offset
    }

    /// The start of the bucket after the one starting at `start`.
    func next(after start: Int64) -> Int64 {
        switch unit {
        case .hour: return start + 3600
        case .day: return start + 86_400
        case .week: return start + 604_800
        case .month:
            let (y, m, _) = TimeFormat.civilFromDays(TimeFormat.floorDiv(start + offset, 86_400))
            let (ny, nm) = m == 12 ? (y + 1, Int64(1)) : (y, m + 1)
            return TimeFormat.daysFromCivil(year: ny, month: nm, day: 1) * 86_400 - offset
        }
    }

    /// The start of the bucket before the one starting at `start`.
    func previous(before start: Int64) -> Int64 { self.start(containing: start - 1) }

    /// The buckets from the one containing `from` to the one containing `last`, none
    /// starting after `now`; an error past `maxCount`.
    func range(from: Int64, last: Int64, now: Int64) throws(CohortError) -> [Bucket] {
        var out: [Bucket] = []
        var s = start(containing: from)
        let final = min(start(containing: last), start(containing: now))
        while s <= final {
            let e = next(after: s)
            out.append(Bucket(start: s, end: e))
            guard out.count <= Self.maxCount else {
                // Count them all for the message, arithmetically bounded by the unit.
                throw .err("\(estimate(from: from, to: last)) buckets requested; at most \(Self.maxCount)")
            }
            s = e
        }
        return out
    }

    /// The `n` buckets ending with the one containing `now`.
    func last(_ n: Int, now: Int64) throws(CohortError) -> [Bucket] {
        guard n >= 1 else { throw .err("LAST needs a positive number of buckets, got \(n)") }
        guard n <= Self.maxCount else { throw .err("\(n) buckets requested; at most \(Self.maxCount)") }
        var starts = [start(containing: now)]
        while starts.count < n { starts.append(previous(before: starts.last!)) }
        return starts.reversed().map { Bucket(start: $0, end: next(after: $0)) }
    }

    private func estimate(from: Int64, to: Int64) -> Int64 {
        let span = max(0, to - from)
        switch unit {
        case .hour: return span / 3600 + 1
        case .day: return span / 86_400 + 1
        case .week: return span / 604_800 + 1
        case .month: return span / 2_629_746 + 1
        }
    }

    /// `±HH:MM` as seconds east of UTC.
    static func offset(_ text: String) -> Int64? {
        let chars = Array(text.utf8)
        guard chars.count == 6, chars[0] == UInt8(ascii: "+") || chars[0] == UInt8(ascii: "-"), chars[3] == UInt8(ascii: ":"),
            let h = Int64(String(decoding: chars[1...2], as: UTF8.self)), let m = Int64(String(decoding: chars[4...5], as: UTF8.self)),
            h <= 14, m < 60
        else { return nil }
        let seconds = h * 3600 + m * 60
        return chars[0] == UInt8(ascii: "-") ? -seconds : seconds
    }
}
