/// What one stress run found. The worker fills the workload part, the
/// supervisor adds hot-plug figures and the verdict.
struct StressReport: Codable, Sendable {
  var patcher = "textpoke"
  var durationSeconds = 0.0
  var threads = 0
  var keys = 0
  var sitesInWorkload = 0
  var toggles = 0
  var togglesPerSecond = 0.0
  var sitesPatched: UInt64 = 0
  var batches: UInt64 = 0
  var syncs: UInt64 = 0
  var trapsEmulated: UInt64 = 0
  var staleTraps: UInt64 = 0
  var handlerRetries: UInt64 = 0
  var retireWaits: UInt64 = 0
  var writer = ""
  var executions = 0
  var checkedExecutions = 0
  var violations = 0
  var sitesVerified = 0
  var sitesWrong = 0
  var churnThreadsStarted = 0
  var churnThreadsExited = 0
  var maxStallMicroseconds = 0.0
  var dlopenChurn = false
  var dlopenLoads = 0
  var dlopenUnmapped = 0
  var dlopenToggles = 0
  var dlopenCalls = 0
  var dlopenChecked = 0
  var dlopenViolations = 0
  var dlopenSitesVerified = 0
  var dlopenSitesWrong = 0
  var hotplugRequested = false
  var hotplugCycles = 0
  var hotplugErrors = 0
  var cpusOnlineAtEnd = true
  var crashSignal: String?
  var errors: [String] = []
  var verdict = "FAIL"
}
