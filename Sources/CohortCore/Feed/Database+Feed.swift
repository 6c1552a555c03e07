/// The change feed's transitions (FEATURES §1.5): how writes, deletions, definitions,
/// watches and the clock change recorded memberships and streams. All run under the
/// engine's write lock (`Engine.applyWrite`), each all or nothing.
///
/// Each takes the feed out of the database while it evaluates (`updatingFeed`), so the
/// evaluation's view of the database shares no storage with the streams being appended
/// to: an append never copies a chunk because the evaluator holds it.
extension Database {
    private mutating func updatingFeed<T, E: Error>(_ body: (inout ChangeFeed, Database) throws(E) -> T) throws(E) -> T {
        var feed = ChangeFeed()
        swap(&feed, &self.feed)
        defer { swap(&feed, &self.feed) }
        return try body(&feed, self)
    }

    // MARK: Watches

    /// `SEGMENT.WATCH`: starts recording `name`'s membership at `now` (FEATURES §1.5.1),
    /// or, on a watched segment, changes its retention only. Returns the recorded size
    /// and the stream's last ID. O(users) evaluation, in parallel.
    public mutating func watch(
        _ name: String, maxLength: Int?, maxAge: Int64?, backfill: Bool, now: Int64, maxWatches: Int = Limits().watches
    ) throws(CohortError) -> (members: Int, lastID: StreamID) {
        if let i = feed.index(of: name) {
            if let maxLength { feed.list[i].stream.maxLength = maxLength }
            if let maxAge { feed.list[i].stream.maxAge = maxAge }
            feed.list[i].stream.trim(now: now)
            return (feed.list[i].members.count, feed.list[i].stream.lastID)
        }
        guard let definition = catalog.segments[name] else {
            throw .err("unknown segment '\(name)' (SEGMENT.WATCH takes a defined segment)")
        }
        guard feed.watchCount < maxWatches else {
            throw .err("cannot watch '\(name)': \(maxWatches) segments are watched already (--max-watches)")
        }
        try TimeAnalysis.check(segment: name, in: catalog)
        // An empty feed has no entries whose order a time earlier than its last one
        // could break (a state loaded on the wall clock, then served at an earlier --now).
        if feed.isEmpty { feed.time = now }
        advanceFeed(to: now)
        return updatingFeed { feed, db in
            var watch = Watch(
                name: name, plan: definition.plan,
                stream: SegmentStream(maxLength: maxLength ?? SegmentStream.defaultMaxLength, maxAge: maxAge), since: now)
            db.evaluateEveryone(&watch, at: now, cause: backfill ? .watch : nil)
            feed.add(watch)
            feed.time = max(feed.time, now)
            return (watch.members.count, watch.stream.lastID)
        }
    }

    /// `SEGMENT.UNWATCH`: drops the recorded membership and the stream; refused while a
    /// split uses the segment.
    public mutating func unwatch(_ name: String) throws(CohortError) -> Bool {
        if let split = feed[name]?.splits.first { throw .err("segment '\(name)' is used by split '\(split.name)'") }
        return feed.remove(name)
    }

    // MARK: Splits

    /// `SPLIT.DEFINE` (validated, `segment` watched): the recorded members now are
    /// assigned at the split's start (FEATURES §2.3.3). O(members).
    mutating func defineSplit(_ split: Split, of segment: String) {
        guard let w = feed.index(of: segment) else { return }
        var split = split
        for row in feed.list[w].members.toArray() { split.assign(row, user: users.id(of: row), at: split.startedAt) }
        feed.list[w].splits.append(split)
        feed.list[w].splits.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// `SPLIT.DROP`: forgets the split and its assignments.
    mutating func dropSplit(_ name: String) -> Bool {
        guard let (w, s) = feed.split(named: name) else { return false }
        feed.list[w].splits.remove(at: s)
        return true
    }

    // MARK: Writes

    /// After a write naming `row` at engine time `at`: re-evaluates that user in every
    /// watched segment (FEATURES §1.5.2, step 1). O(watches + the user's data in the
    /// segments the write can change).
    ///
    /// A segment whose plan reads nothing the write touched (`PlanReads`) keeps
    /// `m(s, u, t)` for every `t`, so its evaluation at `at` would differ from `M` only if
    /// its scheduled change is at exactly `at` (every earlier one is applied, §1.5.3),
    /// and would reschedule the same time otherwise: it is evaluated only then, which
    /// gives that change the write's cause, as the model says.
    ///
    /// A watch decided by event times alone (`NextChange.timesOnlyMembershipAndNext`) is
    /// settled here, in place: no evaluator, no view of the database (building either
    /// copies references by the dozen, which at this rate is most of the cost). The
    /// others are evaluated afterwards; watches are independent, so the order between
    /// them does not matter.
    mutating func feedAfterWrite(row: UInt32, scope: WriteScope, at: Int64) {
        guard !feed.isEmpty else { return }
        // Not checked in release builds: a bit in a million-row bitmap, a miss per write.
        assert(users.isLive(row), "a write's feed effect names a deleted row")
        var others: [Int] = []
        for i in feed.list.indices {
            // Due at `at`: everything before it is applied, so only when the heap's
            // earliest is `at` can this row's be (checked first: O(1), in cache).
            let due = feed.list[i].timers.earliest == at && feed.list[i].timers.time(of: row) == at
            guard due || feed.list[i].reads.touched(by: scope) else { continue }
            // The row's heap position, which `settle` reads last: its miss overlaps the evaluation.
            feed.list[i].timers.prefetch(row)
            guard let (member, next) = feed.list[i].finder.timesOnlyMembershipAndNext(of: row, after: at, from: &events.tables, &feed.scratch) else {
                others.append(i)
                continue
            }
            let user = feed.list[i].userForSplits(row, in: users)
            feed.list[i].settle(row, member: member, next: next, cause: .write, at: at, user: user)
        }
        guard !others.isEmpty else { return }
        updatingFeed { feed, db in
            var evaluator = LazyEvaluator()
            // Read in place: a copy of the watch alive across the mutation below would
            // make its storage shared and the mutation copy a chunk.
            for i in others { db.evaluate(&feed.list[i], row, at: at, cause: .write, &evaluator, &feed.scratch) }
        }
    }

    /// After `USER.DEL` of `row` at `at`: a final `exited` entry where it was a member,
    /// then every earlier entry naming the user id removed from every stream (FEATURES
    /// §1.5.5), those of earlier users with the same id (deleted, then created again)
    /// included: their final entries are found through `ChangeFeed.formerRows`.
    mutating func feedAfterDelete(row: UInt32, at: Int64) {
        guard !feed.isEmpty else { return }
        let id = users.id(of: row)
        let former = feed.formerRows[id] ?? []
        var leftFinalEntry = false
        for i in feed.list.indices {
            let wasMember = feed.list[i].members.contains(row)
            if wasMember {
                feed.list[i].members.remove(row)
                feed.list[i].record(row, .exited, .delete, at: at)
                leftFinalEntry = true
            }
            feed.list[i].stream.removeEntries(of: row, keepingNewest: wasMember)
            for r in former { feed.list[i].stream.removeEntries(of: r, keepingNewest: false) }
            feed.list[i].timers.set(row, nil)
            for s in feed.list[i].splits.indices { feed.list[i].splits[s].remove(row) }
        }
        feed.formerRows[id] = leftFinalEntry ? [row] : nil
    }

    /// After a definition changed (SEGMENT.DEFINE/DROP, AGG.DEFINE, ATTR/EVENT.DEFINE):
    /// every watched segment whose meaning changed re-evaluates everyone at `at`, entries
    /// `cause define` in bytewise user order. Throws, changing nothing, when a watched
    /// segment was dropped or is no longer time-analyzable: the caller then undoes the
    /// definition.
    mutating func feedAfterDefinitions(at: Int64) throws(CohortError) {
        guard !feed.isEmpty else { return }
        var changed: [(Int, BoolPlan)] = []
        for (i, watch) in feed.list.enumerated() {
            guard let definition = catalog.segments[watch.name] else {
                throw .err("segment '\(watch.name)' is watched; SEGMENT.UNWATCH it first")
            }
            guard Watch.fingerprint(definition.plan) != watch.fingerprint else { continue }
            if let split = watch.splits.first { throw .err("segment '\(watch.name)' is used by split '\(split.name)'") }
            try TimeAnalysis.check(segment: watch.name, in: catalog)
            changed.append((i, definition.plan))
        }
        guard !changed.isEmpty else { return }
        advanceFeed(to: at)
        updatingFeed { feed, db in
            for (i, plan) in changed {
                feed.list[i].rebind(plan)
                db.evaluateEveryone(&feed.list[i], at: at, cause: .define)
            }
        }
    }

    /// After a bulk load (`cohort load`): every watched segment re-evaluates everyone at
    /// `at`, entries `cause load` in bytewise user order (FEATURES §1.5.5).
    mutating func feedAfterLoad(at: Int64) {
        guard !feed.isEmpty else { return }
        advanceFeed(to: at)
        updatingFeed { feed, db in
            for i in feed.list.indices { db.evaluateEveryone(&feed.list[i], at: at, cause: .load) }
        }
    }

    // MARK: Time

    /// Moves the feed to engine time `now`: applies every time-driven change with
    /// `at < now`, second by second, segments in bytewise name order and users in
    /// bytewise id order within one (FEATURES §1.5.2, step 2). Returns the entries appended.
    @discardableResult
    public mutating func advanceFeed(to now: Int64) -> Int {
        guard let due = feed.earliestDue, due < now else {
            feed.time = max(feed.time, now)
            return 0
        }
        return updatingFeed { feed, db in
            var appended = 0
            var evaluator = LazyEvaluator()
            while let t = feed.earliestDue, t < now {
                for i in feed.list.indices {
                    guard let (_, rows) = feed.list[i].timers.popEarliest(before: t + 1) else { continue }
                    for row in db.bytewise(rows) where db.evaluate(&feed.list[i], row, at: t, cause: .time, &evaluator, &feed.scratch) {
                        appended += 1
                    }
                }
            }
            feed.time = max(feed.time, now)
            return appended
        }
    }

    // MARK: Evaluation

    /// Evaluates `row` in `watch` at `t`: appends an entry when `M` changes, and
    /// reschedules its next time-driven change. Returns whether an entry was appended.
    /// `evaluator` reads this database (built only if the closed form needs one);
    /// `scratch`, any buffers.
    @discardableResult
    private func evaluate(
        _ watch: inout Watch, _ row: UInt32, at t: Int64, cause: Cause, _ evaluator: inout LazyEvaluator,
        _ scratch: inout CountTimeline.Scratch
    ) -> Bool {
        // Plans comparing event properties with string literals bind dictionary codes,
        // which writes can add; the others are used as bound.
        let instantiated = watch.plan.instantiatedIfNeeded(in: self)
        let plan = instantiated ?? watch.plan
        let finder = instantiated.map(NextChange.init) ?? watch.finder
        let member: Bool
        let next: Int64?
        if let closedForm = finder.closedForm {
            closedForm.fillTimes(of: row, in: self, into: &scratch)
            (member, next) = closedForm.membershipAndNext(after: t, horizon: NextChange.horizon, &scratch) { leaf in
                evaluator.with(self, now: t) { $0.test(leaf, row, nil) }
            }
            assert(member == evaluator.with(self, now: t) { $0.test(plan, row, nil) }, "the count timeline and the evaluator disagree")
        } else {
            (member, next) = evaluator.with(self, now: t) { e in
                let member = e.test(plan, row, nil)
                return (member, finder.after(t, row: row, member: member, &e, &scratch))
            }
        }
        return watch.settle(row, member: member, next: next, cause: cause, at: t, user: watch.userForSplits(row, in: users))
    }

    /// Evaluates every live user at `t`: the new membership by a scan, an entry per
    /// changed user in bytewise order when `cause` is given (none for a plain watch
    /// start), and every user's next change computed in parallel.
    private func evaluateEveryone(_ watch: inout Watch, at t: Int64, cause: Cause?) {
        let plan = watch.plan.instantiated(in: self)
        let members = Evaluator(db: self, now: t).rows(plan, within: users.live)
        if let cause {
            let changed = members.symmetricDifference(watch.members)
            for row in bytewise(Array(changed.toArray())) {
                watch.record(row, members.contains(row) ? .entered : .exited, cause, at: t, user: watch.userForSplits(row, in: users))
            }
        }
        watch.members = members
        watch.timers = TimerHeap()
        let finder = NextChange(plan)
        guard finder.dependsOnTime else { return }
        let db = self
        let scheduled = parallelChunks(users.live.toArray(), chunk: 4096) { rows -> [(UInt32, Int64)] in
            var evaluator = Evaluator(db: db, now: t)
            var scratch = CountTimeline.Scratch()
            var out: [(UInt32, Int64)] = []
            for row in rows {
                if let next = finder.after(t, row: row, member: members.contains(row), &evaluator, &scratch) { out.append((row, next)) }
            }
            return out
        }
        for part in scheduled { for (row, next) in part { watch.timers.set(row, next) } }
    }

    /// The entries appended since the last call, as published, segments in bytewise
    /// order (each segment's in append order); clears them.
    mutating func takeFeedNotices() -> [FeedNotice] {
        var notices: [FeedNotice] = []
        for i in feed.list.indices where !feed.list[i].unpublished.isEmpty {
            for e in feed.list[i].unpublished {
                let user = users.id(of: e.row)
                notices.append(
                    FeedNotice(
                        segment: feed.list[i].name, id: e.id, user: user, change: e.change, at: e.at, cause: e.cause, arms: feed.list[i].arms(of: user)))
            }
            feed.list[i].unpublished.removeAll()
        }
        return notices
    }

    /// `rows` ordered by their users' ids, bytewise (FEATURES' "bytewise user order").
    func bytewise(_ rows: [UInt32]) -> [UInt32] {
        if rows.count < 2 { return rows }
        return rows.map { ($0, users.id(of: $0)) }.sorted { $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) }.map(\.0)
    }
}

/// An evaluator built on first use. Building one copies the database's references (a
/// retain each); a write whose watches all decide membership in closed form needs none.
private struct LazyEvaluator {
    private var built: Evaluator?

    /// Runs `body` on the evaluator of `db` (built now if not yet), its `now` set to `now`.
    mutating func with<R>(_ db: borrowing Database, now: Int64, _ body: (inout Evaluator) -> R) -> R {
        if built == nil { built = Evaluator(db: copy db, now: now) }
        built!.now = now
        return body(&built!)
    }
}
