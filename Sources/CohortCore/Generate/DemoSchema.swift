/// The definitions `cohort gen` writes as `schema.cohort`: the carsharing + SaaS
/// population of DESIGN §8, with the premium-access rule and lifecycle segments.
///
/// A script of protocol commands, one per line; expressions are double-quoted words
/// so the same file works piped into `cohort run` or `redis-cli`.
public enum DemoSchema {
    public static let text = """
        # Cohort demo definitions: a carsharing + SaaS population (written by `cohort gen`).
        # One protocol command per line; pipe into `cohort run` or `redis-cli`, or pass to `cohort load --schema`.

        ATTR.DEFINE plan string
        ATTR.DEFINE country string
        ATTR.DEFINE language string
        ATTR.DEFINE verified bool
        ATTR.DEFINE signup_at time
        ATTR.DEFINE subscription_ends_at time
        ATTR.DEFINE operators int
        ATTR.DEFINE score float
        ATTR.DEFINE tags tags

        EVENT.DEFINE app_open
        EVENT.DEFINE registration_started
        EVENT.DEFINE registration_completed
        EVENT.DEFINE ride distance_km:float duration_min:int cost:float car:string
        EVENT.DEFINE purchase amount:float
        EVENT.DEFINE subscription_renewed
        EVENT.DEFINE email_open
        EVENT.DEFINE push_open
        EVENT.DEFINE nps score:int

        # Computed traits.
        AGG.DEFINE rides_90d "count(ride, last 90d)"
        AGG.DEFINE ride_spend_90d "sum(ride.cost, last 90d)"

        # Premium access (a better car): verified, regular and paying riders who are not blocked.
        SEGMENT.DEFINE premium_eligible "verified and rides_90d >= 8 and ride_spend_90d > 150 and not tags has \\"blocked\\""

        # Lifecycle segments.
        SEGMENT.DEFINE new_users "signup_at >= now - 14d"
        SEGMENT.DEFINE dormant_riders "count(ride, last 90d) >= 8 and not count(ride, last 14d) >= 1"
        SEGMENT.DEFINE expiring_subscription "subscription_ends_at >= now and subscription_ends_at < now + 7d"
        SEGMENT.DEFINE promoters "last(nps.score) >= 9"
        SEGMENT.DEFINE big_spenders "sum(purchase.amount, last 90d) > 250"

        """
}
