// swift-tools-version:6.0
// dcot: Diverse Co-training for semi-supervised segmentation, on CPUs.
// Layout and dependency rules: README.md "Architecture"; one folder = one target = one concern.
import PackageDescription

let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let yams = Target.Dependency.product(name: "Yams", package: "Yams")

let package = Package(
    name: "dcot",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
    ],
    targets: [
        // System libraries (Debian -dev packages; Scripts/setup installs them).
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // Open MPI through its own pkg-config name (the `mpi` alternative may point at MPICH).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // The one C target: libpng/libjpeg calls that need setjmp, SHA-256, and the thread pool.
        .target(name: "CNative",
                cSettings: [.unsafeFlags(["-O3"])],
                linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),

        // Libraries.
        .target(name: "Support", dependencies: ["CNative"]),
        .target(name: "SafeTensors"),
        .target(name: "ImageIO", dependencies: ["CTurboJPEG", "CNative", "Support"]),
        .target(name: "Shards", dependencies: ["SafeTensors", "ImageIO", "CZstd", "Support"]),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CNative"]),
        .target(name: "Autograd", dependencies: ["Tensor"]),
        .target(name: "NN", dependencies: ["Autograd", "Tensor"]),
        .target(name: "Models", dependencies: ["NN", "Autograd", "Tensor", "CNative", "Support", yams]),
        .target(name: "Checkpoint", dependencies: ["NN", "Tensor", "SafeTensors", "Support"]),
        .target(name: "Optim", dependencies: ["NN", "Autograd", "Tensor"]),
        .target(name: "Synth", dependencies: ["ImageIO", "Support"]),
        .target(name: "CoTraining", dependencies: ["Metrics", "Pipeline", "ImageIO", "Shards", "Models", "Checkpoint", "Optim", "NN",
                                                   "Autograd", "Tensor", "SafeTensors", "Support"]),
        .target(name: "Pipeline", dependencies: ["Shards", "ImageIO", "Support"]),
        .target(name: "Metrics", dependencies: ["ImageIO", "Shards", "Pipeline", "Models", "Checkpoint", "NN", "Autograd",
                                                "Tensor", "Support"]),
        .target(name: "Report", dependencies: ["Support"]),
        // Open MPI as the Collective of Autograd's replicas; only the programs link it.
        .target(name: "Cluster", dependencies: ["CMPI", "Autograd", "Support"]),

        // Programs: thin wrappers over one library entry point each.
        .executableTarget(name: "dcot-synth", dependencies: ["Synth", "Support", argumentParser]),
        .executableTarget(name: "dcot-prep", dependencies: ["Pipeline", "Shards", "Support", argumentParser]),
        .executableTarget(name: "dcot-split", dependencies: ["Pipeline", "Support", argumentParser]),
        .executableTarget(name: "dcot-eval", dependencies: ["Metrics", "Cluster", "Autograd", "Tensor", "Support", argumentParser]),
        .executableTarget(name: "dcot-train", dependencies: ["CoTraining", "Cluster", "Support", argumentParser]),
        .executableTarget(name: "dcot-pseudo", dependencies: ["Metrics", "Cluster", "Autograd", "Tensor", "Support", argumentParser]),
        .executableTarget(name: "dcot-report", dependencies: ["Report", "Support", argumentParser]),
        .executableTarget(name: "dcot-bench",
                          dependencies: ["ImageIO", "Shards", "Pipeline", "Synth", "Tensor", "Autograd", "NN", "Support", "CZstd",
                                         "COpenBLAS", "Models", "Checkpoint", "Optim", yams, argumentParser]),

        // Tests.
        .testTarget(name: "SupportTests", dependencies: ["Support"]),
        .testTarget(name: "ImageIOTests", dependencies: ["ImageIO", "Support"]),
        .target(name: "TestSupport", dependencies: ["Support"], path: "Tests/TestSupport"),
        .testTarget(name: "ShardsTests", dependencies: ["Shards", "SafeTensors", "ImageIO", "Support", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Synth", "Shards", "ImageIO", "Support", "TestSupport"]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "Models", "ImageIO", "Shards", "Pipeline", "Synth",
                                                         "SafeTensors", "Support"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "CNative"]),
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "Tensor"]),
        .testTarget(name: "ClusterTests"),
        .testTarget(name: "NNTests", dependencies: ["NN", "Autograd", "Tensor"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Checkpoint", "Optim", "NN", "Autograd", "Tensor",
                                                        "SafeTensors", "Support"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Models", "NN", "Tensor", "SafeTensors", "Support"]),
        .testTarget(name: "SynthTests", dependencies: ["Synth"]),
        .testTarget(name: "CoTrainingTests", dependencies: ["CoTraining", "Metrics", "Models", "Checkpoint", "Pipeline", "Shards",
                                                            "Synth", "Tensor", "Support"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Support"]),
    ],
    swiftLanguageModes: [.v5]
)
