// swift-tools-version:6.1
import Foundation
import PackageDescription

// The benchmark targets pull in ordo-one/benchmark and its malloc interposer; they are
// added to the graph only when COHORT_BENCHMARKS is set so that tests and CI stay fast.
let withBenchmarks = ProcessInfo.processInfo.environment["COHORT_BENCHMARKS"] != nil

var dependencies: [Package.Dependency] = [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
]

// Nehalem (2008 on: SSE4.2 and POPCNT, what every x86-64 server has): the event kernels count mask bits, and
// without it `nonzeroBitCount` is a dozen instructions instead of one.
#if arch(x86_64)
    let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "nehalem"])]
#else
    let kernelSettings: [SwiftSetting] = []
#endif

var targets: [Target] = [
    .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
    // Debian's libroaring-dev has no .pc file: the module map links `roaring` itself.
    .systemLibrary(name: "CRoaring", providers: [.apt(["libroaring-dev"])]),
    // glibc's <malloc.h> (allocator statistics for --maxmemory); part of libc, nothing to link.
    .systemLibrary(name: "CMalloc"),
    // Compiler intrinsics (cache prefetch); header-only.
    .systemLibrary(name: "CIntrinsics"),
    .target(
        name: "CohortCore",
        dependencies: ["CRoaring", "CLZ4", "CMalloc", "CIntrinsics"],
        exclude: ["Persistence/FORMAT.md"],
        swiftSettings: kernelSettings
    ),
    .target(
        name: "CohortServer",
        dependencies: [
            "CohortCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]
    ),
    .executableTarget(
        name: "cohort",
        dependencies: [
            "CohortCore",
            "CohortServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]
    ),
    .target(name: "CohortTestSupport", dependencies: ["CohortCore"], path: "Tests/CohortTestSupport"),
    .testTarget(name: "CohortCoreTests", dependencies: ["CohortCore", "CohortTestSupport"]),
    .testTarget(
        name: "CohortServerTests",
        dependencies: [
            "CohortServer", "CohortCore", "CohortTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOTestUtils", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]
    ),
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

// libFuzzer targets (Fuzz/, scripts/fuzz.sh): added only when COHORT_FUZZ is set, since they
// link only with `-sanitize=fuzzer` (each main hands its input function to libFuzzer's driver).
if ProcessInfo.processInfo.environment["COHORT_FUZZ"] != nil {
    targets.append(.systemLibrary(name: "CFuzzer", path: "Fuzz/CFuzzer"))
    targets.append(.target(name: "CohortFuzzSupport", dependencies: ["CohortCore", "CFuzzer"], path: "Fuzz/CohortFuzzSupport"))
    for (name, server) in [
        ("FuzzRESP", true), ("FuzzExpression", false), ("FuzzRoundTrip", false), ("FuzzCSV", false), ("FuzzSnapshot", false),
        ("FuzzJournal", false),
    ] {
        var dependencies: [Target.Dependency] = ["CohortCore", "CohortFuzzSupport"]
        if server { dependencies += ["CohortServer", .product(name: "NIOCore", package: "swift-nio")] }
        targets.append(.executableTarget(name: name, dependencies: dependencies, path: "Fuzz/\(name)"))
    }
}

let package = Package(
    name: "Cohort",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cohort", targets: ["cohort"]),
        .library(name: "CohortCore", targets: ["CohortCore"]),
        .library(name: "CohortServer", targets: ["CohortServer"]),
    ],
    dependencies: dependencies,
    targets: targets
)
