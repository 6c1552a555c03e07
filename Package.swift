// swift-tools-version:6.1
import Foundation
import PackageDescription

// The benchmark targets pull in ordo-one/benchmark and its malloc interposer; they are
// added to the graph only when COHORT_BENCHMARKS is set so that tests and CI stay fast.
let withBenchmarks = ProcessInfo.processInfo.environment["COHORT_BENCHMARKS"] != nil

var dependencies: [Package.Dependency] = [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
]

var targets: [Target] = [
    .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
    // Debian's libroaring-dev has no .pc file: the module map links `roaring` itself.
    .systemLibrary(name: "CRoaring", providers: [.apt(["libroaring-dev"])]),
    .target(
        name: "CohortCore",
        dependencies: ["CRoaring", "CLZ4"],
        exclude: ["Persistence/FORMAT.md"]
    ),
    .executableTarget(
        name: "cohort",
        dependencies: [
            "CohortCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]
    ),
    .target(name: "CohortTestSupport", dependencies: ["CohortCore"], path: "Tests/CohortTestSupport"),
    .testTarget(name: "CohortCoreTests", dependencies: ["CohortCore", "CohortTestSupport"]),
]

if withBenchmarks {
    dependencies.append(.package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    targets.append(
        .executableTarget(
            name: "CohortBenchmarks",
            dependencies: [
                "CohortCore",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/CohortBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    )
}

let package = Package(
    name: "Cohort",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cohort", targets: ["cohort"]),
        .library(name: "CohortCore", targets: ["CohortCore"]),
    ],
    dependencies: dependencies,
    targets: targets
)
