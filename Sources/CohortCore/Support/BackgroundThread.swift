import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs bulk background work (snapshots) on a thread of its own at a lower CPU priority,
/// so that requests keep their cores while it runs (RocksDB lowers its compaction threads
/// the same way).
///
/// On Linux, niceness is per thread: the thread is created for the job, raises its own
/// nice value by `niceIncrement` (an unprivileged thread may raise it, never lower it
/// back, which is why the job does not run on a pooled thread), runs the job and ends.
/// The caller blocks until then. Parallel parts a job starts with `parallelMap` and
/// `workers > 1` run on Dispatch's threads at their normal priority; with one worker
/// (the default for snapshots on a 2-core machine) everything runs niced.
/// Cost: one thread creation per job (tens of microseconds).
enum BackgroundThread {
    /// Nice value added for snapshot writing (CFS weight 1024 → 335: about a quarter of
    /// a core while request threads want both).
    static let snapshotNice: Int32 = 5

    static func run<T: Sendable, E: Error>(niceIncrement: Int32, _ body: @escaping @Sendable () throws(E) -> T) throws(E) -> T {
        nonisolated(unsafe) var result: Result<T, E>?
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            #if os(Linux)
                // `who` 0 is the calling thread on Linux (niceness is per task there).
                let which = __priority_which_t(PRIO_PROCESS.rawValue)
                errno = 0
                let current = getpriority(which, 0)
                if errno == 0 { _ = setpriority(which, 0, current + niceIncrement) }
            #endif
            do throws(E) { result = .success(try body()) } catch { result = .failure(error) }
            done.signal()
        }
        thread.name = "cohort.background"
        thread.start()
        done.wait()
        // The semaphore orders the thread's write of `result` before this read.
        return try result!.get()
    }
}
