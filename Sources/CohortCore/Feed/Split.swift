/// An A/B holdout split of a watched segment (FEATURES §2): arms by a hash of the user id,
/// and each user's assignment time, taken from the change feed.
///
/// Invariants: a row is assigned (in `assignedAt`) only if its bucket falls in an arm;
/// `assignedAt` never changes once set (intent-to-treat) and is cleared only by the
/// user's deletion; `arms` are immutable (a split is dropped and defined again to change).
/// Lives in its segment's `Watch`, which calls `assign` for each `entered` entry.
struct Split: Sendable {
    struct Arm: Sendable, Equatable {
        let name: String
        /// Basis points (a percentage × 100, exact).
        let basisPoints: Int
    }

    static let buckets = 10_000

    let name: String
    let seed: String
    /// The engine time the split was defined (T0): the members then are assigned at it.
    let startedAt: Int64
    let arms: [Arm]
    /// Each assigned row's assignment time; `NullSentinel.time` for none.
    private(set) var assignedAt = RowPages<Int64>(empty: NullSentinel.time)
    /// The assigned rows, one bitmap per arm.
    private(set) var members: [Bitmap]

    init(name: String, seed: String, startedAt: Int64, arms: [Arm]) {
        (self.name, self.seed, self.startedAt, self.arms) = (name, seed, startedAt, arms)
        members = arms.map { _ in Bitmap() }
    }

    /// The arm index of a bucket: arm i holds `[S_(i-1), S_i)` of the running sums.
    func arm(ofBucket bucket: Int) -> Int? {
        var end = 0
        for (i, arm) in arms.enumerated() {
            end += arm.basisPoints
            if bucket < end { return i }
        }
        return nil
    }

    func arm(of user: String) -> Int? { arm(ofBucket: Self.bucket(seed: seed, user: user)) }

    func assignment(of row: UInt32) -> Int64? {
        let t = assignedAt[row]
        return t == NullSentinel.time ? nil : t
    }

    /// Assigns `row` (user id `user`) at `t` unless it is assigned already or in no arm.
    mutating func assign(_ row: UInt32, user: String, at t: Int64) {
        guard assignedAt[row] == NullSentinel.time, let i = arm(of: user) else { return }
        assignedAt[row] = t
        members[i].insert(row)
    }

    /// A snapshot's assignment, as it was written.
    mutating func restore(_ row: UInt32, arm: Int, at t: Int64) {
        assignedAt[row] = t
        members[arm].insert(row)
    }

    /// `USER.DEL`: the row leaves the split.
    mutating func remove(_ row: UInt32) {
        guard assignedAt[row] != NullSentinel.time else { return }
        assignedAt[row] = NullSentinel.time
        for i in members.indices { members[i].remove(row) }
    }

    /// `bucket(seed, user) = fmix64(FNV1a64(UTF8(seed) ‖ 0x00 ‖ UTF8(user))) mod 10000`
    /// (FEATURES §2.3.1): a pure function every language can reproduce bit for bit.
    static func bucket(seed: String, user: String) -> Int {
        // FNV-1a continued over the three parts: no concatenated copy per user.
        let h = fnv1a64(user.utf8, from: fnv1a64(CollectionOfOne(0), from: fnv1a64(seed.utf8)))
        return Int(fmix64(h) % UInt64(buckets))
    }

    /// FNV-1a 64 of `bytes`, continuing from `h` (the offset basis to start).
    static func fnv1a64<S: Sequence>(_ bytes: S, from h: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 where S.Element == UInt8 {
        var h = h
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// MurmurHash3's 64-bit finalizer.
    static func fmix64(_ k: UInt64) -> UInt64 {
        var k = k
        k ^= k >> 33
        k = k &* 0xff51_afd7_ed55_8ccd
        k ^= k >> 33
        k = k &* 0xc4ce_b93f_e53e_c5a3
        k ^= k >> 33
        return k
    }

    var memoryBytes: Int { members.reduce(0) { $0 + $1.memoryBytes } + assignedAt.memoryBytes }
}
