import CohortCore
import Foundation

/// A fresh temporary directory, removed by `remove()`.
public struct TemporaryDirectory {
    public let path: String

    public init(_ prefix: String = "cohort-test") {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    public func write(_ name: String, _ contents: String) -> String {
        let p = file(name)
        try! contents.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// An executable of this package built next to the running test binary (`swift build
/// --build-tests` builds them all), or nil when it is not there.
public func builtExecutable(named name: String) -> String? {
    var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    return nil
}
