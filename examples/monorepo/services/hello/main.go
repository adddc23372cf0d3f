package main

import (
	"fmt"

	"example.com/monorepo/lib/greet"
)

func main() { fmt.Println(greet.Line("hello")) }
