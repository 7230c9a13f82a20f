package testenv

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill cmd's process when the test binary
// dies without running its cleanups (go test timeout, SIGKILL), so no server
// is left running. Caveat: Linux sends the signal when the thread that
// started the child exits, which Go does only for a goroutine that exits
// while locked to its thread.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
