// swift-tools-version: 6.1
// Keys and tracepoints declared in one module (ServiceKeys) and used in
// another (Service). Scripts/check-snippets builds a copy of this package
// against the working tree (the JumpLabel dependency below becomes a path)
// and allows no warning; the README and the articles quote it.
import PackageDescription

let package = Package(
    name: "TwoModules",
    dependencies: [
        .package(url: "https://github.com/OWNER/JumpLabel.git", branch: "main"),
    ],
    targets: [
        .target(name: "ServiceKeys", dependencies: [
            .product(name: "JumpLabel", package: "JumpLabel"),
        ]),
        .executableTarget(name: "Service", dependencies: [
            "ServiceKeys",
            .product(name: "JumpLabel", package: "JumpLabel"),
        ]),
    ]
)
