/// Compiled segment plans of recent read commands, so a stream of
/// `SEGMENT.CHECK premium_eligible <user>` compiles the segment once, not per call.
///
/// A plan is valid only for the database state and the "now" it was compiled against:
/// it holds column and table positions, dictionary codes and resolved time windows. So
/// an entry is keyed by (target text, now) and stamped with the engine's write epoch,
/// which the engine advances under its write lock whenever it may change the database;
/// a lookup with a newer epoch empties the cache. Readers hold the read lock while they
/// look up and use a plan, so the epoch cannot move under them.
///
/// Concurrency: shared by every reader; `lock` (a mutex held only for the dictionary
/// operation, never while compiling) protects `entries` and `epoch`. Cost: one hash of
/// the target text per lookup; at most `capacity` plans, targets over `maxTextBytes` are
/// not cached.
final class PlanCache: @unchecked Sendable {
    private struct Key: Hashable {
        let text: String
        let now: Int64
    }

    private let lock = Lock()
    private var entries: [Key: BoolPlan] = [:]
    private var epoch: UInt64 = 0
    static let capacity = 256
    static let maxTextBytes = 4096

    func plan(for text: String, now: Int64, epoch: UInt64) -> BoolPlan? {
        lock.withLock {
            guard epoch == self.epoch else { return nil }
            return entries[Key(text: text, now: now)]
        }
    }

    func store(_ plan: BoolPlan, for text: String, now: Int64, epoch: UInt64) {
        guard text.utf8.count <= Self.maxTextBytes else { return }
        lock.withLock {
            if epoch > self.epoch {
                entries.removeAll(keepingCapacity: true)
                self.epoch = epoch
            }
            guard epoch == self.epoch else { return }
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[Key(text: text, now: now)] = plan
        }
    }
}

/// A read command's access to the plan cache: the cache and the epoch of the state the
/// command reads (nil when it reads a private copy).
struct PlanCacheScope: Sendable {
    let cache: PlanCache
    let epoch: UInt64
}
