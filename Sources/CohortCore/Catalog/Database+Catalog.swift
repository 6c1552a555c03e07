/// Definition commands: each changes the catalog and, for the schema, the storage
/// layout that mirrors it, then rebinds the catalog's definitions. All or nothing: the
/// change is made on a copy (O(columns), copy-on-write) and kept only if every
/// definition still binds.
extension Database {
    /// `ATTR.DEFINE`: returns false when it was already defined with that type.
    @discardableResult
    public mutating func defineAttribute(_ name: String, type: AttributeType, limits: Limits = Limits()) throws(CohortError) -> Bool {
        guard catalog.aggregates[name] == nil else { throw .err("'\(name)' is an aggregate; an attribute needs another name") }
        if schema.attribute(named: name) == nil {
            try Limits.check(schema.attributes.count + 1, limits.attributes, "attributes", option: "--max-attributes")
        }
        var next = self
        guard try next.catalog.schema.defineAttribute(name, type: type) else { return false }
        next.attributes.addColumn(for: type)
        try next.rebindCatalog()
        self = next
        return true
    }

    /// `EVENT.DEFINE`: declares an event or adds properties to it.
    @discardableResult
    public mutating func defineEvent(_ name: String, properties: [PropertyDefinition], limits: Limits = Limits()) throws(CohortError) -> Bool {
        var next = self
        let before = next.schema.event(named: name)
        guard try next.catalog.schema.defineEvent(name, properties: properties, limits: limits) else { return false }
        let after = next.schema.event(named: name)!
        if before == nil { next.events.tables.append(EventTable()) }
        for property in after.properties.dropFirst(before?.properties.count ?? 0) {
            next.events.tables[after.id].addProperty(property.type)
        }
        try next.rebindCatalog()
        self = next
        return true
    }

    /// `SEGMENT.DEFINE`: replaces any definition of `name`. A segment's last refreshed
    /// membership is kept, so the next refresh reports the change.
    public mutating func defineSegment(_ name: String, source: String, limits: Limits = Limits()) throws(CohortError) {
        try changeCatalog { (catalog, layout) throws(CohortError) in try catalog.defineSegment(name, source: source, layout: layout, limits: limits) }
    }

    /// `AGG.DEFINE`: replaces any definition of `name`.
    public mutating func defineAggregate(_ name: String, source: String, limits: Limits = Limits()) throws(CohortError) {
        try changeCatalog { (catalog, layout) throws(CohortError) in try catalog.defineAggregate(name, source: source, layout: layout, limits: limits) }
    }

    /// `SEGMENT.DROP`: false when unknown; an error while another definition uses it.
    public mutating func dropSegment(_ name: String) throws(CohortError) -> Bool {
        guard try catalog.dropSegment(name) else { return false }
        memberships[name] = nil
        return true
    }

    /// Installs segment and aggregate definitions (name, source) read from a snapshot.
    mutating func restoreDefinitions(segments: [(String, String)], aggregates: [(String, String)]) throws(CohortError) {
        try changeCatalog { (catalog, layout) throws(CohortError) in try catalog.restore(segments: segments, aggregates: aggregates, layout: layout) }
    }

    /// Stores the membership computed by `SEGMENT.REFRESH`.
    mutating func setMembership(_ name: String, _ members: Bitmap) { memberships[name] = members }

    private mutating func rebindCatalog() throws(CohortError) {
        try changeCatalog { (catalog, layout) throws(CohortError) in try catalog.schemaChanged(layout: layout) }
    }

    /// Runs `change` on a copy of the catalog with this database as the layout (a copy
    /// because the catalog is part of the database being read), then keeps it.
    private mutating func changeCatalog(_ change: (inout Catalog, Database) throws(CohortError) -> Void) throws(CohortError) {
        var catalog = self.catalog
        try change(&catalog, self)
        self.catalog = catalog
    }
}
