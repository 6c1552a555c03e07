#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Settings of `cohort gen`.
public struct GeneratorOptions: Sendable {
    public var users: Int
    public var seed: UInt64 = 42
    /// Events fall in the `days` before `end`.
    public var days: Int = 180
    /// Fixed by default (2026-07-01T00:00:00Z) so that a seed always gives the same bytes.
    public var end: Int64 = 1_782_864_000

    public init(users: Int, seed: UInt64 = 42, days: Int = 180, end: Int64 = 1_782_864_000) {
        self.users = users
        self.seed = seed
        self.days = days
        self.end = end
    }
}

/// What `cohort gen` wrote.
public struct GeneratorReport: Sendable {
    public let users: Int
    public let events: Int
    public let bytes: Int
    public let seconds: Double
}

/// Writes a deterministic synthetic population (DESIGN §8): `schema.cohort`,
/// `users.csv`, `events.csv`.
///
/// Determinism: every user draws from its own generator seeded by (seed, user index),
/// so the output depends only on the options, never on thread count or chunking.
/// Users are produced in blocks in parallel (Dispatch) and written in order. Within a
/// block, events are written in time order (an arrival log), so the loader sees
/// interleaved users as it would from a live system.
///
/// Activity is heavy-tailed: a user's event count follows a Pareto law (a few users
/// very active, most rarely), and some users go dormant part-way through.
public enum DatasetGenerator {
    static let blockSize = 4096

    public static func write(
        _ options: GeneratorOptions, to directory: String, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws(CohortError) -> GeneratorReport {
        guard options.users > 0 else { throw .err("--users must be at least 1") }
        guard options.days > 0 else { throw .err("--days must be at least 1") }
        guard options.end - Int64(options.days) * 86_400 * 3 >= 0, options.end <= EventTime.range.upperBound else {
            throw .err("--end must leave room for --days of events between 1970 and 2106")
        }
        let started = LoadDriver.monotonicSeconds()
        mkdir(directory, 0o755)
        try writeFile(path(directory, "schema.cohort"), Array(DemoSchema.text.utf8))
        let users = try OutputFile(path(directory, "users.csv"))
        let events = try OutputFile(path(directory, "events.csv"))
        try users.write(Array("user_id,plan,country,language,verified,signup_at,subscription_ends_at,operators,score,tags\n".utf8))
        try events.write(Array("user_id,event,time,distance_km,duration_min,cost,car,amount,score\n".utf8))

        let blocks = (options.users + blockSize - 1) / blockSize
        let batch = max(2, sysconf(Int32(_SC_NPROCESSORS_ONLN))) * 2
        var eventCount = 0
        var bytes = 0
        var first = 0
        while first < blocks {
            let count = min(batch, blocks - first)
            let base = first
            for block in parallelMap(count, { makeBlock(base + $0, options) }) {
                try users.write(block.users)
                try events.write(block.events)
                eventCount += block.eventCount
                bytes += block.users.count + block.events.count
            }
            first += count
            progress?(min(first * blockSize, options.users), options.users)
        }
        try users.close()
        try events.close()
        return GeneratorReport(users: options.users, events: eventCount, bytes: bytes, seconds: LoadDriver.monotonicSeconds() - started)
    }

    struct Block {
        var users: [UInt8] = []
        var events: [UInt8] = []
        var eventCount = 0
    }

    struct PendingEvent {
        var time: Int64
        var user: Int
        var kind: UInt8
        var a: Double = 0
        var b: Int = 0
        var c: Double = 0
        var car: UInt8 = 0
    }

    static let plans = ["free", "trial", "pro", "business"]
    static let countries: [(String, String, Int)] = [
        ("PL", "pl", 30), ("DE", "de", 25), ("CZ", "cs", 10), ("SK", "sk", 5), ("LT", "lt", 5), ("FR", "fr", 10), ("ES", "es", 8),
        ("IT", "it", 7),
    ]
    static let tagNames: [(String, Double)] = [
        ("vip", 0.05), ("beta", 0.10), ("student", 0.12), ("corporate", 0.08), ("blocked", 0.02), ("newsletter", 0.40),
    ]
    static let cars: [(String, Int, Double)] = [
        ("fiat_500", 30, 1.0), ("vw_up", 25, 1.0), ("i3", 15, 1.2), ("i3_premium", 10, 1.6), ("tesla_3", 12, 1.8), ("bmw_x1", 8, 1.5),
    ]
    static let eventNames = [
        "app_open", "registration_started", "registration_completed", "ride", "purchase", "subscription_renewed", "email_open",
        "push_open", "nps",
    ]

    static func makeBlock(_ index: Int, _ options: GeneratorOptions) -> Block {
        var block = Block()
        let lo = index * blockSize
        let hi = min(options.users, lo + blockSize)
        let width = max(7, String(options.users - 1).count)
        var pending: [PendingEvent] = []
        block.users.reserveCapacity((hi - lo) * 90)
        let end = options.end
        let windowStart = end - Int64(options.days) * 86_400
        for u in lo..<hi {
            var rng = Random(seed: options.seed, stream: UInt64(u))
            var out = block.users
            block.users = []
            writeUserID(u, width: width, into: &out)
            out.append(UInt8(ascii: ","))
            // signup within twice the event window before `end`
            let signup = end - 3600 - Int64(rng.uniform() * Double(end - 3600 - (end - 2 * Int64(options.days) * 86_400)))
            let planDraw = rng.uniform()
            let plan = planDraw < 0.55 ? 0 : planDraw < 0.65 ? 1 : planDraw < 0.92 ? 2 : 3
            out.append(contentsOf: plans[plan].utf8)
            out.append(UInt8(ascii: ","))
            let country = rng.weighted(countries.map(\.2))
            out.append(contentsOf: countries[country].0.utf8)
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: (rng.uniform() < 0.1 ? "en" : countries[country].1).utf8)
            out.append(UInt8(ascii: ","))
            let verifiedDraw = rng.uniform()
            if verifiedDraw < 0.75 { out.append(contentsOf: "true".utf8) } else if verifiedDraw < 0.95 { out.append(contentsOf: "false".utf8) }
            out.append(UInt8(ascii: ","))
            writeTime(signup, into: &out)
            out.append(UInt8(ascii: ","))
            if plan == 1 {
                writeTime(signup + 14 * 86_400, into: &out)
            } else if plan >= 2 {
                writeTime(end + Int64((rng.uniform() * 90 - 30) * 86_400), into: &out)
            }
            out.append(UInt8(ascii: ","))
            if plan == 3 { writeInt(1 + Int64(rng.next() % 20), into: &out) }
            out.append(UInt8(ascii: ","))
            if rng.uniform() < 0.85 { writeFixed(rng.uniform() * 100, decimals: 1, into: &out) }
            out.append(UInt8(ascii: ","))
            var firstTag = true
            for (name, p) in tagNames where rng.uniform() < p {
                if !firstTag { out.append(UInt8(ascii: "|")) }
                out.append(contentsOf: name.utf8)
                firstTag = false
            }
            out.append(UInt8(ascii: "\n"))
            block.users = out

            // Events: registration, then a heavy-tailed number of activities.
            let start = max(signup, windowStart)
            if signup >= windowStart {
                pending.append(PendingEvent(time: signup, user: u, kind: 1))
                if rng.uniform() < 0.85 { pending.append(PendingEvent(time: min(end, signup + Int64(rng.uniform() * 2 * 86_400)), user: u, kind: 2)) }
            }
            let activity = min(250, 1 / pow(max(rng.uniform(), 1e-9), 1 / 1.3))
            let n = Int(activity * 5.8)
            let lastActive = rng.uniform() < 0.3 ? start + Int64(rng.uniform() * Double(end - start)) : end
            let span = Double(max(1, lastActive - start))
            for _ in 0..<n {
                var event = PendingEvent(time: start + Int64(rng.uniform() * span), user: u, kind: 0)
                let draw = rng.uniform()
                if draw < 0.38 {
                    event.kind = 0
                } else if draw < 0.65 {
                    event.kind = 3
                    let distance = (exp(1.6 + 0.7 * rng.normal()) * 10).rounded() / 10
                    let minutes = Int(distance * 2.5 + 2 + rng.uniform() * 13)
                    let car = rng.weighted(cars.map(\.1))
                    event.a = distance
                    event.b = minutes
                    event.c = ((1.5 + distance * 0.45 + Double(minutes) * 0.22) * cars[car].2 * 100).rounded() / 100
                    event.car = UInt8(car)
                } else if draw < 0.77 {
                    event.kind = 6
                } else if draw < 0.86 {
                    event.kind = 7
                } else if draw < 0.92 {
                    event.kind = 4
                    let amount = 5 + rng.uniform() * 115 * (rng.uniform() < 0.05 ? 5 : 1)
                    event.a = (amount * 100).rounded() / 100
                } else if draw < 0.94 {
                    event.kind = 8
                    event.b = min(10, Int(11 * pow(rng.uniform(), 0.45)))
                } else if draw < 0.97, plan >= 2 {
                    event.kind = 5
                } else {
                    event.kind = 0
                }
                pending.append(event)
            }
        }
        // Arrival order: by time within the block (ties by user, then generation order).
        let order = pending.indices.sorted { (pending[$0].time, pending[$0].user, $0) < (pending[$1].time, pending[$1].user, $1) }
        block.events.reserveCapacity(pending.count * 52)
        for i in order {
            let e = pending[i]
            var out = block.events
            block.events = []
            writeUserID(e.user, width: width, into: &out)
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: eventNames[Int(e.kind)].utf8)
            out.append(UInt8(ascii: ","))
            writeTime(e.time, into: &out)
            switch e.kind {
            case 3:
                out.append(UInt8(ascii: ","))
                writeFixed(e.a, decimals: 1, into: &out)
                out.append(UInt8(ascii: ","))
                writeInt(Int64(e.b), into: &out)
                out.append(UInt8(ascii: ","))
                writeFixed(e.c, decimals: 2, into: &out)
                out.append(UInt8(ascii: ","))
                out.append(contentsOf: cars[Int(e.car)].0.utf8)
                out.append(contentsOf: ",,\n".utf8)
            case 4:
                out.append(contentsOf: ",,,,,".utf8)
                writeFixed(e.a, decimals: 2, into: &out)
                out.append(contentsOf: ",\n".utf8)
            case 8:
                out.append(contentsOf: ",,,,,,".utf8)
                writeInt(Int64(e.b), into: &out)
                out.append(UInt8(ascii: "\n"))
            default:
                out.append(contentsOf: ",,,,,,\n".utf8)
            }
            block.events = out
        }
        block.eventCount = pending.count
        return block
    }

    // MARK: Formatting

    static func writeUserID(_ index: Int, width: Int, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "u"))
        var digits = [UInt8](repeating: 48, count: width)
        var v = index
        var k = width - 1
        while v > 0, k >= 0 {
            digits[k] = UInt8(48 + v % 10)
            v /= 10
            k -= 1
        }
        out.append(contentsOf: digits)
    }

    static func writeInt(_ value: Int64, into out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }

    /// `value` with exactly `decimals` digits after the point.
    static func writeFixed(_ value: Double, decimals: Int, into out: inout [UInt8]) {
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        var scaled = Int64((value * Double(scale)).rounded())
        if scaled < 0 {
            out.append(UInt8(ascii: "-"))
            scaled = -scaled
        }
        out.append(contentsOf: String(scaled / scale).utf8)
        out.append(UInt8(ascii: "."))
        let fraction = String(scaled % scale)
        out.append(contentsOf: repeatElement(48, count: decimals - fraction.utf8.count))
        out.append(contentsOf: fraction.utf8)
    }

    static func writeTime(_ seconds: Int64, into out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            let n = TimeFormat.write(seconds, into: buffer)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<n]))
        }
    }

    private static func path(_ directory: String, _ name: String) -> String { directory.hasSuffix("/") ? directory + name : directory + "/" + name }

    private static func writeFile(_ path: String, _ bytes: [UInt8]) throws(CohortError) {
        let file = try OutputFile(path)
        try file.write(bytes)
        try file.close()
    }
}

/// The per-user random stream of the generator: SplitMix64 seeded from (seed, stream).
struct Random {
    private var state: UInt64

    init(seed: UInt64, stream: UInt64) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 ^ (stream &+ 1) &* 0xD1B5_4A32_D192_ED03
        _ = next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-12)
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * uniform())
    }

    mutating func weighted(_ weights: [Int]) -> Int {
        let total = weights.reduce(0, +)
        var pick = Int(next() % UInt64(total))
        for (i, w) in weights.enumerated() {
            if pick < w { return i }
            pick -= w
        }
        return weights.count - 1
    }
}

/// A buffered output file that reports write errors (a full disk) as `CohortError`.
final class OutputFile {
    private var handle: UnsafeMutablePointer<FILE>?
    let path: String

    init(_ path: String) throws(CohortError) {
        self.path = path
        guard let handle = fopen(path, "w") else { throw .err("cannot write \(path): \(String(cString: strerror(errno)))") }
        setvbuf(handle, nil, _IOFBF, 1 << 20)
        self.handle = handle
    }

    func write(_ bytes: [UInt8]) throws(CohortError) {
        guard let handle, !bytes.isEmpty else { return }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
        guard written == bytes.count else { throw .err("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    func close() throws(CohortError) {
        guard let handle else { return }
        self.handle = nil
        guard fclose(handle) == 0 else { throw .err("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { if let handle { fclose(handle) } }
}
