package shop

import (
	"fmt"
	"testing"
)

func TestBulkTotals(t *testing.T) {
	for i := 0; i < 200; i++ {
		i := i
		t.Run(fmt.Sprintf("case_%03d", i), func(t *testing.T) {
			if Total([]int{i}) != i {
				t.Errorf("Total([%d]) != %d", i, i)
			}
		})
	}
}
