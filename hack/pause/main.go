// The node's pod sandbox ("pause") process: it holds a pod's namespaces, reaps orphaned children and exits
// on SIGINT/SIGTERM. Built static into a FROM-scratch image by `make node-images`, since no registry is
// reachable to pull registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		// Reap every exited child; as PID 1 of a shared PID namespace they are re-parented to us.
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
