import CohortCore
import NIOCore

/// Writes a `Reply` in RESP2 or RESP3 (DESIGN §4).
///
/// RESP2: a map is a flat array of key, value; a double a bulk string; a bool an
/// integer; null `$-1`. RESP3: `%` maps, `,` doubles, `#t`/`#f`, `_` null. Constant
/// replies are written from prebuilt bytes.
enum ReplyEncoder {
    static let pong: [UInt8] = Array("+PONG\r\n".utf8)
    static let ok: [UInt8] = Array("+OK\r\n".utf8)
    static let crlf: [UInt8] = [13, 10]

    static func write(_ reply: Reply, protocol version: Int, into out: inout ByteBuffer) {
        switch reply {
        case .status(let s):
            if s == "OK" { out.writeBytes(ok) } else if s == "PONG" { out.writeBytes(pong) } else { line("+", s, &out) }
        case .error(let e): line("-", e.description, &out)
        case .integer(let v): line(":", String(v), &out)
        case .bulk(let s): bulk(s, &out)
        case .null: out.writeStaticString(version >= 3 ? "_\r\n" : "$-1\r\n")
        case .nullArray: out.writeStaticString(version >= 3 ? "_\r\n" : "*-1\r\n")
        case .double(let v):
            if version >= 3 { line(",", Reply.format(v), &out) } else { bulk(Reply.format(v), &out) }
        case .bool(let v):
            if version >= 3 { out.writeStaticString(v ? "#t\r\n" : "#f\r\n") } else { out.writeStaticString(v ? ":1\r\n" : ":0\r\n") }
        case .array(let items):
            line("*", String(items.count), &out)
            for item in items { write(item, protocol: version, into: &out) }
        case .push(let items):
            line(version >= 3 ? ">" : "*", String(items.count), &out)
            for item in items { write(item, protocol: version, into: &out) }
        case .frames(let frames):
            for frame in frames { write(frame, protocol: version, into: &out) }
        case .pairs(let entries) where version < 3:
            line("*", String(entries.count), &out)
            for entry in entries { write(.array([entry.key, entry.value]), protocol: version, into: &out) }
        case .map(let entries), .pairs(let entries):
            line(version >= 3 ? "%" : "*", String(version >= 3 ? entries.count : entries.count * 2), &out)
            for entry in entries {
                write(entry.key, protocol: version, into: &out)
                write(entry.value, protocol: version, into: &out)
            }
        }
    }

    /// `<prefix><text>\r\n`, with CR and LF in the text replaced by spaces (a simple
    /// string or error cannot contain them).
    private static func line(_ prefix: StaticString, _ text: String, _ out: inout ByteBuffer) {
        out.writeStaticString(prefix)
        if text.utf8.contains(where: { $0 == 13 || $0 == 10 }) {
            out.writeString(String(text.map { $0 == "\r" || $0 == "\n" ? " " : $0 }))
        } else {
            out.writeString(text)
        }
        out.writeBytes(crlf)
    }

    private static func bulk(_ text: String, _ out: inout ByteBuffer) {
        out.writeStaticString("$")
        out.writeString(String(text.utf8.count))
        out.writeBytes(crlf)
        out.writeString(text)
        out.writeBytes(crlf)
    }
}

extension Reply {
    /// About how many bytes the reply encodes to (within a few per element, either
    /// protocol), for the output budget of a batch; costs a walk of the reply.
    var estimatedBytes: Int {
        switch self {
        case .status(let s), .bulk(let s): s.utf8.count + 16
        case .error(let e): e.message.utf8.count + 24
        case .integer, .null, .nullArray, .double, .bool: 24
        case .array(let items), .push(let items), .frames(let items): items.reduce(16) { $0 + $1.estimatedBytes }
        case .map(let entries), .pairs(let entries): entries.reduce(16) { $0 + $1.key.estimatedBytes + $1.value.estimatedBytes + 8 }
        }
    }
}
