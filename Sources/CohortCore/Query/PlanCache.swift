/// Bound plans of the ad-hoc targets and value expressions read commands were given, so
/// a stream of `SEGMENT.COUNT "count(ride, last 30d) >= 3"` or `AGG.GET u "..."` parses
/// and binds the text once, not per call. (Named segments and aggregates need no cache:
/// the catalog holds their bound plans.)
///
/// A bound plan depends only on the catalog (`Binder`), so entries are stamped with the
/// catalog version they were bound against; a lookup with another version empties the
/// cache. Data writes never change the version, so they never empty it; any "now" and
/// any data state reuse the same plan.
///
/// Concurrency: shared by every command; `lock` (a mutex held only for the dictionary
/// operation, never while binding) protects `entries` and `version`. Cost: one hash of
/// the text per lookup; at most `capacity` plans, texts over `maxTextBytes` not cached.
final class PlanCache: @unchecked Sendable {
    enum Entry {
        case predicate(BoolPlan)
        case value(ValuePlan, ValueType)
    }

    private struct Key: Hashable {
        let text: String
        let isPredicate: Bool
    }

    private let lock = Lock()
    private var entries: [Key: Entry] = [:]
    private var version: UInt64 = 0
    /// Lookups answered from the cache, and texts bound (INFO's plan_cache_hits/misses).
    private(set) var hits = 0
    private(set) var misses = 0
    static let capacity = 256
    static let maxTextBytes = 4096

    /// The bound predicate for `text` under catalog `version`, binding it with `bind` on a miss.
    func predicate(_ text: String, version: UInt64, _ bind: () throws(CohortError) -> BoolPlan) throws(CohortError) -> BoolPlan {
        if case .predicate(let plan)? = lookup(Key(text: text, isPredicate: true), version) { return plan }
        let plan = try bind()
        store(.predicate(plan), Key(text: text, isPredicate: true), version)
        return plan
    }

    /// The bound value expression for `text` under catalog `version`.
    func value(_ text: String, version: UInt64, _ bind: () throws(CohortError) -> (ValuePlan, ValueType)) throws(CohortError) -> (
        ValuePlan, ValueType
    ) {
        if case .value(let plan, let type)? = lookup(Key(text: text, isPredicate: false), version) { return (plan, type) }
        let (plan, type) = try bind()
        store(.value(plan, type), Key(text: text, isPredicate: false), version)
        return (plan, type)
    }

    /// (hits, misses) so far.
    var statistics: (hits: Int, misses: Int) { lock.withLock { (hits, misses) } }

    private func lookup(_ key: Key, _ version: UInt64) -> Entry? {
        lock.withLock {
            let entry = version == self.version ? entries[key] : nil
            if entry == nil { misses += 1 } else { hits += 1 }
            return entry
        }
    }

    private func store(_ entry: Entry, _ key: Key, _ version: UInt64) {
        guard key.text.utf8.count <= Self.maxTextBytes else { return }
        lock.withLock {
            if version != self.version {
                entries.removeAll(keepingCapacity: true)
                self.version = version
            }
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = entry
        }
    }
}
