/// A declared attribute: a typed column of the user table.
public struct AttributeDefinition: Equatable, Sendable {
    public let name: String
    public let type: AttributeType
    /// Position in `Schema.attributes`; stable for the life of the data directory.
    public let id: Int
}

/// A declared event property.
public struct PropertyDefinition: Equatable, Sendable {
    public let name: String
    public let type: PropertyType

    public init(name: String, type: PropertyType) {
        self.name = name
        self.type = type
    }
}

/// A declared event type with its properties, in declaration order.
public struct EventDefinition: Equatable, Sendable {
    public let name: String
    public let id: Int
    public internal(set) var properties: [PropertyDefinition]

    /// Index of `name` in `properties`.
    public func propertyIndex(_ name: String) -> Int? { properties.firstIndex { $0.name == name } }
}

/// The declared attributes and events (DESIGN §2).
///
/// Invariants: names are identifiers and not keywords; an attribute keeps its type
/// forever; an event only gains properties; a property name has one type across all
/// events (so the events CSV can share one column per name). Definitions are never
/// removed, so ids are stable. Lookups are O(1) by name.
public struct Schema: Equatable, Sendable {
    public private(set) var attributes: [AttributeDefinition] = []
    public private(set) var events: [EventDefinition] = []
    private var attributeIDs: [String: Int] = [:]
    private var eventIDs: [String: Int] = [:]
    /// One type per property name across all events.
    public private(set) var propertyTypes: [String: PropertyType] = [:]

    public init() {}

    public func attribute(named name: String) -> AttributeDefinition? { attributeIDs[name].map { attributes[$0] } }
    public func event(named name: String) -> EventDefinition? { eventIDs[name].map { events[$0] } }

    /// Declares an attribute. Returns false when it already existed with this type.
    @discardableResult
    public mutating func defineAttribute(_ name: String, type: AttributeType) throws(CohortError) -> Bool {
        try Schema.checkName(name, what: "attribute")
        if let existing = attribute(named: name) {
            guard existing.type == type else {
                throw .err("attribute '\(name)' is already defined as \(existing.type.rawValue), cannot redefine it as \(type.rawValue)")
            }
            return false
        }
        guard !Schema.reservedColumnNames.contains(name) else {
            throw .err("'\(name)' is reserved for a CSV column and cannot name an attribute")
        }
        attributeIDs[name] = attributes.count
        attributes.append(AttributeDefinition(name: name, type: type, id: attributes.count))
        return true
    }

    /// Declares an event type, or adds properties to an existing one. A property
    /// already declared on the event with the same type is accepted again. Checks
    /// everything (names, types, `limits` on events and properties) before changing
    /// anything. Returns false when nothing changed. Cost: O(properties listed + declared).
    @discardableResult
    public mutating func defineEvent(_ name: String, properties: [PropertyDefinition], limits: Limits = Limits()) throws(CohortError) -> Bool {
        try Schema.checkName(name, what: "event")
        let id = eventIDs[name] ?? events.count
        if id == events.count { try Limits.check(events.count + 1, limits.events, "event types", option: "--max-events") }
        // More listed than the limit is refused before any name is read: past it the list
        // either repeats a name or is too long.
        try Limits.check(properties.count, limits.propertiesPerEvent, "properties on event '\(name)'", option: "--max-properties")
        var definition = id < events.count ? events[id] : EventDefinition(name: name, id: id, properties: [])
        let declared = Set(definition.properties.map(\.name))
        var seen = Set<String>()
        var added: [PropertyDefinition] = []
        for property in properties {
            try Schema.checkName(property.name, what: "property")
            guard !Schema.reservedColumnNames.contains(property.name) else {
                throw .err("'\(property.name)' is reserved for a CSV column and cannot name a property")
            }
            guard seen.insert(property.name).inserted else { throw .err("property '\(property.name)' is listed twice") }
            if let declared = propertyTypes[property.name], declared != property.type {
                throw .err(
                    "property '\(property.name)' is already declared as \(declared.rawValue) (on another event), cannot declare it as \(property.type.rawValue)"
                )
            }
            if !declared.contains(property.name) { added.append(property) }
        }
        try Limits.check(
            definition.properties.count + added.count, limits.propertiesPerEvent, "properties on event '\(name)'", option: "--max-properties")
        guard id == events.count || !added.isEmpty else { return false }
        definition.properties += added
        for property in added where propertyTypes[property.name] == nil { propertyTypes[property.name] = property.type }
        if id == events.count {
            eventIDs[name] = id
            events.append(definition)
        } else {
            events[id] = definition
        }
        return true
    }

    /// Words of the expression language; they cannot name anything.
    public static let keywords: Set<String> = [
        "and", "or", "not", "in", "has", "is", "null", "true", "false", "now", "last", "from", "to", "where",
    ]
    /// Fixed columns of the CSV formats (DESIGN §7).
    static let reservedColumnNames: Set<String> = ["user_id", "event", "time"]

    public static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || isLetter(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLetter($0) || ($0 >= 48 && $0 <= 57) }
    }

    static func checkName(_ name: String, what: String) throws(CohortError) {
        guard isIdentifier(name) else {
            throw .err("invalid \(what) name '\(name)': use letters, digits and _, not starting with a digit")
        }
        guard !keywords.contains(name) else { throw .err("'\(name)' is a keyword and cannot be used as a \(what) name") }
    }

    private static func isLetter(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
}

extension PropertyDefinition {
    /// Parses `name:type` as written after `EVENT.DEFINE name`.
    public static func parse(_ text: String) throws(CohortError) -> PropertyDefinition {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else {
            throw .err("expected a property as name:type (for example distance_km:float), got '\(text)'")
        }
        guard let type = PropertyType(rawValue: String(parts[1])) else {
            throw .err("unknown property type '\(parts[1])' (use int, float, bool or string)")
        }
        return PropertyDefinition(name: String(parts[0]), type: type)
    }
}
