/// The next time-driven change of each user of one watched segment: an indexed binary
/// min-heap of `(time, row)`, at most one entry per row (FEATURES Appendix B.1's "timer
/// heap keyed by second").
///
/// `position[row]` is the row's index in the heap, so moving or removing a row's time is
/// O(log n) with no stale entries left behind. Storage is chunked copy-on-write
/// (`ChunkedArray`, `RowPages`), so while a snapshot holds a copy an update duplicates
/// at most O(log n) chunks, never the heap.
struct TimerHeap: Sendable {
    private var times = ChunkedArray<Int64>()
    private var rows = ChunkedArray<UInt32>()
    private var position = RowPages<UInt32>(empty: TimerHeap.absent)
    private static let absent = UInt32.max

    init() {}

    var count: Int { times.count }

    /// The row's scheduled time, or nil.
    func time(of row: UInt32) -> Int64? {
        let i = position[row]
        return i == Self.absent ? nil : times[Int(i)]
    }

    /// Starts loading `row`'s heap position, which `set` reads first (a hint).
    func prefetch(_ row: UInt32) { position.prefetch(row) }

    /// The earliest scheduled time.
    var earliest: Int64? { times.isEmpty ? nil : times[0] }

    /// Schedules `row` at `time`, or unschedules it with nil.
    mutating func set(_ row: UInt32, _ time: Int64?) {
        let i = position[row]
        if i == Self.absent {
            guard let time else { return }
            times.append(time)
            rows.append(row)
            position[row] = UInt32(times.count - 1)
            siftUp(times.count - 1)
        } else if let time {
            let old = times[Int(i)]
            guard time != old else { return }
            times[Int(i)] = time
            if time < old { siftUp(Int(i)) } else { siftDown(Int(i)) }
        } else {
            remove(at: Int(i))
        }
    }

    /// Removes and returns every row scheduled at exactly the earliest time, if it is
    /// before `limit`.
    mutating func popEarliest(before limit: Int64) -> (time: Int64, rows: [UInt32])? {
        guard let t = earliest, t < limit else { return nil }
        var due: [UInt32] = []
        while let e = earliest, e == t {
            due.append(rows[0])
            remove(at: 0)
        }
        return (t, due)
    }

    private mutating func remove(at i: Int) {
        let last = times.count - 1
        position[rows[i]] = Self.absent
        if i != last {
            move(from: last, to: i)
            times.removeLast()
            rows.removeLast()
            siftDown(i)
            siftUp(i)
        } else {
            times.removeLast()
            rows.removeLast()
        }
    }

    private mutating func move(from j: Int, to i: Int) {
        times[i] = times[j]
        rows[i] = rows[j]
        position[rows[i]] = UInt32(i)
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        let (t, r) = (times[i], rows[i])
        times[i] = times[j]
        rows[i] = rows[j]
        times[j] = t
        rows[j] = r
        position[rows[i]] = UInt32(i)
        position[rows[j]] = UInt32(j)
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard times[i] < times[parent] else { return }
            swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let n = times.count
        while true {
            let (l, r) = (2 * i + 1, 2 * i + 2)
            var smallest = i
            if l < n, times[l] < times[smallest] { smallest = l }
            if r < n, times[r] < times[smallest] { smallest = r }
            guard smallest != i else { return }
            swapAt(i, smallest)
            i = smallest
        }
    }

    /// Every scheduled `(row, time)`, in heap order (for snapshots).
    var scheduled: [(row: UInt32, time: Int64)] { (0..<times.count).map { (rows[$0], times[$0]) } }

    var memoryBytes: Int { times.memoryBytes + rows.memoryBytes + position.memoryBytes }
}
