import CohortCore
import CohortTestSupport
import Testing

struct TimeFormatTests {
    @Test(arguments: [
        ("0", 0), ("-86400", -86_400), ("1782820800", 1_782_820_800),
        ("2026-06-30", 1_782_777_600), ("2026-06-30T12:00:00Z", 1_782_820_800),
        ("2026-06-30T12:00Z", 1_782_820_800), ("2026-06-30 12:00:00", 1_782_820_800),
        ("2026-06-30T14:00:00+02:00", 1_782_820_800), ("2026-06-30T07:30:00-0430", 1_782_820_800),
        ("2026-06-30T12:00:00.999Z", 1_782_820_800), ("2024-02-29", 1_709_164_800), ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", -1),
    ] as [(String, Int64)])
    func parsesAcceptedForms(text: String, expected: Int64) {
        #expect(TimeFormat.parse(text) == expected)
    }

    @Test(arguments: ["", "abc", "2026-13-01", "2026-02-30", "2023-02-29", "2026-06-30T25:00:00Z", "2026-06-30T12:00:00Q",
        "2026-06-30T12", "12a", "2026/06/30", "2026-06-30T12:00:00+2"])
    func rejectsMalformed(text: String) {
        #expect(TimeFormat.parse(text) == nil)
    }

    @Test func formatsISO8601UTCAndRoundTrips() {
        #expect(TimeFormat.format(1_782_820_800) == "2026-06-30T12:00:00Z")
        #expect(TimeFormat.format(-1) == "1969-12-31T23:59:59Z")
        var rng = SplitMix(seed: 3)
        for _ in 0..<2000 {
            let t = Int64(rng.next() % 8_000_000_000) - 2_000_000_000
            #expect(TimeFormat.parse(TimeFormat.format(t)) == t)
        }
    }
}
