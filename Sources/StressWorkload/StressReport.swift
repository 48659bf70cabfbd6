/// What one stress run found. The worker fills the workload part, the
/// supervisor adds hot-plug figures and the verdict.
package struct StressReport: Codable, Sendable {
  package var patcher = "textpoke"
  package var durationSeconds = 0.0
  package var threads = 0
  package var keys = 0
  package var sitesInWorkload = 0
  package var toggles = 0
  package var togglesPerSecond = 0.0
  package var sitesPatched: UInt64 = 0
  package var batches: UInt64 = 0
  package var syncs: UInt64 = 0
  package var trapsEmulated: UInt64 = 0
  package var staleTraps: UInt64 = 0
  package var handlerRetries: UInt64 = 0
  package var retireWaits: UInt64 = 0
  package var writer = ""
  package var executions = 0
  package var checkedExecutions = 0
  package var violations = 0
  package var sitesVerified = 0
  package var sitesWrong = 0
  package var churnThreadsStarted = 0
  package var churnThreadsExited = 0
  package var maxStallMicroseconds = 0.0
  package var dlopenChurn = false
  package var dlopenLoads = 0
  package var dlopenUnmapped = 0
  package var dlopenToggles = 0
  package var dlopenCalls = 0
  package var dlopenChecked = 0
  package var dlopenViolations = 0
  package var dlopenSitesVerified = 0
  package var dlopenSitesWrong = 0
  package var hotplugRequested = false
  package var hotplugCycles = 0
  package var hotplugErrors = 0
  package var cpusOnlineAtEnd = true
  package var crashSignal: String?
  /// The workload or a thread of it hung (stuck thread, or the supervisor's
  /// deadline passed).
  package var hung = false
  package var errors: [String] = []
  package var verdict = "FAIL"

  package init() {}
}
