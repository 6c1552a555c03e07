/// The `feed` section: the change feed's durable state (FEATURES §1.5.5; layout in
/// FORMAT.md). Streams keep their retained entries and counters, watches their recorded
/// membership and scheduled next changes, so a restart neither re-evaluates everyone nor
/// changes an ID.
extension SnapshotCodec {
    static func encodeFeed(_ feed: ChangeFeed) -> [UInt8] {
        var w = ByteWriter()
        w.append(feed.time)
        w.append(UInt32(feed.list.count))
        for watch in feed.list {
            let s = watch.stream
            w.append(watch.name)
            w.append(watch.since)
            w.append(UInt64(s.maxLength))
            w.append(s.maxAge ?? -1)
            w.append(s.entriesAdded)
            for id in [s.lastID, s.maxDeletedID, s.trimmedUpTo] {
                w.append(id.ms)
                w.append(id.seq)
            }
            w.append(bitmap: watch.members)
            let entries = s.retained
            w.append(UInt64(entries.count))
            for e in entries {
                w.append(e.at)
                w.append(e.seq)
                w.append(e.row)
                w.append(e.change.rawValue)
                w.append(e.cause.rawValue)
            }
            let timers = watch.timers.scheduled
            w.append(UInt64(timers.count))
            for (row, time) in timers {
                w.append(row)
                w.append(time)
            }
            w.append(UInt32(watch.splits.count))
            for split in watch.splits {
                w.append(split.name)
                w.append(split.seed)
                w.append(split.startedAt)
                w.append(UInt32(split.arms.count))
                for arm in split.arms {
                    w.append(arm.name)
                    w.append(UInt32(arm.basisPoints))
                }
                let assigned = split.members.enumerated().flatMap { arm, rows in rows.toArray().map { (arm, $0) } }
                w.append(UInt64(assigned.count))
                for (arm, row) in assigned {
                    w.append(row)
                    w.append(UInt8(arm))
                    w.append(split.assignment(of: row)!)
                }
            }
        }
        return w.bytes
    }

    /// The feed of `db` (definitions and users already restored): each watched segment
    /// must be defined, and every row must exist.
    static func readFeed(_ r: inout ByteReader, _ db: Database) throws(SectionError) -> ChangeFeed {
        func fail(_ message: String) -> SectionError { SectionError(section: "feed", message: message) }
        return try reading("feed") { () throws(ByteReader.Malformed) in
            var feed = ChangeFeed()
            feed.time = try r.read(Int64.self, "feed time")
            let count = try r.read(UInt32.self, "watch count")
            let rows = UInt32(db.users.rowCount)
            for _ in 0..<count {
                let name = try r.readString("watched segment")
                guard let definition = db.catalog.segments[name] else { throw .init(what: "watch of unknown segment '\(name)'") }
                let since = try r.read(Int64.self, "watch start")
                let maxLength = try r.readCount("MAXLEN")
                let maxAge = try r.read(Int64.self, "MAXAGE")
                let added = try r.read(UInt64.self, "entries added")
                var ids: [StreamID] = []
                for _ in 0..<3 { ids.append(StreamID(ms: try r.read(UInt64.self, "id"), seq: try r.read(UInt64.self, "id"))) }
                let members = try r.readBitmap("recorded membership")
                var entries: [FeedEntry] = []
                for _ in 0..<(try r.readCount("entry count")) {
                    let at = try r.read(Int64.self, "entry time")
                    let seq = try r.read(UInt32.self, "entry sequence")
                    let row = try r.read(UInt32.self, "entry user")
                    guard row < rows, let change = Change(rawValue: try r.read(UInt8.self, "change")),
                        let cause = Cause(rawValue: try r.read(UInt8.self, "cause"))
                    else { throw .init(what: "an entry of '\(name)' with an unknown user, change or cause") }
                    entries.append(FeedEntry(at: at, seq: seq, row: row, previousOfUser: FeedEntry.none, change: change, cause: cause, removed: false))
                }
                var watch = Watch(
                    name: name, plan: definition.plan,
                    stream: SegmentStream(
                        restoring: entries, entriesAdded: added, lastID: ids[0], maxDeletedID: ids[1], trimmedUpTo: ids[2],
                        maxLength: maxLength, maxAge: maxAge < 0 ? nil : maxAge), since: since)
                watch.members = members
                for _ in 0..<(try r.readCount("timer count")) {
                    let row = try r.read(UInt32.self, "timer user")
                    let time = try r.read(Int64.self, "timer time")
                    guard row < rows else { throw .init(what: "a timer of '\(name)' for an unknown user") }
                    watch.timers.set(row, time)
                }
                for _ in 0..<(try r.read(UInt32.self, "split count")) {
                    let splitName = try r.readString("split name")
                    let seed = try r.readString("split seed")
                    let startedAt = try r.read(Int64.self, "split start")
                    var arms: [Split.Arm] = []
                    for _ in 0..<(try r.read(UInt32.self, "arm count")) {
                        arms.append(Split.Arm(name: try r.readString("arm name"), basisPoints: Int(try r.read(UInt32.self, "arm basis points"))))
                    }
                    var split = Split(name: splitName, seed: seed, startedAt: startedAt, arms: arms)
                    for _ in 0..<(try r.readCount("assignment count")) {
                        let row = try r.read(UInt32.self, "assigned user")
                        let arm = Int(try r.read(UInt8.self, "assigned arm"))
                        let at = try r.read(Int64.self, "assignment time")
                        guard row < rows, arm < arms.count else { throw .init(what: "an assignment of split '\(splitName)' to an unknown user or arm") }
                        split.restore(row, arm: arm, at: at)
                    }
                    watch.splits.append(split)
                }
                for e in entries where !db.users.isLive(e.row) {
                    let id = db.users.id(of: e.row)
                    if !(feed.formerRows[id] ?? []).contains(e.row) { feed.formerRows[id, default: []].append(e.row) }
                }
                feed.add(watch)
            }
            return feed
        }
    }
}
