import Dispatch

/// The pinned cursors of `SEGMENT.SYNC` (FEATURES §1.3): each holds the recorded
/// membership as of one stream ID (a copy-on-write bitmap copy, O(1) to take) and the row
/// to resume from. A cursor idle for `idleSeconds` is dropped.
///
/// Concurrency: a mutex guards the table; it is held only to look up, store or sweep.
final class SyncCursors: @unchecked Sendable {
    struct Cursor {
        let members: Bitmap
        let id: StreamID
        var position: UInt32
        var lastUsed: UInt64
    }

    static let idleSeconds: UInt64 = 300
    private let lock = Lock()
    private var cursors: [String: Cursor] = [:]
    private var counter: UInt64 = 0

    /// Stores `cursor` and returns its token.
    func pin(_ cursor: Cursor) -> String {
        lock.withLock {
            sweep()
            counter += 1
            let token = String(counter)
            cursors[token] = cursor
            return token
        }
    }

    /// The cursor of `token`, or nil when unknown or expired.
    func take(_ token: String) -> Cursor? {
        lock.withLock {
            sweep()
            return cursors[token]
        }
    }

    /// Moves the cursor on, or drops it (`position` nil) after its last page.
    func update(_ token: String, position: UInt32?) {
        lock.withLock {
            if let position {
                cursors[token]?.position = position
                cursors[token]?.lastUsed = Self.clock()
            } else {
                cursors[token] = nil
            }
        }
    }

    static func clock() -> UInt64 { DispatchTime.now().uptimeNanoseconds / 1_000_000_000 }

    private func sweep() {
        let now = Self.clock()
        cursors = cursors.filter { now - $0.value.lastUsed < Self.idleSeconds }
    }
}
