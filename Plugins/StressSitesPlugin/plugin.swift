import PackagePlugin

/// Generates the stress workload's branch sites (StressSites.swift) at
/// build time, with the `generate-stress-sites` tool, so that the 990
/// generated lines are not in the source tree.
@main
struct StressSitesPlugin: BuildToolPlugin {
  func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
    let generator = try context.tool(named: "generate-stress-sites")
    let output = context.pluginWorkDirectoryURL.appending(path: "StressSites.swift")
    // No input files: the command runs again when the tool changes (SwiftPM
    // makes the tool's binary an input) or the output is missing.
    return [
      .buildCommand(
        displayName: "Generating the stress workload's sites",
        executable: generator.url,
        arguments: [output.path],
        inputFiles: [],
        outputFiles: [output])
    ]
  }
}
