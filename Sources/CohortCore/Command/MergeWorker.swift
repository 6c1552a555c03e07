import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs background jobs (event-table merges) one at a time on a thread of its own at a
/// lower CPU priority than request threads (nice 10), so an O(table) merge yields the
/// cores to requests on a busy machine and uses them when they are idle.
///
/// The thread starts with the first job and ends when the queue is empty, so an idle
/// engine holds none. A job's steps under a lock that requests need run through
/// `atNormalPriority`. Concurrency: `jobs` and `threadAlive` are protected by
/// `condition`; jobs run outside it.
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

    /// Runs `body` on a normal-priority thread and waits for it: for a job's steps that
    /// hold locks requests need (priority inversion otherwise).
    static func atNormalPriority<T>(_ body: @escaping @Sendable () -> T) -> T {
        // `result` is written before `signal` and read after `wait`: the semaphore orders them.
        nonisolated(unsafe) var result: T?
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global(qos: .userInitiated).async {
            result = body()
            done.signal()
        }
        done.wait()
        return result!
    }

    /// Blocks until every job submitted so far (and any they submit) has run.
    func waitUntilIdle() {
        condition.lock()
        while threadAlive { condition.wait() }
        condition.unlock()
    }

    private func run() {
        // On Linux the nice value is per thread: this lowers this thread only.
        #if canImport(Glibc)
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
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
