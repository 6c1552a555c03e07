import CohortCore
import Testing

struct SchemaTests {
    @Test func redefiningAnAttributeWithTheSameTypeIsAcceptedAndAnotherTypeIsNot() throws {
        var schema = Schema()
        #expect(try schema.defineAttribute("plan", type: .string))
        #expect(try !schema.defineAttribute("plan", type: .string))
        #expect(throws: CohortError.self) { try schema.defineAttribute("plan", type: .int) }
        #expect(schema.attribute(named: "plan")?.type == .string)
    }

    @Test func eventsGainPropertiesAndPropertyTypesAreGlobal() throws {
        var schema = Schema()
        try schema.defineEvent("ride", properties: [.init(name: "cost", type: .float)])
        try schema.defineEvent("ride", properties: [.init(name: "car", type: .string), .init(name: "cost", type: .float)])
        #expect(schema.event(named: "ride")?.properties.map(\.name) == ["cost", "car"])
        // `cost` is float on ride, so another event cannot declare it int (one CSV column per name).
        let error = #expect(throws: CohortError.self) {
            try schema.defineEvent("purchase", properties: [.init(name: "cost", type: .int)])
        }
        #expect(error?.message.contains("already declared as float") == true)
        #expect(schema.event(named: "purchase") == nil)
        try schema.defineEvent("purchase", properties: [.init(name: "cost", type: .float)])
        #expect(schema.propertyTypes == ["cost": .float, "car": .string])
    }

    @Test(arguments: ["1abc", "has", "not", "a-b", "", "user_id", "time"])
    func invalidNamesAreRejected(name: String) {
        var schema = Schema()
        #expect(throws: CohortError.self) { try schema.defineAttribute(name, type: .int) }
    }

    @Test func parsesPropertySpecs() throws {
        #expect(try PropertyDefinition.parse("distance_km:float") == .init(name: "distance_km", type: .float))
        #expect(throws: CohortError.self) { try PropertyDefinition.parse("distance_km") }
        #expect(throws: CohortError.self) { try PropertyDefinition.parse("x:double") }
    }

    @Test(arguments: [
        (AttributeType.int, "42", Value.int(42)), (.int, "-7", .int(-7)), (.float, "2.5", .float(2.5)),
        (.bool, "true", .bool(true)), (.bool, "false", .bool(false)), (.string, "PL", .string("PL")),
        (.time, "2026-06-30", .time(1_782_777_600)), (.tags, "b|a|b", .tags(["a", "b"])), (.int, "", .null),
    ])
    func parsesEachTypeStrictly(type: AttributeType, text: String, expected: Value) throws {
        #expect(try type.parse(text) == expected)
    }

    @Test(arguments: [
        (AttributeType.int, "4.5"), (.int, "x"), (.int, "-9223372036854775808"), (.float, "nan"), (.float, "inf"),
        (.bool, "1"), (.bool, "TRUE"), (.time, "yesterday"),
    ])
    func rejectsWrongTypes(type: AttributeType, text: String) {
        #expect(throws: CohortError.self) { try type.parse(text) }
    }
}
