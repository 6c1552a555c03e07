#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Thin wrappers over the POSIX file calls persistence needs, each turning a failure
/// into a `CohortError` that names the path and the system's reason.
enum FileIO {
    static func reason() -> String { String(cString: strerror(errno)) }

    /// Opens `path` with `flags` (and mode 0644 when creating).
    static func open(_ path: String, _ flags: Int32) throws(CohortError) -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .err("cannot open \(path): \(reason())") }
        return fd
    }

    /// Writes all of `bytes`, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(CohortError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw .err("cannot write \(path): \(reason())")
            }
            done += n
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(CohortError) {
        let failure: CohortError? = bytes.withUnsafeBytes { raw in
            do throws(CohortError) { try writeAll(fd, raw, path: path) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    static func sync(_ fd: Int32, path: String) throws(CohortError) {
        guard fsync(fd) == 0 else { throw .err("cannot fsync \(path): \(reason())") }
    }

    /// Makes a rename or a file creation in `directory` durable.
    static func syncDirectory(_ directory: String) throws(CohortError) {
        let fd = try open(directory, O_RDONLY | O_DIRECTORY)
        defer { Glibc.close(fd) }
        try sync(fd, path: directory)
    }

    static func rename(_ from: String, _ to: String) throws(CohortError) {
        guard Glibc.rename(from, to) == 0 else { throw .err("cannot rename \(from) to \(to): \(reason())") }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func remove(_ path: String) { _ = unlink(path) }

    static func makeDirectory(_ path: String) throws(CohortError) {
        if mkdir(path, 0o755) != 0, errno != EEXIST { throw .err("cannot create directory \(path): \(reason())") }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { throw .err("\(path) is not a directory") }
    }

    /// Names of the entries of `directory` (without . and ..).
    static func list(_ directory: String) throws(CohortError) -> [String] {
        guard let dir = opendir(directory) else { throw .err("cannot read directory \(directory): \(reason())") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }
}
