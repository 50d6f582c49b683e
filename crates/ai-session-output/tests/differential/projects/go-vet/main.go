package main

import (
	"fmt"
	"sync"
)

type counter struct {
	mu sync.Mutex
	n  int
}

func show(c counter) int { return c.n }

func main() {
	name := "corpus"
	fmt.Printf("%d items\n", name)
	var c counter
	fmt.Println(show(c))
	fmt.Println("done", 1 == 1)
}
