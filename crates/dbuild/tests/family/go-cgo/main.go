// A user lookup through glibc's NSS (cgo): runs on base, cannot even start on static.
package main

/*
#include <unistd.h>
*/
import "C"

import (
	"fmt"
	"os"
	"os/user"
)

func main() {
	u, err := user.Current()
	if err != nil {
		fmt.Printf("FAIL user: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("cgo user %s uid=%d home=%s\n", u.Username, int(C.getuid()), u.HomeDir)
}
