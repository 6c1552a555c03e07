import CohortTestSupport
import Foundation
import Testing

/// The change feed through real client libraries: Tests/Clients/feed_clients.py drives a
/// server with redis-py (pubsub in RESP2 and RESP3, xread plain and blocked) and redis-cli
/// (`--csv SUBSCRIBE`, `XREAD`). The Python environment is made by scripts/clients.sh,
/// redis-cli comes from redis-tools; scripts/test.sh sets up both.
struct ClientLibraryTests {
    /// The package root, found from this file's path (Tests/CohortServerTests/...).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func redisCLI() -> String? {
        ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func redisPyAndRedisCLIReadTheFeed() throws {
        let python = Self.packageRoot.appendingPathComponent(".build/clients/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python), let cli = Self.redisCLI() else {
            Issue.record("redis-py's environment or redis-cli is missing: run scripts/test.sh (it runs scripts/clients.sh)")
            return
        }
        let server = try TestServer()
        let script = Self.packageRoot.appendingPathComponent("Tests/Clients/feed_clients.py").path
        // Bounded: the script's own waits total well under a minute.
        let result = try runChild(python, [script, "\(server.port)", cli])
        let text = result.out + result.err
        #expect(result.finished, "feed_clients.py did not finish within 60 s:\n\(text)")
        #expect(result.status == 0, "feed_clients.py failed:\n\(text)")
        #expect(text.contains("feed clients: ok"), "\(text)")
    }
}
