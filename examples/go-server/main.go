// A tiny web server for the static-nonroot distroless image. Built with CGO_ENABLED=0 it is a
// fully static binary: it needs no libc, so the smallest image of the family runs it.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os/user"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// os/user's pure-Go lookup reads /etc/passwd, which the distroless image provides.
		name := "unknown"
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		fmt.Fprintf(w, "hello from go on distroless, running as %s\n", name)
	})
	log.Println("listening on :8080")
	log.Fatal(http.ListenAndServe(":8080", nil))
}
