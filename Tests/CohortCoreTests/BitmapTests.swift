import CohortCore
import CohortTestSupport
import Testing

struct BitmapTests {
    @Test func insertRemoveContainsAndCount() {
        var b = Bitmap()
        #expect(b.isEmpty)
        b.insert(3)
        b.insert(70_000)
        b.insert(3)
        #expect(b.count == 2)
        #expect(b.contains(3) && b.contains(70_000) && !b.contains(4))
        b.remove(3)
        #expect(Array(b) == [70_000])
        #expect(b.min == 70_000 && b.max == 70_000)
    }

    @Test func rangesAndRangeCount() {
        var b = Bitmap(range: 10..<20)
        #expect(b.count == 10)
        b.remove(range: 12..<15)
        #expect(Array(b) == [10, 11, 15, 16, 17, 18, 19])
        #expect(b.count(in: 0..<16) == 3)
        b.insert(range: 100..<103)
        #expect(b.count == 10)
    }

    @Test func setAlgebraMatchesSwiftSets() {
        var rng = SplitMix(seed: 7)
        for _ in 0..<50 {
            let a = Set((0..<200).map { _ in UInt32(rng.next() % 5000) })
            let c = Set((0..<200).map { _ in UInt32(rng.next() % 5000) })
            let ba = Bitmap(a)
            let bc = Bitmap(c)
            #expect(Set(ba.intersection(bc)) == a.intersection(c))
            #expect(Set(ba.union(bc)) == a.union(c))
            #expect(Set(ba.subtracting(bc)) == a.subtracting(c))
            #expect(Set(ba.symmetricDifference(bc)) == a.symmetricDifference(c))
            #expect(ba.intersectionCount(bc) == a.intersection(c).count)
            #expect(ba.intersects(bc) == !a.isDisjoint(with: c))
            var inPlace = ba
            inPlace.formIntersection(bc)
            #expect(Set(inPlace) == a.intersection(c))
            inPlace = ba
            inPlace.formUnion(bc)
            #expect(Set(inPlace) == a.union(c))
            inPlace = ba
            inPlace.subtract(bc)
            #expect(Set(inPlace) == a.subtracting(c))
            inPlace = ba
            inPlace.formSymmetricDifference(bc)
            #expect(Set(inPlace) == a.symmetricDifference(c))
            let universe = Bitmap(range: 0..<5000)
            #expect(Set(ba.complement(in: universe)) == Set(0..<5000).subtracting(a))
        }
    }

    @Test func copiesAreIndependent() {
        var a = Bitmap([1, 2, 3])
        let b = a
        a.insert(4)
        #expect(Array(a) == [1, 2, 3, 4])
        #expect(Array(b) == [1, 2, 3])
        var c = b
        c.remove(1)
        #expect(Array(b) == [1, 2, 3])
        #expect(Array(c) == [2, 3])
    }

    @Test func iterationIsOrderedAndPagingResumes() {
        let values: [UInt32] = [900_000, 5, 65_536, 65_535, 17, 2_000_000]
        let b = Bitmap(values)
        #expect(Array(b) == values.sorted())
        #expect(b.toArray() == ContiguousArray(values.sorted()))
        #expect(Array(b.values(from: 18, limit: 2)) == [65_535, 65_536])
        #expect(Array(b.values(from: 65_537, limit: 10)) == [900_000, 2_000_000])
        #expect(b.values(from: 2_000_001, limit: 10).isEmpty)
    }

    @Test func serializationRoundTripsAndRejectsGarbage() {
        var b = Bitmap(range: 0..<100_000)
        b.insert(4_000_000_000)
        b.optimize()
        var bytes: [UInt8] = [0xAA]
        b.serialize(into: &bytes)
        #expect(bytes.count == 1 + b.serializedSize)
        let decoded = bytes.withUnsafeBytes { Bitmap.deserialize(UnsafeRawBufferPointer(rebasing: $0[1...])) }
        #expect(decoded?.0 == b)
        #expect(decoded?.1 == b.serializedSize)
        let truncated = bytes.withUnsafeBytes { Bitmap.deserialize(UnsafeRawBufferPointer(rebasing: $0[1..<8])) }
        #expect(truncated == nil)
    }
}
