import Foundation

/// Runs background jobs (event-table merges) one at a time on a thread of its own.
///
/// Not at a lower CPU priority: measured on a saturated 2-core machine, a nice-10 merge
/// hardly ran, the delta grew to millions of events and scans slowed 20x; merges must
/// keep up with the writes. The thread starts with the first job and ends when the
/// queue is empty, so an idle engine holds none. Concurrency: `jobs` and `threadAlive`
/// are protected by `condition`; jobs run outside it.
final class MergeWorker: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var threadAlive = false

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        defer { condition.unlock() }
        jobs.append(job)
        guard !threadAlive else { return }
        threadAlive = true
        let thread = Thread { [self] in run() }
        thread.name = "cohort.merge"
        thread.start()
    }

    /// Blocks until every job submitted so far (and any they submit) has run.
    func waitUntilIdle() {
        condition.lock()
        while threadAlive { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            guard !jobs.isEmpty else {
                threadAlive = false
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
