package main

import (
	"fmt"
	"time"

	"example.com/monorepo/lib/greet"
)

func main() {
	fmt.Println(greet.Line("clock"))
	fmt.Println("the time zone database says UTC is", time.UTC)
}
