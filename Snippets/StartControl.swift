// Lets `jumplabel ctl` list, switch and trace this process's keys and
// tracepoints (or run the program with JUMPLABEL_CONTROL=1).
import JumpLabelControl

do {
    let socket = try JumpLabelControl.start()
    print("jumplabel ctl can reach this process at \(socket)")
} catch {
    print("no live control: \(error)")
}
