/// The per-section readers `database(from:)` uses: each reads one section kind and
/// checks it against what the meta section promised.
extension SnapshotCodec {
    static func readSchema(_ r: inout ByteReader) throws(ByteReader.Malformed) -> (
        attributes: [(String, AttributeType)], events: [(String, [PropertyDefinition])]
    ) {
        var attributes: [(String, AttributeType)] = []
        for _ in 0..<(try r.read(UInt32.self, "attribute count")) {
            let name = try r.readString("attribute name")
            let typeName = try r.readString("attribute type")
            guard let type = AttributeType(rawValue: typeName) else { throw .init(what: "unknown attribute type '\(typeName)'") }
            attributes.append((name, type))
        }
        var events: [(String, [PropertyDefinition])] = []
        for _ in 0..<(try r.read(UInt32.self, "event count")) {
            let name = try r.readString("event name")
            var properties: [PropertyDefinition] = []
            for _ in 0..<(try r.read(UInt32.self, "property count")) {
                let property = try r.readString("property name")
                let typeName = try r.readString("property type")
                guard let type = PropertyType(rawValue: typeName) else { throw .init(what: "unknown property type '\(typeName)'") }
                properties.append(PropertyDefinition(name: property, type: type))
            }
            events.append((name, properties))
        }
        return (attributes, events)
    }

    static func readDefinitions(_ r: inout ByteReader) throws(ByteReader.Malformed) -> (
        segments: [(String, String)], aggregates: [(String, String, ValueType)]
    ) {
        var segments: [(String, String)] = []
        for _ in 0..<(try r.read(UInt32.self, "segment count")) {
            segments.append((try r.readString("segment name"), try r.readString("segment source")))
        }
        var aggregates: [(String, String, ValueType)] = []
        for _ in 0..<(try r.read(UInt32.self, "aggregate count")) {
            let name = try r.readString("aggregate name")
            let source = try r.readString("aggregate source")
            let typeName = try r.readString("aggregate type")
            guard let type = ValueType(rawValue: typeName) else { throw .init(what: "unknown aggregate type '\(typeName)'") }
            aggregates.append((name, source, type))
        }
        return (segments, aggregates)
    }

    static func readUsers(_ source: SnapshotSections, rowCount: Int, liveUsers: Int) throws(SectionError) -> UserTable {
        let live = try decode("users", source) { (r) throws(SectionError) in
            try reading("users") { () throws(ByteReader.Malformed) in try r.readBitmap("live users") }
        }
        let bytes = try source.array("users/ids", of: UInt8.self)
        let starts = try source.array("users/id starts", of: UInt64.self)
        let slots = try source.array("users/id slots", of: UInt32.self)
        guard let ids = ByteStringTable(bytes: bytes, starts: starts, slots: slots) else {
            throw SectionError(section: "users/id slots", message: "the id offsets or hash slots are inconsistent")
        }
        guard ids.count == rowCount else { throw SectionError(section: "users", message: "\(ids.count) user rows, meta says \(rowCount)") }
        guard live.count == liveUsers else { throw SectionError(section: "users", message: "\(live.count) live users, meta says \(liveUsers)") }
        if let max = live.max, Int(max) >= rowCount {
            throw SectionError(section: "users", message: "live user row \(max) is past the \(rowCount) rows")
        }
        return UserTable(restoring: ids, live: live)
    }

    static func readAttribute(
        _ source: SnapshotSections, _ attribute: AttributeDefinition, rowCount: Int
    ) throws(SectionError) -> AttributeColumn {
        let name = "attribute \(attribute.name)"
        func checkRows(_ count: Int, _ section: String) throws(SectionError) {
            guard count <= rowCount else { throw SectionError(section: section, message: "column of \(count) rows, there are \(rowCount)") }
        }
        func checkRows(_ bitmap: Bitmap) throws(ByteReader.Malformed) {
            if let max = bitmap.max, Int(max) >= rowCount { throw .init(what: "index holds row \(max), there are \(rowCount)") }
        }
        switch attribute.type {
        case .int, .time:
            try decode(name, source) { _ throws(SectionError) in }
            let values = try source.array(name + "/values", of: Int64.self)
            try checkRows(values.count, name + "/values")
            return .int64(Int64Column(values: values))
        case .float:
            try decode(name, source) { _ throws(SectionError) in }
            let values = try source.array(name + "/values", of: Double.self)
            try checkRows(values.count, name + "/values")
            return .double(DoubleColumn(values: values))
        case .bool:
            return try decode(name, source) { (r) throws(SectionError) in
                try reading(name) { () throws(ByteReader.Malformed) in
                    let trues = try r.readBitmap("true rows")
                    let falses = try r.readBitmap("false rows")
                    try checkRows(trues)
                    try checkRows(falses)
                    return .bool(BoolColumn(trues: trues, falses: falses))
                }
            }
        case .string:
            let (dictionary, postings) = try decode(name, source) { (r) throws(SectionError) in
                try reading(name) { () throws(ByteReader.Malformed) in
                    let dictionary = StringDictionary(table: try r.readTable("dictionary"))
                    let postings = try readPostings(&r, count: dictionary.count)
                    for p in postings { try checkRows(p) }
                    return (dictionary, postings)
                }
            }
            let codes = try source.array(name + "/codes", of: UInt32.self)
            try checkRows(codes.count, name + "/codes")
            for code in codes where code != NullSentinel.stringCode && Int(code) >= dictionary.count {
                throw SectionError(section: name + "/codes", message: "code \(code) outside the dictionary of \(dictionary.count) strings")
            }
            return .string(StringColumn(dictionary: dictionary, codes: codes, postings: postings))
        case .tags:
            return try decode(name, source) { (r) throws(SectionError) in
                try reading(name) { () throws(ByteReader.Malformed) in
                    let dictionary = StringDictionary(table: try r.readTable("dictionary"))
                    let postings = try readPostings(&r, count: dictionary.count)
                    for p in postings { try checkRows(p) }
                    return .tags(TagsColumn(dictionary: dictionary, postings: postings))
                }
            }
        }
    }

    static func readPostings(_ r: inout ByteReader, count: Int) throws(ByteReader.Malformed) -> [Bitmap] {
        let n = try r.readCount("posting count")
        guard n == count else { throw .init(what: "\(n) value bitmaps for \(count) dictionary entries") }
        var postings: [Bitmap] = []
        postings.reserveCapacity(n)
        for _ in 0..<n { postings.append(try r.readBitmap("value bitmap")) }
        return postings
    }

    static func readEvent(
        _ source: SnapshotSections, _ event: EventDefinition, shape: PropertyColumns, rowCount: Int
    ) throws(SectionError) -> EventTable {
        let name = "event \(event.name)"
        let offsets = try source.array(name + "/offsets", of: UInt32.self)
        let times = try source.array(name + "/times", of: UInt32.self)
        guard offsets.first == 0, offsets.count - 1 <= rowCount, Int(offsets.last!) == times.count else {
            throw SectionError(section: name + "/offsets", message: "offsets do not cover the \(times.count) events of at most \(rowCount) users")
        }
        for i in 1..<offsets.count where offsets[i] < offsets[i - 1] {
            throw SectionError(section: name + "/offsets", message: "offsets decrease at row \(i - 1)")
        }
        var ints: [ContiguousArray<Int64>] = []
        var floats: [ContiguousArray<Double>] = []
        var bools: [ContiguousArray<UInt8>] = []
        var strings: [ContiguousArray<UInt32>] = []
        func column<T: BitwiseCopyable>(_ property: PropertyDefinition, _: T.Type) throws(SectionError) -> ContiguousArray<T> {
            let section = name + "/" + property.name
            let values = try source.array(section, of: T.self)
            guard values.count == times.count else {
                throw SectionError(section: section, message: "\(values.count) values for \(times.count) events")
            }
            return values
        }
        // Slots are assigned in declaration order, so appending in that order rebuilds them.
        for (k, property) in event.properties.enumerated() {
            switch shape.slots[k] {
            case .int: ints.append(try column(property, Int64.self))
            case .float: floats.append(try column(property, Double.self))
            case .bool: bools.append(try column(property, UInt8.self))
            case .string: strings.append(try column(property, UInt32.self))
            }
        }
        let dictionaries = try decode(name, source) { (r) throws(SectionError) in
            try reading(name) { () throws(ByteReader.Malformed) in
                let n = Int(try r.read(UInt32.self, "dictionary count"))
                guard n == strings.count else { throw .init(what: "\(n) dictionaries for \(strings.count) string properties") }
                var dictionaries: [StringDictionary] = []
                for (k, column) in strings.enumerated() {
                    let dictionary = StringDictionary(table: try r.readTable("dictionary"))
                    for code in column where code != NullSentinel.stringCode && Int(code) >= dictionary.count {
                        throw .init(what: "string property \(k): code \(code) outside its dictionary of \(dictionary.count)")
                    }
                    dictionaries.append(dictionary)
                }
                return dictionaries
            }
        }
        let properties = PropertyColumns(shape: shape, ints: ints, floats: floats, bools: bools, strings: strings, count: times.count)
        return EventTable(offsets: offsets, times: times, properties: properties, dictionaries: dictionaries)
    }

    static func readMemberships(_ r: inout ByteReader, rowCount: Int) throws(ByteReader.Malformed) -> [String: Bitmap] {
        var memberships: [String: Bitmap] = [:]
        for _ in 0..<(try r.read(UInt32.self, "membership count")) {
            let name = try r.readString("segment name")
            let members = try r.readBitmap("members of \(name)")
            if let max = members.max, Int(max) >= rowCount { throw .init(what: "members of '\(name)' hold row \(max), there are \(rowCount)") }
            memberships[name] = members
        }
        return memberships
    }
}
