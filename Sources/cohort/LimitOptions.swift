import ArgumentParser
import CohortCore

/// The `--max-*` options of `Limits` (DESIGN §4), shared by the commands that take them.
struct LimitOptions: ParsableArguments {
    @Option(help: "Longest expression, in bytes.") var maxExpressionLength = Limits().expressionLength
    @Option(help: "Deepest expression nesting (parentheses, not, minus, where, operator chains).") var maxNesting = Limits().nesting
    @Option(help: "Most plan nodes one expression may expand to, named definitions counted at each use.") var maxPlanNodes = Limits().planNodes
    @Option(help: "Most properties per event type.") var maxProperties = Limits().propertiesPerEvent
    @Option(help: "Most event types.") var maxEvents = Limits().events
    @Option(help: "Most attributes.") var maxAttributes = Limits().attributes
    @Option(help: "Most named segments.") var maxSegments = Limits().segments
    @Option(help: "Most named aggregates.") var maxAggregates = Limits().aggregates
    @Option(help: "Most segments watched at once (SEGMENT.WATCH).") var maxWatches = Limits().watches
    @Option(help: "Most targets of one SEGMENT.OVERLAP.") var maxOverlapTargets = Limits().overlapTargets
    @Option(help: "Largest COUNT of one MEMBERS page.") var maxPageSize = Limits().pageSize
    @Option(help: "Most values one AGG.GET asks for.") var maxValuesPerRequest = Limits().valuesPerRequest

    func validate() throws {
        for (name, value) in [
            ("--max-expression-length", maxExpressionLength), ("--max-nesting", maxNesting), ("--max-plan-nodes", maxPlanNodes),
            ("--max-properties", maxProperties), ("--max-events", maxEvents), ("--max-attributes", maxAttributes),
            ("--max-segments", maxSegments), ("--max-aggregates", maxAggregates), ("--max-watches", maxWatches),
            ("--max-overlap-targets", maxOverlapTargets), ("--max-page-size", maxPageSize), ("--max-values-per-request", maxValuesPerRequest),
        ] where value <= 0 {
            throw ValidationError("\(name) must be a positive number")
        }
        // Past a few thousand levels the recursion could outgrow a thread's stack.
        guard maxNesting <= 1_024 else { throw ValidationError("--max-nesting is at most 1024") }
    }

    var limits: Limits {
        var l = Limits()
        l.expressionLength = maxExpressionLength
        l.nesting = maxNesting
        l.planNodes = maxPlanNodes
        l.propertiesPerEvent = maxProperties
        l.events = maxEvents
        l.attributes = maxAttributes
        l.segments = maxSegments
        l.aggregates = maxAggregates
        l.watches = maxWatches
        l.overlapTargets = maxOverlapTargets
        l.pageSize = maxPageSize
        l.valuesPerRequest = maxValuesPerRequest
        return l
    }
}
