/// What one definition or one request may cost (DESIGN §4, "No single request or
/// connection can take the server down"): bounds checked before the work they bound,
/// each refused with an `-ERR` that names the limit and the option that raises it.
///
/// Invariant: every definition in a catalog was accepted under the limits of its
/// command; the nesting bound also bounds the recursion of the parser, binder,
/// instantiation and evaluator (each recurses once per level), so no input can
/// overflow a thread's stack. Replay (journal recovery) keeps the nesting and length
/// bounds but lifts the counts: a write acknowledged once is never refused on restart.
/// The protocol's own limits (line, bulk, array, clients) are `ServerLimits`.
public struct Limits: Equatable, Sendable {
    /// Longest expression text, in bytes of UTF-8 (`--max-expression-length`).
    public var expressionLength = 1 << 20
    /// Deepest nesting of an expression (parentheses, `not`, unary minus, `where`,
    /// arithmetic chains), counting the definitions it names (`--max-nesting`).
    public var nesting = 256
    /// Most nodes a bound plan may expand to, counting every use of a named definition
    /// in full: what one evaluation walks (`--max-plan-nodes`).
    public var planNodes = 1 << 20
    /// Most properties one event type may declare (`--max-properties`).
    public var propertiesPerEvent = 1_024
    /// Most event types (`--max-events`).
    public var events = 1_024
    /// Most attributes (`--max-attributes`).
    public var attributes = 1_024
    /// Most named segments (`--max-segments`).
    public var segments = 10_000
    /// Most named aggregates (`--max-aggregates`).
    public var aggregates = 10_000
    /// Most segments watched at once (`--max-watches`).
    public var watches = 64
    /// Most targets of one `SEGMENT.OVERLAP` (its reply has the square of this many cells).
    public var overlapTargets = 64
    /// Largest `COUNT` of one `SEGMENT.MEMBERS`, `FUNNEL.MEMBERS` or `SPLIT.MEMBERS` page.
    public var pageSize = 100_000
    /// Most values one `AGG.GET` asks for.
    public var valuesPerRequest = 1_024

    public init() {}

    /// The limits journal replay runs under: these, with every count lifted.
    public var forReplay: Limits {
        var replay = self
        (replay.propertiesPerEvent, replay.events, replay.attributes) = (.max, .max, .max)
        (replay.segments, replay.aggregates, replay.watches) = (.max, .max, .max)
        return replay
    }

    /// Throws `-ERR too many <what> (the limit is N; raise it with --option)` when `count` passes `limit`.
    static func check(_ count: Int, _ limit: Int, _ what: String, option: String) throws(CohortError) {
        guard count <= limit else { throw .err("too many \(what): \(count) (the limit is \(limit); raise it with \(option))") }
    }
}
