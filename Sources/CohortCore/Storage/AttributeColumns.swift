/// A column of `Int64` per user row: the storage of `int` and `time` attributes.
///
/// Invariant: rows at or past `values.count` are null, and so is `NullSentinel.int`.
/// Chunked (`ChunkedArray`), so a write while a scan or a snapshot holds a copy
/// duplicates one 4,096-row chunk, not the column. O(1) read and write; writing past
/// the end grows the column with nulls.
public struct Int64Column: Sendable {
    private(set) var values = ChunkedArray<Int64>()

    init(values: ContiguousArray<Int64> = []) { self.values = ChunkedArray(values) }

    @inline(__always)
    public func value(_ row: UInt32) -> Int64? {
        let r = Int(row)
        guard r < values.count else { return nil }
        let v = values[r]
        return v == NullSentinel.int ? nil : v
    }

    public mutating func set(_ row: UInt32, _ value: Int64?) {
        let r = Int(row)
        if r >= values.count {
            guard value != nil else { return }
            values.grow(to: r + 1, with: NullSentinel.int)
        }
        values[r] = value ?? NullSentinel.int
    }
}

/// A column of `Double` per user row: the storage of `float` attributes.
///
/// Invariant: rows at or past `values.count` are null, and so is NaN (non-finite
/// floats are rejected on input). Chunked like `Int64Column`.
public struct DoubleColumn: Sendable {
    private(set) var values = ChunkedArray<Double>()

    init(values: ContiguousArray<Double> = []) { self.values = ChunkedArray(values) }

    @inline(__always)
    public func value(_ row: UInt32) -> Double? {
        let r = Int(row)
        guard r < values.count else { return nil }
        let v = values[r]
        return v.isNaN ? nil : v
    }

    public mutating func set(_ row: UInt32, _ value: Double?) {
        let r = Int(row)
        if r >= values.count {
            guard value != nil else { return }
            values.grow(to: r + 1, with: NullSentinel.float)
        }
        values[r] = value ?? NullSentinel.float
    }
}

/// A `bool` attribute as two bitmap indexes.
///
/// Invariant: `trues` and `falses` are disjoint; a row in neither is null.
public struct BoolColumn: Sendable {
    public private(set) var trues = Bitmap()
    public private(set) var falses = Bitmap()

    init(trues: Bitmap = Bitmap(), falses: Bitmap = Bitmap()) {
        self.trues = trues
        self.falses = falses
    }

    public func value(_ row: UInt32) -> Bool? {
        trues.contains(row) ? true : (falses.contains(row) ? false : nil)
    }

    public mutating func set(_ row: UInt32, _ value: Bool?) {
        switch value {
        case true?:
            falses.remove(row)
            trues.insert(row)
        case false?:
            trues.remove(row)
            falses.insert(row)
        case nil:
            trues.remove(row)
            falses.remove(row)
        }
    }
}

/// A `string` attribute: dictionary codes per row plus one bitmap per distinct value.
///
/// Invariants: `codes[row]` is the row's code or `NullSentinel.stringCode` (rows past
/// the end are null); `postings[code]` holds exactly the rows whose code is `code`.
/// Equality and `in` tests are bitmap lookups; the codes serve per-row reads. The codes
/// are chunked like `Int64Column`'s values; a posting is a Roaring bitmap, copied on a
/// write after a copy (O(rows / 8) bytes at most).
public struct StringColumn: Sendable {
    public private(set) var dictionary = StringDictionary()
    private(set) var codes = ChunkedArray<UInt32>()
    public private(set) var postings: [Bitmap] = []

    init(dictionary: StringDictionary = StringDictionary(), codes: ContiguousArray<UInt32> = [], postings: [Bitmap] = []) {
        self.dictionary = dictionary
        self.codes = ChunkedArray(codes)
        self.postings = postings
    }

    public func code(_ row: UInt32) -> UInt32? {
        let r = Int(row)
        guard r < codes.count, codes[r] != NullSentinel.stringCode else { return nil }
        return codes[r]
    }

    public func value(_ row: UInt32) -> String? { code(row).map { dictionary.string(for: $0) } }

    /// The rows whose value is `string` (empty when no row has it).
    public func rows(equalTo string: String) -> Bitmap {
        dictionary.code(of: string).map { postings[Int($0)] } ?? Bitmap()
    }

    public mutating func set(_ row: UInt32, _ value: String?) {
        guard var value else { return setNull(row) }
        value.withUTF8 { set(row, bytes: UnsafeRawBufferPointer($0)) }
    }

    mutating func setNull(_ row: UInt32) {
        let r = Int(row)
        if let old = code(row) { postings[Int(old)].remove(row) }
        if r < codes.count { codes[r] = NullSentinel.stringCode }
    }

    /// Sets the value given as validated UTF-8 bytes.
    mutating func set(_ row: UInt32, bytes: UnsafeRawBufferPointer) {
        let r = Int(row)
        if let old = code(row) { postings[Int(old)].remove(row) }
        let code = dictionary.encode(bytes: bytes)
        if Int(code) == postings.count { postings.append(Bitmap()) }
        postings[Int(code)].insert(row)
        if r >= codes.count { codes.grow(to: r + 1, with: NullSentinel.stringCode) }
        codes[r] = code
    }
}

/// A `tags` attribute: one bitmap per distinct tag.
///
/// Invariant: `postings[code]` holds the rows carrying that tag; a row in no posting
/// has no tags, which is null. Reading one row's tags visits every posting (O(distinct
/// tags)); `has` tests are a single bitmap.
public struct TagsColumn: Sendable {
    public private(set) var dictionary = StringDictionary()
    public private(set) var postings: [Bitmap] = []

    init(dictionary: StringDictionary = StringDictionary(), postings: [Bitmap] = []) {
        self.dictionary = dictionary
        self.postings = postings
    }

    public func value(_ row: UInt32) -> [String]? {
        var tags: [String] = []
        for (code, posting) in postings.enumerated() where posting.contains(row) {
            tags.append(dictionary.string(for: UInt32(code)))
        }
        return tags.isEmpty ? nil : tags.sorted()
    }

    public func rows(having tag: String) -> Bitmap {
        dictionary.code(of: tag).map { postings[Int($0)] } ?? Bitmap()
    }

    /// Rows that have at least one tag.
    public func rowsWithAnyTag() -> Bitmap {
        var all = Bitmap()
        for posting in postings { all.formUnion(posting) }
        return all
    }

    /// Sets the tags given as one `|`-separated field of validated UTF-8 (the CSV form).
    mutating func set(_ row: UInt32, separatedBytes field: UnsafeRawBufferPointer) {
        for code in postings.indices where postings[code].contains(row) { postings[code].remove(row) }
        var start = 0
        for end in 0...field.count where end == field.count || field[end] == UInt8(ascii: "|") {
            if end > start {
                let code = Int(dictionary.encode(bytes: UnsafeRawBufferPointer(rebasing: field[start..<end])))
                if code == postings.count { postings.append(Bitmap()) }
                postings[code].insert(row)
            }
            start = end + 1
        }
    }

    public mutating func set(_ row: UInt32, _ tags: [String]?) {
        for code in postings.indices where postings[code].contains(row) { postings[code].remove(row) }
        for tag in tags ?? [] {
            let code = Int(dictionary.encode(tag))
            if code == postings.count { postings.append(Bitmap()) }
            postings[code].insert(row)
        }
    }
}
