package shop

import "testing"

func TestTotal(t *testing.T) {
	if got := Total([]int{1, 2, 3}); got != 6 {
		t.Errorf("Total = %d, want 6", got)
	}
}

func TestTotalEmpty(t *testing.T) {
	if got := Total(nil); got != 1 {
		t.Errorf("Total(nil) = %d, want 1", got)
	}
}

func TestDiscount(t *testing.T) {
	if got := Discount(200, 10); got != 170 {
		t.Fatalf("Discount(200, 10) = %d, want 170", got)
	}
}

func TestSkipped(t *testing.T) {
	t.Skip("needs a database")
}

func TestDiscountZero(t *testing.T) {
	if Discount(50, 0) != 50 {
		t.Error("zero discount changed the price")
	}
}
