// The four pitfalls of FROM-scratch images, as a static Go program (CGO_ENABLED=0) sees them.
// It prints one line per check and exits non-zero if any check fails.
package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"os/user"
	"time"
)

func main() {
	failed := false
	fail := func(format string, args ...interface{}) {
		fmt.Printf("FAIL "+format+"\n", args...)
		failed = true
	}

	if u, err := user.Current(); err != nil {
		fail("user: %v", err)
	} else {
		fmt.Printf("user %s uid=%s home=%s\n", u.Username, u.Uid, u.HomeDir)
	}

	if f, err := os.CreateTemp("", "pitfall-*"); err != nil {
		fail("tmp: %v", err)
	} else {
		fmt.Printf("tmp %s\n", f.Name())
		f.Close()
		os.Remove(f.Name())
	}

	if pool, err := x509.SystemCertPool(); err != nil {
		fail("certs: %v", err)
	} else if n := len(pool.Subjects()); n == 0 {
		fail("certs: the system pool is empty")
	} else {
		fmt.Printf("certs %d\n", n)
	}

	if loc, err := time.LoadLocation("Europe/Amsterdam"); err != nil {
		fail("tz: %v", err)
	} else {
		fmt.Printf("tz %s\n", loc)
	}

	if failed {
		os.Exit(1)
	}
}
