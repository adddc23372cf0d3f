// whoami for the custom-rule example: reports the user the container runs as, as the C
// library-free Go runtime sees it through /etc/passwd, and proves the home directory exists
// and belongs to that user by writing a file in it.
package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"syscall"
)

func main() {
	u, err := user.Current()
	if err != nil {
		fmt.Println("FAIL user:", err)
		os.Exit(1)
	}
	cwd, _ := os.Getwd()
	fmt.Printf("user %s uid=%s gid=%s home=%s cwd=%s\n", u.Username, u.Uid, u.Gid, u.HomeDir, cwd)

	st, err := os.Stat(u.HomeDir)
	if err != nil {
		fmt.Println("FAIL home:", err)
		os.Exit(1)
	}
	sys := st.Sys().(*syscall.Stat_t)
	fmt.Printf("home mode=%o owner=%d:%d\n", st.Mode().Perm(), sys.Uid, sys.Gid)

	probe := filepath.Join(u.HomeDir, "probe")
	if err := os.WriteFile(probe, []byte("ok\n"), 0o600); err != nil {
		fmt.Println("FAIL write:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", probe)
}
