package main

import (
	"fmt"
	"os"
)

func main() {
	var count int = "three"
	fmt.Println(count + missing)
}
