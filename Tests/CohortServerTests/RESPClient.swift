import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A RESP value as a test reads it off the wire.
enum RESPValue: Equatable {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk(String)
    case null
    case array([RESPValue])
    case map([RESPValue])  // keys and values alternating
    case double(String)
    case bool(Bool)
    /// A RESP3 `>` push frame.
    case push([RESPValue])
}

/// A blocking loopback client for tests: sends raw bytes, reads RESP replies.
/// Reads time out after 10 s so a broken server fails the test instead of hanging it.
final class RESPClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw ClientError(message: "connect to \(port) failed: \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    struct ClientError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    func send(_ bytes: [UInt8]) { _ = trySend(bytes) }

    func send(_ text: String) { send(Array(text.utf8)) }

    /// Sends all of `bytes`; false when the socket refused (closed, or the send timed out).
    func trySend(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + done, raw.count - done, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                done += n
            }
            return true
        }
    }

    /// Makes a send that cannot proceed (the peer stopped reading) give up after `seconds`.
    func setSendTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends a command as a RESP array of bulk strings.
    func command(_ words: String...) -> RESPValue? {
        send(Self.encode(words))
        return read()
    }

    static func encode(_ words: [String]) -> [UInt8] {
        var out = "*\(words.count)\r\n"
        for w in words { out += "$\(w.utf8.count)\r\n\(w)\r\n" }
        return Array(out.utf8)
    }

    /// The next `count` bytes exactly as received (for byte-for-byte checks).
    func raw(_ count: Int) -> String? {
        while buffer.count < count { guard fill() else { return nil } }
        let text = String(decoding: buffer[0..<count], as: UTF8.self)
        buffer.removeFirst(count)
        return text
    }

    /// Makes the kernel's receive buffer small (before data arrives), to play a slow reader.
    func shrinkReceiveBuffer() {
        var size: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// True when the server has closed the connection (after any buffered replies).
    func isClosed() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        guard n > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    private func line() -> String? {
        while true {
            if let i = buffer.firstIndex(of: 10), i > 0, buffer[i - 1] == 13 {
                let text = String(decoding: buffer[0..<(i - 1)], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return text
            }
            guard fill() else { return nil }
        }
    }

    /// The next reply, or nil when the connection closed or timed out first.
    func read() -> RESPValue? {
        guard let header = line(), let kind = header.first else { return nil }
        let rest = String(header.dropFirst())
        switch kind {
        case "+": return .simple(rest)
        case "-": return .error(rest)
        case ":": return Int(rest).map(RESPValue.integer)
        case ",": return .double(rest)
        case "#": return .bool(rest == "t")
        case "_": return .null
        case "$":
            guard let n = Int(rest) else { return nil }
            if n < 0 { return .null }
            while buffer.count < n + 2 { guard fill() else { return nil } }
            let text = String(decoding: buffer[0..<n], as: UTF8.self)
            buffer.removeFirst(n + 2)
            return .bulk(text)
        case "*", "%", ">":
            guard let n = Int(rest) else { return nil }
            if n < 0 { return .null }
            var items: [RESPValue] = []
            for _ in 0..<(kind == "%" ? 2 * n : n) {
                guard let item = read() else { return nil }
                items.append(item)
            }
            return kind == "%" ? .map(items) : kind == ">" ? .push(items) : .array(items)
        default: return nil
        }
    }
}
