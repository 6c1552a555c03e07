/// CSV bulk load (DESIGN §7) into a `Database`.
///
/// All-or-nothing: rows are applied to a copy-on-write copy of the database that
/// replaces the caller's only when the whole file is done, so a failing load leaves
/// the database exactly as it was. Every rejection names the line (the header is
/// line 1) and the reason. Events are compacted into the sorted layout at the end.
public enum BulkLoader {
    public static func loadUsers(path: String, into database: inout Database, options: LoadOptions = LoadOptions()) throws(CohortError)
        -> LoadReport
    {
        try staged(path, &database) { (file, db) throws(CohortError) in
            var load = try UsersLoad(file: file, schema: db.schema, options: options)
            return try load.run(into: &db)
        }
    }

    public static func loadEvents(path: String, into database: inout Database, options: LoadOptions = LoadOptions()) throws(CohortError)
        -> LoadReport
    {
        try staged(path, &database) { (file, db) throws(CohortError) in
            var load = try EventsLoad(file: file, schema: db.schema, options: options)
            return try load.run(into: &db)
        }
    }

    /// Runs `body` on a copy of `database` that replaces it only when `body` succeeds.
    private static func staged(
        _ path: String, _ database: inout Database, _ body: (MappedFile, inout Database) throws(CohortError) -> LoadReport
    ) throws(CohortError) -> LoadReport {
        let file = try MappedFile(path: path)
        var staged = database
        let report = try body(file, &staged)
        database = staged
        return report
    }
}
