// Package greet is shared by both Go services: editing it recompiles it and relinks both.
package greet

import "fmt"

// Line is what a service prints about itself.
func Line(service string) string {
	return fmt.Sprintf("%s: hello from the monorepo", service)
}
